package httpserver_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracecart/tracecart/shared/httpserver"
)

func TestNewRouterRejectsBadOptions(t *testing.T) {
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	tests := []struct {
		name string
		opts httpserver.RouterOptions
	}{
		{"no service name", httpserver.RouterOptions{Logger: logger}},
		{"no logger", httpserver.RouterOptions{ServiceName: "test-service"}},
		{"negative body limit", httpserver.RouterOptions{ServiceName: "test-service", Logger: logger, MaxBodyBytes: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := httpserver.NewRouter(tt.opts); err == nil {
				t.Error("NewRouter succeeded, want an error")
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	s := newTestServer(t, httpserver.RouterOptions{})
	tests := []struct {
		name     string
		incoming string // "" sends no header
		wantKept bool
	}{
		{"kept", "gw-4f1c9a", true},
		{"kept at 128 characters", strings.Repeat("a", 128), true},
		{"none", "", false},
		{"too long", strings.Repeat("a", 129), false},
		{"contains a space", "abc def", false},
		{"contains a control character", "abc\x01def", false},
		{"not ASCII", "abcé", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/items/1", nil)
			if tt.incoming != "" {
				req.Header.Set(httpserver.HeaderRequestID, tt.incoming)
			}

			rec := s.do(t, req)

			got := rec.Header().Get(httpserver.HeaderRequestID)
			if tt.wantKept && got != tt.incoming {
				t.Errorf("X-Request-ID = %q, want the incoming %q", got, tt.incoming)
			}
			if !tt.wantKept {
				if _, err := uuid.Parse(got); err != nil {
					t.Errorf("X-Request-ID = %q, want a generated UUID", got)
				}
			}
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body: %v", err)
			}
			if body["request_id"] != got {
				t.Errorf("RequestID(ctx) in the handler = %q, want %q", body["request_id"], got)
			}
		})
	}
}

func TestAccessLog(t *testing.T) {
	s := newTestServer(t, httpserver.RouterOptions{})
	const token = "Bearer eyJhbGciOiJFUzI1NiJ9.secret-token"
	req := httptest.NewRequest(http.MethodGet, "/items/42?api_key=secret-query", nil)
	req.Header.Set("Authorization", token)

	rec := s.do(t, req)

	line := s.accessLine(t)
	want := map[string]any{
		"level":      "INFO",
		"service":    "test-service",
		"method":     "GET",
		"route":      "/items/{id}",
		"path":       "/items/42",
		"status":     float64(200),
		"bytes":      float64(rec.Body.Len()),
		"request_id": rec.Header().Get(httpserver.HeaderRequestID),
		"trace_id":   s.spans.GetSpans()[0].SpanContext.TraceID().String(),
	}
	for key, value := range want {
		if line[key] != value {
			t.Errorf("access log %s = %v, want %v", key, line[key], value)
		}
	}
	if d, ok := line["duration_ms"].(float64); !ok || d < 0 {
		t.Errorf("access log duration_ms = %v, want a non-negative number", line["duration_ms"])
	}
	for _, secret := range []string{"secret-token", "secret-query"} {
		if strings.Contains(s.logs.String(), secret) {
			t.Errorf("the logs contain %q:\n%s", secret, s.logs)
		}
	}
}

func TestAccessLogNeverHoldsTheBody(t *testing.T) {
	s := newTestServer(t, httpserver.RouterOptions{})
	req := httptest.NewRequest(http.MethodPost, "/items", strings.NewReader(`{"name":"secret-body"}`))
	req.Header.Set("Content-Type", "application/json")

	rec := s.do(t, req)

	if rec.Code != http.StatusCreated {
		t.Fatalf("status = %d, want 201", rec.Code)
	}
	if line := s.accessLine(t); line["status"] != float64(201) || line["route"] != "/items" {
		t.Errorf("access log line = %v", line)
	}
	if strings.Contains(s.logs.String(), "secret-body") {
		t.Errorf("the logs contain the request or response body:\n%s", s.logs)
	}
}

func TestSpanPerRequest(t *testing.T) {
	s := newTestServer(t, httpserver.RouterOptions{})
	callerTrace := trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}

	tests := []struct {
		name        string
		method      string
		target      string
		traceparent string
		wantName    string
		wantStatus  int
		wantRoute   string // "" means no http.route attribute
	}{
		{
			name:       "route template, not the path",
			method:     http.MethodGet,
			target:     "/items/42",
			wantName:   "GET /items/{id}",
			wantStatus: http.StatusOK,
			wantRoute:  "/items/{id}",
		},
		{
			name:        "continues the caller's trace",
			method:      http.MethodGet,
			target:      "/items/42",
			traceparent: "00-" + callerTrace.String() + "-00f067aa0ba902b7-01",
			wantName:    "GET /items/{id}",
			wantStatus:  http.StatusOK,
			wantRoute:   "/items/{id}",
		},
		{
			name:       "unknown path",
			method:     http.MethodGet,
			target:     "/nowhere/42",
			wantName:   "GET",
			wantStatus: http.StatusNotFound,
		},
		{
			name:       "unknown method name",
			method:     "BREW",
			target:     "/items/42",
			wantName:   "HTTP",
			wantStatus: http.StatusMethodNotAllowed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.spans.Reset()
			req := httptest.NewRequest(tt.method, tt.target, nil)
			if tt.traceparent != "" {
				req.Header.Set("traceparent", tt.traceparent)
			}

			rec := s.do(t, req)

			spans := s.spans.GetSpans()
			if len(spans) != 1 {
				t.Fatalf("recorded %d spans, want 1", len(spans))
			}
			span := spans[0]
			if span.Name != tt.wantName || span.SpanKind != trace.SpanKindServer {
				t.Errorf("span = %q of kind %v, want %q of kind server", span.Name, span.SpanKind, tt.wantName)
			}
			if tt.traceparent != "" && span.SpanContext.TraceID() != callerTrace {
				t.Errorf("span trace ID = %s, want the caller's %s", span.SpanContext.TraceID(), callerTrace)
			}
			attrs := attribute.NewSet(span.Attributes...)
			wantAttrs := []attribute.KeyValue{
				attribute.Int("http.response.status_code", tt.wantStatus),
				attribute.String("request_id", rec.Header().Get(httpserver.HeaderRequestID)),
			}
			if tt.wantRoute != "" {
				wantAttrs = append(wantAttrs, attribute.String("http.route", tt.wantRoute))
			}
			for _, want := range wantAttrs {
				if got, _ := attrs.Value(want.Key); got != want.Value {
					t.Errorf("span attribute %s = %q, want %q", want.Key, got.Emit(), want.Value.Emit())
				}
			}
			if tt.wantRoute == "" && attrs.HasValue("http.route") {
				t.Errorf("span has http.route although no route matched")
			}
		})
	}
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	s := newTestServer(t, httpserver.RouterOptions{})
	tests := []struct {
		name       string
		method     string
		target     string
		wantStatus int
		wantAllow  string
	}{
		{"unknown path", http.MethodGet, "/nowhere", http.StatusNotFound, ""},
		{"GET-only route", http.MethodDelete, "/items/42", http.StatusMethodNotAllowed, "GET"},
		{"POST-only route", http.MethodPut, "/items", http.StatusMethodNotAllowed, "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.logs.Reset()

			rec := s.do(t, httptest.NewRequest(tt.method, tt.target, nil))

			p := readProblem(t, rec, tt.wantStatus)
			if p.Instance != tt.target {
				t.Errorf("problem instance = %q, want %q", p.Instance, tt.target)
			}
			if got := rec.Header().Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tt.wantAllow)
			}
			if line := s.accessLine(t); line["status"] != float64(tt.wantStatus) || line["route"] != "" {
				t.Errorf("access log line = %v, want status %d and no route", line, tt.wantStatus)
			}
		})
	}
}

func TestPanicBecomesA500AndTheServerKeepsServing(t *testing.T) {
	s := newTestServer(t, httpserver.RouterOptions{})
	server := httptest.NewServer(s.router)
	t.Cleanup(server.Close)

	resp, err := server.Client().Get(server.URL + "/panic")
	if err != nil {
		t.Fatalf("GET /panic: %v", err)
	}
	rec := httptest.NewRecorder() // to reuse readProblem on a real response
	for key, values := range resp.Header {
		rec.Header()[key] = values
	}
	rec.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(rec, resp.Body)
	resp.Body.Close()
	p := readProblem(t, rec, http.StatusInternalServerError)
	if strings.Contains(p.Detail, "boom") {
		t.Errorf("the problem shows the panic value: %q", p.Detail)
	}

	panics := s.logLines(t, "panic serving request")
	if len(panics) != 1 {
		t.Fatalf("got %d panic log lines, want 1:\n%s", len(panics), s.logs)
	}
	if panics[0]["level"] != "ERROR" || panics[0]["panic"] != "boom" || panics[0]["request_id"] != p.RequestID ||
		!strings.Contains(panics[0]["stack"].(string), "httpserver_test.newTestServer") {
		t.Errorf("panic log line = %v", panics[0])
	}
	access := s.accessLine(t)
	if access["status"] != float64(500) || access["level"] != "ERROR" || access["error"] != "handler panicked" {
		t.Errorf("access log line = %v", access)
	}
	if spans := s.spans.GetSpans(); len(spans) != 1 || spans[0].Status.Code != codes.Error {
		t.Errorf("spans = %v, want one with status Error", spans)
	}

	resp, err = server.Client().Get(server.URL + "/items/1")
	if err != nil {
		t.Fatalf("GET /items/1 after the panic: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /items/1 after the panic: status %d, want 200", resp.StatusCode)
	}
}

func TestDurationMetricPerRoute(t *testing.T) {
	s := newTestServer(t, httpserver.RouterOptions{})
	for _, target := range []string{"/items/1", "/items/2", "/fail/internal"} {
		s.do(t, httptest.NewRequest(http.MethodGet, target, nil))
	}
	traceIDs := map[string]bool{}
	for _, span := range s.spans.GetSpans() {
		traceIDs[span.SpanContext.TraceID().String()] = true
	}

	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	rec := httptest.NewRecorder()
	s.tel.MetricsHandler.ServeHTTP(rec, req)
	body := rec.Body.String()

	wantLines := [][]string{
		{`http_server_request_duration_seconds_count{`, `http_request_method="GET"`, `http_response_status_code="200"`, `http_route="/items/{id}"`, `} 2`},
		{`http_server_request_duration_seconds_count{`, `error_type="500"`, `http_response_status_code="500"`, `http_route="/fail/{name}"`, `} 1`},
	}
	for _, parts := range wantLines {
		if !containsLine(body, parts...) {
			t.Errorf("no line with %q in:\n%s", parts, body)
		}
	}
	// A bucket's exemplar points at the trace of a request that fell into it.
	var exemplars int
	for line := range strings.Lines(body) {
		_, exemplar, found := strings.Cut(line, `trace_id="`)
		if found && strings.HasPrefix(line, "http_server_request_duration_seconds_bucket{") {
			exemplars++
			if id, _, _ := strings.Cut(exemplar, `"`); !traceIDs[id] {
				t.Errorf("exemplar trace_id %s is none of the requests' traces", id)
			}
		}
	}
	if exemplars == 0 {
		t.Errorf("no exemplars on http_server_request_duration_seconds_bucket in:\n%s", body)
	}
}

// containsLine reports whether one line of body contains all parts, in order.
func containsLine(body string, parts ...string) bool {
	for line := range strings.Lines(body) {
		rest, ok := line, true
		for _, p := range parts {
			var found bool
			_, rest, found = strings.Cut(rest, p)
			ok = ok && found
		}
		if ok {
			return true
		}
	}
	return false
}
