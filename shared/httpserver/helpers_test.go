package httpserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/mux"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tracecart/tracecart/shared/httpserver"
	"github.com/tracecart/tracecart/shared/telemetry"
)

// testServer is a router with a few routes that exercise the package, wired to real telemetry
// whose spans go to memory and whose logs go to a buffer.
type testServer struct {
	router *mux.Router
	tel    *telemetry.Telemetry
	spans  *tracetest.InMemoryExporter
	logs   *syncBuffer
}

// item is what the test routes decode and encode.
type item struct {
	Name     string `json:"name"`
	Quantity int    `json:"quantity"`
}

// Errors of a pretend domain package, mapped by the router's MapError.
var (
	errOutOfStock  = errors.New("out of stock")
	errUnavailable = errors.New("warehouse unavailable")
)

func mapError(err error) (int, bool) {
	switch {
	case errors.Is(err, errOutOfStock):
		return http.StatusConflict, true
	case errors.Is(err, errUnavailable):
		return http.StatusServiceUnavailable, true
	}
	return 0, false
}

// failures are the errors that GET /fail/{name} answers with.
var failures = map[string]error{
	"not-found":    fmt.Errorf("item 7: %w", httpserver.ErrNotFound),
	"conflict":     fmt.Errorf("item 7 is being edited: %w", httpserver.ErrConflict),
	"unauthorized": fmt.Errorf("no token: %w", httpserver.ErrUnauthorized),
	"forbidden":    fmt.Errorf("not your item: %w", httpserver.ErrForbidden),
	"invalid":      fmt.Errorf("quantity must be positive: %w", httpserver.ErrInvalid),
	"mapped":       fmt.Errorf("reserve item 7: %w", errOutOfStock),
	"mapped-5xx":   fmt.Errorf("reserve item 7: %w", errUnavailable),
	"request":      &httpserver.RequestError{Status: http.StatusBadRequest, Detail: "page must be a number"},
	"internal":     errors.New("query items: connect to postgres://app:s3cret@db:5432: refused"),
	"db-data":      fmt.Errorf("list items: %w", &sqlError{code: "22021", msg: `invalid byte sequence for encoding "UTF8": 0x00`}),
	"db-conflict":  fmt.Errorf("create item: %w", &sqlError{code: "23505", msg: `duplicate key value violates unique constraint "items_pkey"`}),
	"db-down":      fmt.Errorf("list items: %w", &sqlError{code: "57P01", msg: "terminating connection due to administrator command"}),
}

// sqlError stands in for pgx's *pgconn.PgError, which httpserver knows only as an error with a
// SQLState method (shared/postgres's tests check the real one).
type sqlError struct{ code, msg string }

func (e *sqlError) Error() string    { return "ERROR: " + e.msg + " (SQLSTATE " + e.code + ")" }
func (e *sqlError) SQLState() string { return e.code }

// newTestServer returns a testServer; opts may set MaxBodyBytes, the rest is filled in.
func newTestServer(t testing.TB, opts httpserver.RouterOptions) *testServer {
	t.Helper()
	s := &testServer{spans: tracetest.NewInMemoryExporter(), logs: &syncBuffer{}}
	tel, err := telemetry.Setup(t.Context(), telemetry.Options{
		ServiceName:  "test-service",
		Stdout:       s.logs,
		SpanExporter: s.spans,
	})
	if err != nil {
		t.Fatalf("telemetry setup: %v", err)
	}
	t.Cleanup(func() {
		if err := tel.Shutdown(context.Background()); err != nil {
			t.Errorf("telemetry shutdown: %v", err)
		}
	})
	s.tel = tel

	opts.ServiceName = "test-service"
	opts.Logger = tel.Logger
	opts.TracerProvider = tel.TracerProvider
	opts.MeterProvider = tel.MeterProvider
	opts.Propagator = tel.Propagator
	opts.MapError = mapError
	router, err := httpserver.NewRouter(opts)
	if err != nil {
		t.Fatalf("NewRouter: %v", err)
	}
	router.HandleFunc("/items", func(w http.ResponseWriter, r *http.Request) {
		var it item
		if err := httpserver.DecodeJSON(r, &it); err != nil {
			httpserver.WriteError(w, r, err)
			return
		}
		httpserver.WriteJSON(w, http.StatusCreated, it)
	}).Methods(http.MethodPost)
	router.HandleFunc("/items/{id}", func(w http.ResponseWriter, r *http.Request) {
		httpserver.WriteJSON(w, http.StatusOK, map[string]string{
			"id":         mux.Vars(r)["id"],
			"request_id": httpserver.RequestID(r.Context()),
		})
	}).Methods(http.MethodGet)
	router.HandleFunc("/fail/{name}", func(w http.ResponseWriter, r *http.Request) {
		httpserver.WriteError(w, r, failures[mux.Vars(r)["name"]])
	}).Methods(http.MethodGet)
	router.HandleFunc("/panic", func(http.ResponseWriter, *http.Request) {
		panic("boom")
	}).Methods(http.MethodGet)
	s.router = router
	return s
}

// do serves one request and returns the response.
func (s *testServer) do(t *testing.T, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	s.router.ServeHTTP(rec, req)
	return rec
}

// logLines returns the JSON log lines written so far whose msg is msg.
func (s *testServer) logLines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for line := range strings.Lines(s.logs.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %v\n%s", err, line)
		}
		if m["msg"] == msg {
			lines = append(lines, m)
		}
	}
	return lines
}

// accessLine returns the single access log line written so far.
func (s *testServer) accessLine(t *testing.T) map[string]any {
	t.Helper()
	lines := s.logLines(t, "http request")
	if len(lines) != 1 {
		t.Fatalf("got %d access log lines, want 1:\n%s", len(lines), s.logs)
	}
	return lines[0]
}

// readProblem checks that rec is a problem document with the given status that names the
// request's ID and trace, and returns it.
func readProblem(t *testing.T, rec *httptest.ResponseRecorder, status int) httpserver.Problem {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status = %d, want %d; body: %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", ct)
	}
	var p httpserver.Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, rec.Body)
	}
	if p.Status != status || p.Title != http.StatusText(status) || p.Type != "about:blank" {
		t.Errorf("problem status, title, type = %d, %q, %q; want %d, %q, about:blank", p.Status, p.Title, p.Type, status, http.StatusText(status))
	}
	if id := rec.Header().Get(httpserver.HeaderRequestID); p.RequestID == "" || p.RequestID != id {
		t.Errorf("problem request_id = %q, want the X-Request-ID header %q", p.RequestID, id)
	}
	return p
}

// syncBuffer is a bytes.Buffer that a server goroutine may write while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

var _ io.Writer = (*syncBuffer)(nil)

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}
