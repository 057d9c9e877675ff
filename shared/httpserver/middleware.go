package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/httpconv"
	"go.opentelemetry.io/otel/trace"
)

// HeaderRequestID is the header that carries a request's ID in both directions.
const HeaderRequestID = "X-Request-ID"

// maxRequestIDLength bounds an incoming request ID; a longer one is replaced, not truncated, so
// that an ID is always either the caller's exactly or ours.
const maxRequestIDLength = 128

// requestIDKey is the attribute, log field and problem member that holds the request ID: one
// name everywhere, so that an ID copied from one place can be searched for in the others.
const requestIDKey = "request_id"

// middleware holds what the router's middleware needs; its methods are the middleware, in the
// order in which they run.
type middleware struct {
	logger       *slog.Logger
	mapError     ErrorMapper
	maxBodyBytes int64
	duration     httpconv.ServerRequestDuration
	traceHeader  string // RouterOptions.TraceIDHeader
}

// requestState is what the middleware learns about one request and shares, through the
// request's context, with the layers inside it and with WriteError.
type requestState struct {
	id       string      // the request ID, also sent in the X-Request-ID response header
	mapError ErrorMapper // the router's mapping of the service's errors, for WriteError
	err      error       // the internal error behind a 5xx answer, for the access log line
}

type stateKey struct{}

func stateFrom(ctx context.Context) *requestState {
	state, _ := ctx.Value(stateKey{}).(*requestState)
	return state
}

// RequestID returns the ID of the request being served with ctx, or "" outside a router made by
// NewRouter. An HTTP client may forward it in X-Request-ID to tie its calls to the request.
func RequestID(ctx context.Context) string {
	if state := stateFrom(ctx); state != nil {
		return state.id
	}
	return ""
}

// recoverPanics turns a panic in any layer inside it into a 500 problem document and an error
// log line with the stack, instead of a dropped connection.
//
// It runs outside the request ID middleware, so it reads the ID from the response header, which
// that middleware sets before calling the layers that might panic.
func (m *middleware) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &responseRecorder{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				// net/http's own signal to abort the response (httputil.ReverseProxy uses it when
				// an upstream fails mid-body): pass it on, or the client would take a truncated
				// body for a complete one.
				panic(v)
			}
			requestID := rec.Header().Get(HeaderRequestID)
			m.logger.LogAttrs(r.Context(), slog.LevelError, "panic serving request",
				slog.String("panic", fmt.Sprint(v)),
				slog.String("stack", string(debug.Stack())),
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.String(requestIDKey, requestID),
			)
			if rec.wroteHeader {
				// Part of the answer is already on its way; all that is left is to abort it.
				panic(http.ErrAbortHandler)
			}
			WriteProblem(rec, r, Problem{
				Status:    http.StatusInternalServerError,
				Detail:    internalErrorDetail,
				RequestID: requestID,
			})
		}()
		next.ServeHTTP(rec, r)
	})
}

// requestID gives every request an ID: the caller's X-Request-ID when it is sane, a new UUID
// otherwise. Keeping the caller's lets the gateway's ID follow a request through every service.
func (m *middleware) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(HeaderRequestID)
		if !validRequestID(id) {
			id = uuid.NewString()
		}
		w.Header().Set(HeaderRequestID, id)
		state := &requestState{id: id, mapError: m.mapError}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), stateKey{}, state)))
	})
}

// traceID sets the response header RouterOptions.TraceIDHeader names to the request's trace ID.
// It runs inside the tracing middleware, so the server span exists already.
func (m *middleware) traceID(next http.Handler) http.Handler {
	if m.traceHeader == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sc := trace.SpanContextFromContext(r.Context()); sc.HasTraceID() {
			w.Header().Set(m.traceHeader, sc.TraceID().String())
		}
		next.ServeHTTP(w, r)
	})
}

// validRequestID accepts 1 to 128 visible ASCII characters: enough for any ID scheme, and nothing
// that could break a log line or a header.
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLength {
		return false
	}
	for i := range len(id) {
		if id[i] < '!' || id[i] > '~' {
			return false
		}
	}
	return true
}

// errPanicked stands in the access log for the panic that recoverPanics reports in full.
var errPanicked = errors.New("handler panicked")

// observe reports each request, once it is done, in three ways: an access log line, a
// measurement of http.server.request.duration, and attributes on the server span that otelmux
// started around it. It runs inside the span so that all three carry the trace.
func (m *middleware) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &responseRecorder{ResponseWriter: w}
		returned := false
		// Deferred, so that a request whose handler panics is reported too: as the 500 that
		// recoverPanics is about to answer, unless the handler had already answered.
		defer func() {
			err := stateFrom(r.Context()).err
			status := rec.statusCode()
			if !returned {
				err = errPanicked
				if !rec.wroteHeader {
					status = http.StatusInternalServerError
				}
			}
			m.report(r, status, rec.bytes, time.Since(start), err)
		}()
		next.ServeHTTP(rec, r)
		returned = true
	})
}

func (m *middleware) report(r *http.Request, status int, bytes int64, elapsed time.Duration, err error) {
	ctx := r.Context()
	requestID := RequestID(ctx)
	route := routeTemplate(r)
	method := methodName(r.Method)

	// otelmux v0.58 names attributes after an old version of the semantic conventions
	// (http.method, http.status_code); add the stable names that the metrics use too.
	span := trace.SpanFromContext(ctx)
	span.SetAttributes(
		semconv.HTTPRequestMethodKey.String(method),
		semconv.HTTPResponseStatusCode(status),
		attribute.String(requestIDKey, requestID),
	)
	if errors.Is(err, errPanicked) {
		span.SetStatus(codes.Error, err.Error())
	}

	attrs := []attribute.KeyValue{m.duration.AttrResponseStatusCode(status)}
	if route != "" {
		attrs = append(attrs, m.duration.AttrRoute(route))
	}
	if status >= http.StatusInternalServerError {
		attrs = append(attrs, m.duration.AttrErrorType(httpconv.ErrorTypeAttr(strconv.Itoa(status))))
	}
	m.duration.Record(ctx, elapsed.Seconds(), httpconv.RequestMethodAttr(method), urlScheme(r), attrs...)

	level := slog.LevelInfo
	if status >= http.StatusInternalServerError {
		level = slog.LevelError
	}
	logAttrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("route", route),
		slog.String("path", r.URL.Path), // not the query string, which may carry secrets
		slog.Int("status", status),
		slog.Int64("bytes", bytes),
		slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		slog.String(requestIDKey, requestID),
	}
	if err != nil {
		logAttrs = append(logAttrs, slog.String("error", err.Error()))
	}
	m.logger.LogAttrs(ctx, level, "http request", logAttrs...)
}

func urlScheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// limitBody caps the request body at maxBodyBytes. A handler that reads past the cap gets an
// *http.MaxBytesError, which DecodeJSON turns into 413.
func (m *middleware) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, m.maxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// responseRecorder remembers the status code and size of the response written through it.
// Unwrap lets http.ResponseController reach the writer underneath, for Flush and the like.
type responseRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
	bytes       int64
}

var _ http.ResponseWriter = (*responseRecorder)(nil)

func (rec *responseRecorder) WriteHeader(status int) {
	// 1xx answers other than 101 Switching Protocols are interim; the real status comes later.
	if !rec.wroteHeader && (status >= http.StatusOK || status == http.StatusSwitchingProtocols) {
		rec.status = status
		rec.wroteHeader = true
	}
	rec.ResponseWriter.WriteHeader(status)
}

func (rec *responseRecorder) Write(b []byte) (int, error) {
	if !rec.wroteHeader {
		rec.status = http.StatusOK
		rec.wroteHeader = true
	}
	n, err := rec.ResponseWriter.Write(b)
	rec.bytes += int64(n)
	return n, err
}

func (rec *responseRecorder) Unwrap() http.ResponseWriter {
	return rec.ResponseWriter
}

// statusCode returns the status that was sent, or 200, which net/http sends for a handler that
// wrote nothing.
func (rec *responseRecorder) statusCode() int {
	if !rec.wroteHeader {
		return http.StatusOK
	}
	return rec.status
}
