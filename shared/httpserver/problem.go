package httpserver

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Errors for services to wrap, in their HTTP handlers, when the failure has an obvious status:
//
//	return fmt.Errorf("order %s: %w", id, httpserver.ErrNotFound)
//
// For a 4xx, the error's text becomes the problem's detail, so word it for the client.
// Domain packages should not import this package: map their own errors with
// RouterOptions.MapError instead.
var (
	// ErrNotFound answers 404 Not Found.
	ErrNotFound = errors.New("not found")
	// ErrConflict answers 409 Conflict: the request is valid but clashes with the resource's
	// current state, such as cancelling an order whose saga has not finished.
	ErrConflict = errors.New("conflict")
	// ErrUnauthorized answers 401 Unauthorized: the caller did not prove who it is.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden answers 403 Forbidden: the caller is known but may not do this.
	ErrForbidden = errors.New("forbidden")
	// ErrInvalid answers 422 Unprocessable Content: the request is well-formed JSON that breaks
	// a rule, such as a negative quantity. 400 is kept for requests that could not even be
	// decoded (see DecodeJSON), so a client can tell a broken request from a refused one.
	ErrInvalid = errors.New("invalid")
)

// ErrorMapper maps a service's own errors to HTTP status codes, so that its domain packages can
// keep their sentinel errors free of HTTP and the service still has one place where errors
// become statuses. It returns ok false for errors it does not know. A typical mapper:
//
//	func mapError(err error) (int, bool) {
//		switch {
//		case errors.Is(err, orders.ErrNotFound):
//			return http.StatusNotFound, true
//		case errors.Is(err, orders.ErrNotCancellable):
//			return http.StatusConflict, true
//		}
//		return 0, false
//	}
type ErrorMapper func(err error) (status int, ok bool)

// internalErrorDetail is all a client learns about a 5xx: the internal error's text could
// reveal anything from SQL to hostnames.
const internalErrorDetail = "the server could not handle this request; quote the request_id when you report it"

// Problem is an RFC 9457 problem details document, the body of every error answer, with two
// extension members that tie it to the request's log lines and trace.
type Problem struct {
	// Type is a URI that identifies the kind of problem; "about:blank" (the default) means the
	// status code says it all, and then Title should be the status text, which is its default.
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	// Detail explains this occurrence to the client.
	Detail string `json:"detail,omitempty"`
	// Instance identifies this occurrence; it defaults to the request's path.
	Instance string `json:"instance,omitempty"`

	RequestID string `json:"request_id,omitempty"`
	TraceID   string `json:"trace_id,omitempty"`
}

const problemContentType = "application/problem+json"

// WriteProblem writes p as the response, filling in what p leaves empty: status 500, type
// about:blank, the status text as title, the request path as instance, and the request and trace
// IDs from r's context.
func WriteProblem(w http.ResponseWriter, r *http.Request, p Problem) {
	if p.Status == 0 {
		p.Status = http.StatusInternalServerError
	}
	if p.Type == "" {
		p.Type = "about:blank"
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	if p.Instance == "" {
		p.Instance = r.URL.Path
	}
	if p.RequestID == "" {
		p.RequestID = RequestID(r.Context())
	}
	if sc := trace.SpanContextFromContext(r.Context()); p.TraceID == "" && sc.IsValid() {
		p.TraceID = sc.TraceID().String()
	}
	writeJSON(w, p.Status, problemContentType, p)
}

// WriteError answers with the problem document for err. The status comes from the first of:
//
//  1. a *RequestError in err's chain: its own status and detail;
//  2. the router's RouterOptions.MapError;
//  3. this package's sentinels (ErrNotFound, ErrConflict, ...);
//  4. a database error caused by the data the request carried (see SQLStateError): 422 for
//     SQLSTATE class 22, 409 for class 23;
//  5. otherwise 500.
//
// For a 4xx the detail is err's text, except for database errors, whose text is not for
// clients. For a 5xx the client gets a generic detail, and err is recorded on the request's span
// and reported on its access log line, so it is logged exactly once and handlers need not log it
// themselves. A database error mapped to a 4xx is reported on the access log line too: it means
// a check the service should have made before the database is missing.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	status, detail := statusOf(r, err)
	if _, isDB := errors.AsType[SQLStateError](err); isDB && status < http.StatusInternalServerError {
		if state := stateFrom(r.Context()); state != nil {
			state.err = err
		}
	}
	if status >= http.StatusInternalServerError {
		detail = internalErrorDetail
		span := trace.SpanFromContext(r.Context())
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		if state := stateFrom(r.Context()); state != nil {
			state.err = err
		}
	}
	WriteProblem(w, r, Problem{Status: status, Detail: detail})
}

// statusOf returns the status for err and the detail to show if the status is a 4xx.
func statusOf(r *http.Request, err error) (status int, detail string) {
	var mapError ErrorMapper
	if state := stateFrom(r.Context()); state != nil {
		mapError = state.mapError
	}
	return statusFor(err, mapError)
}

// StatusOf returns the status WriteError answers err with in a router whose MapError is
// mapError (which may be nil). Tests and fuzz targets use it to check that an input can only
// ever be refused with a 4xx, without serving a request.
func StatusOf(err error, mapError ErrorMapper) int {
	status, _ := statusFor(err, mapError)
	return status
}

func statusFor(err error, mapError ErrorMapper) (status int, detail string) {
	if reqErr, ok := errors.AsType[*RequestError](err); ok {
		return reqErr.Status, reqErr.Detail
	}
	if mapError != nil {
		if status, ok := mapError(err); ok && status >= 400 && status <= 599 {
			return status, err.Error()
		}
	}
	switch {
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, ErrConflict):
		return http.StatusConflict, err.Error()
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized, err.Error()
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden, err.Error()
	case errors.Is(err, ErrInvalid):
		return http.StatusUnprocessableEntity, err.Error()
	}
	if dbErr, ok := errors.AsType[SQLStateError](err); ok {
		switch code := dbErr.SQLState(); {
		case strings.HasPrefix(code, "22"):
			return http.StatusUnprocessableEntity, "the database cannot store a value of this request (SQLSTATE " + code + ")"
		case strings.HasPrefix(code, "23"):
			return http.StatusConflict, "the request conflicts with the data already stored (SQLSTATE " + code + ")"
		}
	}
	return http.StatusInternalServerError, ""
}

// SQLStateError is a database error that carries its SQLSTATE code, as pgx's *pgconn.PgError
// does. WriteError maps the two classes of code that blame the data rather than the database to
// a 4xx: class 22, data exception (a value the column's type cannot hold, such as text with NUL
// or a number out of range), and class 23, integrity constraint violation (a duplicate key, a
// reference to a row that does not exist). Any other SQL error is the server's problem: 500.
//
// It is an interface, not pgx's type, so that this package, which the gateway uses too, does
// not depend on a database driver; shared/postgres's tests check that pgx's errors satisfy it.
type SQLStateError interface {
	error
	SQLState() string
}

// WriteJSON writes v as a JSON response with the given status.
//
// v is encoded before anything is sent, so a value that cannot be encoded (a bug the handler's
// tests should catch) becomes a clean 500 problem document rather than half a response.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	writeJSON(w, status, "application/json", v)
}

func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, contentType = http.StatusInternalServerError, problemContentType
		// A Problem always encodes.
		body, _ = json.Marshal(Problem{
			Type:   "about:blank",
			Title:  http.StatusText(status),
			Status: status,
			Detail: internalErrorDetail,
		})
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	// An error here means the client has gone; there is no one left to tell.
	_, _ = w.Write(append(body, '\n'))
}
