package httpserver_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tracecart/tracecart/shared/httpserver"
)

func TestHostileTextInTheURLIsRefusedBeforeTheHandler(t *testing.T) {
	s := newTestServer(t, httpserver.RouterOptions{})
	tests := []struct {
		name       string
		target     string // as sent on the request line
		wantStatus int
		wantDetail string
	}{
		{"plain", "/items/7?q=mug&q=cup", http.StatusOK, ""},
		{"UTF-8 in path and query", "/items/%C3%A9t%C3%A9?q=%E2%82%AC", http.StatusOK, ""},
		{"NUL in a path variable", "/items/%00", http.StatusBadRequest, "the path must not contain NUL"},
		{"invalid UTF-8 in a path variable", "/items/%FF", http.StatusBadRequest, "the path must be valid UTF-8"},
		{"NUL in a query value", "/items/7?q=%00", http.StatusBadRequest, "query parameter q must not contain NUL"},
		{"invalid UTF-8 in a query value", "/items/7?q=m%C3", http.StatusBadRequest, "query parameter q must be valid UTF-8"},
		{"NUL in a query name", "/items/7?%00=1", http.StatusBadRequest, "a query parameter's name must not contain NUL"},
		{"malformed query", "/items/7?q=%zz", http.StatusBadRequest, "the query string is malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := s.do(t, httptest.NewRequest(http.MethodGet, tt.target, nil))

			if tt.wantStatus == http.StatusOK {
				if rec.Code != http.StatusOK {
					t.Fatalf("status = %d, want 200; body: %s", rec.Code, rec.Body)
				}
				return
			}
			p := readProblem(t, rec, tt.wantStatus)
			if !strings.Contains(p.Detail, tt.wantDetail) {
				t.Errorf("detail = %q, want it to contain %q", p.Detail, tt.wantDetail)
			}
		})
	}
}

func TestCheckText(t *testing.T) {
	tests := []struct {
		in     string
		wantOK bool
	}{
		{"", true},
		{"héllo, 世界", true},
		{"a\x00b", false},
		{"a\xffb", false},
		{"\xed\xa0\x80", false}, // a UTF-16 surrogate encoded as UTF-8 is not valid UTF-8
	}
	for _, tt := range tests {
		err := httpserver.CheckText("the header", tt.in)
		if (err == nil) != tt.wantOK {
			t.Errorf("CheckText(%q) = %v, want ok %t", tt.in, err, tt.wantOK)
		}
		if re, ok := err.(*httpserver.RequestError); err != nil && (!ok || re.Status != http.StatusBadRequest) {
			t.Errorf("CheckText(%q) = %#v, want a 400 *RequestError", tt.in, err)
		}
	}
}

func TestUncleanPathsAreRedirectedWithAProblem(t *testing.T) {
	const traceHeader = "X-Trace-Id"
	s := newTestServer(t, httpserver.RouterOptions{TraceIDHeader: traceHeader})
	tests := []struct {
		target       string
		wantLocation string
	}{
		{"/items/../items/7", "/items/7"},
		{"/items//7?q=1", "/items/7?q=1"},
		{"/x/./../items/", "/items/"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			rec := s.do(t, httptest.NewRequest(http.MethodGet, tt.target, nil))

			p := readProblem(t, rec, http.StatusMovedPermanently)
			if got := rec.Header().Get("Location"); got != tt.wantLocation {
				t.Errorf("Location = %q, want %q", got, tt.wantLocation)
			}
			if got := rec.Header().Get(traceHeader); got == "" || got != p.TraceID {
				t.Errorf("%s = %q, want the problem's trace_id %q", traceHeader, got, p.TraceID)
			}
		})
	}
}

func TestTraceIDHeaderOnEveryAnswer(t *testing.T) {
	const traceHeader = "X-Trace-Id"
	s := newTestServer(t, httpserver.RouterOptions{TraceIDHeader: traceHeader})
	for _, target := range []string{"/items/7", "/items/%00", "/nowhere", "/fail/internal", "/panic"} {
		t.Run(target, func(t *testing.T) {
			rec := s.do(t, httptest.NewRequest(http.MethodGet, target, nil))

			if got := rec.Header().Get(traceHeader); len(got) != 32 {
				t.Errorf("status %d with %s %q, want a trace ID", rec.Code, traceHeader, got)
			}
		})
	}
	t.Run("not set unless asked for", func(t *testing.T) {
		plain := newTestServer(t, httpserver.RouterOptions{})
		rec := plain.do(t, httptest.NewRequest(http.MethodGet, "/items/7", nil))
		if got := rec.Header().Get(traceHeader); got != "" {
			t.Errorf("%s = %q without TraceIDHeader, want none", traceHeader, got)
		}
	})
}
