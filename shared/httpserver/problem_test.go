package httpserver_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/codes"

	"github.com/tracecart/tracecart/shared/httpserver"
)

func TestWriteError(t *testing.T) {
	s := newTestServer(t, httpserver.RouterOptions{})
	const internal = "the server could not handle this request; quote the request_id when you report it"
	tests := []struct {
		failure    string // a key of failures
		wantStatus int
		wantDetail string
	}{
		{"not-found", http.StatusNotFound, "item 7: not found"},
		{"conflict", http.StatusConflict, "item 7 is being edited: conflict"},
		{"unauthorized", http.StatusUnauthorized, "no token: unauthorized"},
		{"forbidden", http.StatusForbidden, "not your item: forbidden"},
		{"invalid", http.StatusUnprocessableEntity, "quantity must be positive: invalid"},
		{"request", http.StatusBadRequest, "page must be a number"},
		{"mapped", http.StatusConflict, "reserve item 7: out of stock"},
		{"mapped-5xx", http.StatusServiceUnavailable, internal},
		{"internal", http.StatusInternalServerError, internal},
		// The database refusing the request's data is the client's fault; its text is not shown.
		{"db-data", http.StatusUnprocessableEntity, "the database cannot store a value of this request (SQLSTATE 22021)"},
		{"db-conflict", http.StatusConflict, "the request conflicts with the data already stored (SQLSTATE 23505)"},
		{"db-down", http.StatusInternalServerError, internal},
	}
	for _, tt := range tests {
		t.Run(tt.failure, func(t *testing.T) {
			s.logs.Reset()
			s.spans.Reset()

			rec := s.do(t, httptest.NewRequest(http.MethodGet, "/fail/"+tt.failure, nil))

			p := readProblem(t, rec, tt.wantStatus)
			if p.Detail != tt.wantDetail {
				t.Errorf("detail = %q, want %q", p.Detail, tt.wantDetail)
			}
			span := s.spans.GetSpans()[0]
			if p.TraceID != span.SpanContext.TraceID().String() {
				t.Errorf("problem trace_id = %q, want the request's trace %s", p.TraceID, span.SpanContext.TraceID())
			}

			line := s.accessLine(t)
			errText := failures[tt.failure].Error()
			if strings.HasPrefix(tt.failure, "db-") && tt.wantStatus < 500 {
				// A check missing before the database: logged for the service's owners.
				if line["error"] != errText || line["level"] != "INFO" {
					t.Errorf("access log line for a refused value = %v, want level INFO and error %q", line, errText)
				}
				return
			}
			if tt.wantStatus < 500 {
				if _, ok := line["error"]; ok || line["level"] != "INFO" {
					t.Errorf("access log line for a %d = %v, want level INFO and no error", tt.wantStatus, line)
				}
				return
			}
			// A 5xx: the client learns nothing, the logs and the trace learn everything, once.
			if strings.Contains(rec.Body.String(), "s3cret") || strings.Contains(rec.Body.String(), "warehouse") {
				t.Errorf("the response leaks the internal error: %s", rec.Body)
			}
			if line["error"] != errText || line["level"] != "ERROR" {
				t.Errorf("access log line = %v, want level ERROR and error %q", line, errText)
			}
			if n := strings.Count(s.logs.String(), errText); n != 1 {
				t.Errorf("the error is logged %d times, want once:\n%s", n, s.logs)
			}
			if span.Status.Code != codes.Error || len(span.Events) != 1 || span.Events[0].Name != "exception" {
				t.Errorf("span status %v and events %v, want Error with an exception event", span.Status, span.Events)
			}
		})
	}
}

func TestWriteJSONWithAnUnencodableValue(t *testing.T) {
	rec := httptest.NewRecorder()

	httpserver.WriteJSON(rec, http.StatusOK, map[string]any{"ch": make(chan int)})

	if rec.Code != http.StatusInternalServerError || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Errorf("status %d, Content-Type %q; want 500 application/problem+json", rec.Code, rec.Header().Get("Content-Type"))
	}
	var p httpserver.Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != http.StatusInternalServerError {
		t.Errorf("body = %s (%v), want a 500 problem document", rec.Body, err)
	}
}

func TestWriteProblemDefaultsAndExplicitMembers(t *testing.T) {
	tests := []struct {
		name    string
		problem httpserver.Problem
		want    httpserver.Problem
	}{
		{
			name:    "zero problem",
			problem: httpserver.Problem{},
			want: httpserver.Problem{
				Type: "about:blank", Title: "Internal Server Error", Status: 500, Instance: "/orders/7",
			},
		},
		{
			name: "explicit members are kept",
			problem: httpserver.Problem{
				Type: "https://tracecart.example/problems/out-of-stock", Title: "Out of stock",
				Status: 409, Detail: "product 3 has 0 left", Instance: "/orders/7/lines/1", RequestID: "r-1",
			},
			want: httpserver.Problem{
				Type: "https://tracecart.example/problems/out-of-stock", Title: "Out of stock",
				Status: 409, Detail: "product 3 has 0 left", Instance: "/orders/7/lines/1", RequestID: "r-1",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()

			httpserver.WriteProblem(rec, httptest.NewRequest(http.MethodGet, "/orders/7", nil), tt.problem)

			var got httpserver.Problem
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("body: %v", err)
			}
			if got != tt.want || rec.Code != tt.want.Status {
				t.Errorf("wrote %d %+v, want %+v", rec.Code, got, tt.want)
			}
		})
	}
}
