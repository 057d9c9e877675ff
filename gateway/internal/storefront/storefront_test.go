package storefront

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestServesThePageAndItsAssets(t *testing.T) {
	h, err := New(Options{JaegerUIURL: "http://jaeger.example:16686/"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, contentType, contains string
	}{
		{"/", "text/html; charset=utf-8", `<meta name="jaeger-ui-url" content="http://jaeger.example:16686">`},
		{"/assets/app.js", "text/javascript; charset=utf-8", "import { call, newKey, ApiError } from './api.js';"},
		{"/assets/api.js", "text/javascript; charset=utf-8", "X-Trace-Id"},
		{"/assets/state.js", "text/javascript; charset=utf-8", "localStorage"},
		{"/assets/style.css", "text/css; charset=utf-8", ":root"},
		{"/assets/favicon.svg", "image/svg+xml", "<svg"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d", rec.Code)
			}
			if ct := rec.Header().Get("Content-Type"); ct != tt.contentType {
				t.Errorf("Content-Type %q, want %q", ct, tt.contentType)
			}
			if !strings.Contains(rec.Body.String(), tt.contains) {
				t.Errorf("body lacks %q", tt.contains)
			}
			if csp := rec.Header().Get("Content-Security-Policy"); csp != ContentSecurityPolicy {
				t.Errorf("CSP %q", csp)
			}
			if rec.Header().Get("X-Content-Type-Options") != "nosniff" || rec.Header().Get("X-Frame-Options") != "DENY" {
				t.Error("security headers missing")
			}

			// The file is revalidated with its ETag: unchanged, it costs a 304.
			etag := rec.Header().Get("ETag")
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			req.Header.Set("If-None-Match", etag)
			rec = httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if etag == "" || rec.Code != http.StatusNotModified {
				t.Errorf("revalidation with ETag %q = %d, want 304", etag, rec.Code)
			}
		})
	}
}

func TestPolicyAllowsOnlyTheOwnOrigin(t *testing.T) {
	for directive := range strings.SplitSeq(ContentSecurityPolicy, ";") {
		fields := strings.Fields(directive)
		for _, source := range fields[1:] {
			if source != "'self'" && source != "'none'" {
				t.Errorf("directive %q allows %s", fields[0], source)
			}
		}
	}
	if !strings.Contains(ContentSecurityPolicy, "default-src 'self'") {
		t.Error("no default-src 'self'")
	}
}

func TestPageUsesNoInlineScriptOrStyle(t *testing.T) {
	page, err := files.ReadFile("web/index.html")
	if err != nil {
		t.Fatal(err)
	}
	html := string(page)
	for _, banned := range []string{"<script>", "<style", " style=", " onclick=", "javascript:"} {
		if strings.Contains(html, banned) {
			t.Errorf("index.html contains %q, which the CSP would block", banned)
		}
	}
}

func TestUnknownPathsAndMethods(t *testing.T) {
	h, err := New(Options{JaegerUIURL: "http://127.0.0.1:16686"})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/assets/nope.js", nil))
	if rec.Code != http.StatusNotFound || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Errorf("unknown file = %d %s, want 404 problem", rec.Code, rec.Header().Get("Content-Type"))
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST / = %d (Allow %q), want 405", rec.Code, rec.Header().Get("Allow"))
	}
}

func TestNewRejectsABadJaegerURL(t *testing.T) {
	for _, u := range []string{"", "jaeger:16686", "javascript:alert(1)", "ftp://jaeger"} {
		if _, err := New(Options{JaegerUIURL: u}); err == nil {
			t.Errorf("New(JaegerUIURL=%q) succeeded, want an error", u)
		}
	}
}
