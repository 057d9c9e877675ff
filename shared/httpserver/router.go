package httpserver

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gorilla/mux"
	"go.opentelemetry.io/contrib/instrumentation/github.com/gorilla/mux/otelmux"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/semconv/v1.43.0/httpconv"
	"go.opentelemetry.io/otel/trace"
)

// DefaultMaxBodyBytes is the request body limit when RouterOptions.MaxBodyBytes is zero. tracecart's
// requests are small JSON documents; a larger body is a mistake or an attack.
const DefaultMaxBodyBytes int64 = 1 << 20

// scopeName names this package as the instrumentation scope of the metrics it records.
const scopeName = "github.com/tracecart/tracecart/shared/httpserver"

// RouterOptions configures NewRouter. ServiceName and Logger are required.
//
// The OpenTelemetry providers are taken explicitly, so that tests can pass in-memory ones; a nil
// provider falls back to the OpenTelemetry global, which telemetry.Setup installs.
type RouterOptions struct {
	// ServiceName names the server in the spans, as otelmux expects.
	ServiceName string
	// Logger receives the access log and panic reports.
	Logger *slog.Logger

	// TracerProvider starts the server spans.
	TracerProvider trace.TracerProvider
	// MeterProvider records http.server.request.duration.
	MeterProvider metric.MeterProvider
	// Propagator extracts the caller's trace context from the request headers.
	Propagator propagation.TextMapPropagator

	// MaxBodyBytes limits the size of request bodies; zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MapError maps the service's own errors to HTTP status codes for WriteError; see ErrorMapper.
	MapError ErrorMapper
	// TraceIDHeader, if set, names a response header that tells the client the ID of its
	// request's trace, on every answer the router gives (the gateway's X-Trace-Id). Set here
	// rather than by a middleware of the service's own, which would miss the answers the router
	// gives before the service's middleware runs: unknown paths, redirects, refused input.
	TraceIDHeader string
}

// NewRouter returns a router whose routes run through panic recovery, request IDs, tracing, the
// access log and metrics, and the body limit, in that order (see the package documentation).
// Add the service's routes to it as to any gorilla/mux router.
func NewRouter(opts RouterOptions) (*mux.Router, error) {
	if opts.ServiceName == "" {
		return nil, errors.New("new router: ServiceName is required")
	}
	if opts.Logger == nil {
		return nil, errors.New("new router: Logger is required")
	}
	if opts.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("new router: MaxBodyBytes is %d, want 0 (for the default) or more", opts.MaxBodyBytes)
	}
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MeterProvider == nil {
		opts.MeterProvider = otel.GetMeterProvider()
	}
	// otelmux v0.58 records spans only, so the request duration metric is recorded by the access
	// log middleware, with the instrument and bucket boundaries the semantic conventions define.
	duration, err := httpconv.NewServerRequestDuration(opts.MeterProvider.Meter(scopeName))
	if err != nil {
		return nil, fmt.Errorf("new router: create request duration histogram: %w", err)
	}

	m := &middleware{
		logger:       opts.Logger,
		mapError:     opts.MapError,
		maxBodyBytes: opts.MaxBodyBytes,
		duration:     duration,
		traceHeader:  opts.TraceIDHeader,
	}
	tracing := otelmux.Middleware(opts.ServiceName,
		otelmux.WithTracerProvider(opts.TracerProvider), // nil keeps the global
		otelmux.WithPropagators(opts.Propagator),        // nil keeps the global
		otelmux.WithSpanNameFormatter(spanName),
	)

	router := mux.NewRouter()
	router.Use(m.recoverPanics, m.requestID, tracing, m.traceID, m.observe, m.limitBody, m.checkInput)
	// gorilla/mux runs the middleware above only for requests that match a route, so the answers
	// to unknown paths and methods get the same chain by hand (less the body limit and the input
	// check: they read neither the body nor the query).
	router.NotFoundHandler = chain(http.HandlerFunc(notFound),
		m.recoverPanics, m.requestID, tracing, m.traceID, m.observe)
	router.MethodNotAllowedHandler = chain(methodNotAllowed(router),
		m.recoverPanics, m.requestID, tracing, m.traceID, m.observe)
	// mux would answer a path with "." or ".." segments with a bare 301 before any middleware
	// runs; the first route does it instead, with the whole chain (see redirectToCleanPath).
	router.SkipClean(true)
	router.MatcherFunc(isUncleanPath).HandlerFunc(redirectToCleanPath)
	return router, nil
}

// chain wraps h in middleware, the first one outermost.
func chain(h http.Handler, middleware ...mux.MiddlewareFunc) http.Handler {
	for i := len(middleware) - 1; i >= 0; i-- {
		h = middleware[i](h)
	}
	return h
}

func notFound(w http.ResponseWriter, r *http.Request) {
	WriteProblem(w, r, Problem{
		Status: http.StatusNotFound,
		Detail: fmt.Sprintf("no resource at %s", r.URL.Path),
	})
}

// methodNotAllowed answers a request for a path that exists with a method it does not support,
// listing the methods it does support in the Allow header, as RFC 9110 requires of a 405.
func methodNotAllowed(router *mux.Router) http.Handler {
	candidates := []string{
		http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions,
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var allowed []string
		for _, method := range candidates {
			probe := r.WithContext(r.Context()) // a shallow copy whose Method we may change
			probe.Method = method
			var match mux.RouteMatch
			if router.Match(probe, &match) && match.MatchErr == nil {
				allowed = append(allowed, method)
			}
		}
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		WriteProblem(w, r, Problem{
			Status: http.StatusMethodNotAllowed,
			Detail: fmt.Sprintf("%s does not support %s", r.URL.Path, r.Method),
		})
	})
}

// spanName names server spans "METHOD /route/{template}" as the HTTP semantic conventions ask,
// or just "METHOD" when no route matched, so that span names never contain raw paths with IDs.
func spanName(_ string, r *http.Request) string {
	method := methodName(r.Method)
	if method == string(httpconv.RequestMethodOther) {
		method = "HTTP" // the conventions' span name for a method they do not know
	}
	if route := routeTemplate(r); route != "" {
		return method + " " + route
	}
	return method
}

// routeTemplate returns the path template of the route that matched r, such as
// "/orders/{id}", or "" when none did.
func routeTemplate(r *http.Request) string {
	route := mux.CurrentRoute(r)
	if route == nil {
		return ""
	}
	template, err := route.GetPathTemplate()
	if err != nil {
		return "" // a route that matches on something other than its path
	}
	return template
}

// methodName returns method if the HTTP semantic conventions list it, and "_OTHER" if not, so
// that a client inventing methods cannot inflate the number of time series.
func methodName(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return string(httpconv.RequestMethodOther)
}
