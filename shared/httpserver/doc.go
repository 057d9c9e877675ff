// Package httpserver is the server side of HTTP that every tracecart service shares: a router with
// the middleware a production service needs, strict JSON decoding, and RFC 9457 problem details
// for every error answer. Keeping it here means a service's own code is only its routes and small
// handlers that decode, call the domain and encode.
//
// [NewRouter] returns a gorilla/mux router whose routes all run through, outermost first:
//
//  1. panic recovery: a panicking handler answers 500 application/problem+json and logs the panic
//     with its stack; the process keeps serving;
//  2. request ID: a sane incoming X-Request-ID is kept, otherwise one is made up; it is sent back
//     in the response, available to handlers through [RequestID], and recorded on the span, the
//     access log line and every problem document, so one ID finds a request everywhere;
//  3. tracing: otelmux starts a server span named "METHOD /route/{template}";
//  4. access log and metrics: one log line per request (method, route, status, bytes, duration,
//     request ID; never headers or bodies) and the http.server.request.duration histogram per
//     route, with exemplars that link its buckets to traces;
//  5. a request body limit (1 MiB unless configured);
//  6. the input check: a path or query string that is not valid UTF-8, holds NUL or does not
//     parse answers 400, so handlers may use mux.Vars and r.URL.Query as they are ([DecodeJSON]
//     checks the body the same way; see input.go for why).
//
// Unknown paths and methods answer 404 and 405 as problem documents too, and a path with "." or
// ".." segments or doubled slashes a 301 to its canonical form, with a problem body, through the
// same middleware. [RouterOptions].TraceIDHeader, if set, names a header that carries the trace
// ID on every one of these answers.
//
// Handlers report failure with [WriteError], which is the one place where errors become status
// codes: [RequestError] (from [DecodeJSON]) keeps its own 4xx status, the router's
// [RouterOptions].MapError maps a service's domain errors, this package's sentinels
// ([ErrNotFound], [ErrConflict], ...) cover the common cases, a database's refusal of the
// request's data ([SQLStateError], SQLSTATE class 22 or 23) is a 422 or 409, and anything else
// is a 500 whose text is never shown to the client but logged on the request's access log line.
//
// Health checks and /metrics are best mounted in front of this router, so that Consul's checks
// and Prometheus's scrapes, which arrive every few seconds, are neither traced nor logged; hand
// every other path to the router as it came (shared/lifecycle matches those few paths exactly),
// not through an http.ServeMux, whose own bare redirect of unclean paths would pre-empt the
// router's.
package httpserver
