package httpapi_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tracecart/tracecart/shared/httpclient"
)

func TestRoutesEachPathToItsService(t *testing.T) {
	g := newGateway(t, gatewayOptions{})
	token := g.token(t, "00000000-0000-4000-8000-00000000a11c", nil)
	tests := []struct {
		req      request
		upstream *service
		wantPath string
	}{
		{request{method: http.MethodPost, path: "/api/auth/login", body: `{"email":"a@example.com","password":"x"}`}, g.users, "/auth/login"},
		{request{method: http.MethodPost, path: "/api/auth/register", body: `{"email":"a@example.com"}`}, g.users, "/auth/register"},
		{request{path: "/api/users/me", token: token}, g.users, "/users/me"},
		{request{path: "/api/users/me/wallet", token: token}, g.users, "/users/me/wallet"},
		{request{method: http.MethodPost, path: "/api/users/me/wallet/top-ups", body: `{"amount_cents":100}`, token: token}, g.users, "/users/me/wallet/top-ups"},
		{request{path: "/api/products?category=desk&limit=5"}, g.products, "/products"},
		{request{path: "/api/products/00000000-0000-4000-8000-000000000101"}, g.products, "/products/00000000-0000-4000-8000-000000000101"},
		{request{method: http.MethodPut, path: "/api/products/00000000-0000-4000-8000-000000000101", body: `{}`, token: token}, g.products, "/products/00000000-0000-4000-8000-000000000101"},
		{request{method: http.MethodPost, path: "/api/orders", body: `{"lines":[]}`, token: token}, g.orders, "/orders"},
		{request{path: "/api/orders/42", token: token}, g.orders, "/orders/42"},
		{request{method: http.MethodPost, path: "/api/orders/42/cancel", token: token}, g.orders, "/orders/42/cancel"},
		{request{path: "/api/orders/42/some-future-route", token: token}, g.orders, "/orders/42/some-future-route"},
	}
	for _, tt := range tests {
		t.Run(tt.req.method+" "+tt.req.path, func(t *testing.T) {
			before := [3]int64{g.users.hits.Load(), g.products.hits.Load(), g.orders.hits.Load()}
			resp := g.do(t, tt.req)
			if resp.status != http.StatusOK {
				t.Fatalf("status %d, want 200: %s", resp.status, resp.body)
			}
			for i, s := range []*service{g.users, g.products, g.orders} {
				want := before[i]
				if s == tt.upstream {
					want++
				}
				if got := s.hits.Load(); got != want {
					t.Errorf("%s hit %d times, want %d", s.name, got-before[i], want-before[i])
				}
			}
			got := tt.upstream.last(t)
			if got.URL.Path != tt.wantPath {
				t.Errorf("upstream path %q, want %q", got.URL.Path, tt.wantPath)
			}
			if _, query, _ := strings.Cut(tt.req.path, "?"); got.URL.RawQuery != query {
				t.Errorf("upstream query %q, want %q", got.URL.RawQuery, query)
			}
			if got.Method != cmpMethod(tt.req.method) {
				t.Errorf("upstream method %s, want %s", got.Method, cmpMethod(tt.req.method))
			}
			if got.Host != tt.upstream.name {
				t.Errorf("upstream Host %q, want the service name %q", got.Host, tt.upstream.name)
			}
			if tt.req.token != "" && got.Header.Get("Authorization") != "Bearer "+tt.req.token {
				t.Errorf("upstream Authorization %q, want the client's token forwarded", got.Header.Get("Authorization"))
			}
			if id := resp.header.Get("X-Request-ID"); id == "" || got.Header.Get("X-Request-ID") != id {
				t.Errorf("upstream X-Request-ID %q, answer's %q: want one ID for both", got.Header.Get("X-Request-ID"), id)
			}
			if n := len(resp.header.Values("X-Request-ID")); n != 1 {
				t.Errorf("answer has %d X-Request-ID fields, want exactly 1", n)
			}
		})
	}
}

func cmpMethod(m string) string {
	if m == "" {
		return http.MethodGet
	}
	return m
}

func TestUnknownAPIPathIs404Problem(t *testing.T) {
	g := newGateway(t, gatewayOptions{})
	for _, path := range []string{"/api/nowhere", "/api/", "/api/productsx"} {
		resp := g.do(t, request{path: path})
		if resp.status != http.StatusNotFound {
			t.Fatalf("GET %s = %d, want 404", path, resp.status)
		}
		resp.problem(t)
	}
	if n := g.users.hits.Load() + g.products.hits.Load() + g.orders.hits.Load(); n != 0 {
		t.Errorf("services hit %d times, want 0", n)
	}
}

// Services' internal routes (order-service's GET /internal/orders/{id}/status, which
// product-service's reconciler calls without a token) must not be reachable through the gateway,
// with or without a token, however the path is spelled.
func TestInternalRoutesAreNotExposed(t *testing.T) {
	g := newGateway(t, gatewayOptions{})
	token := g.token(t, "00000000-0000-4000-8000-00000000a11c", nil)
	for _, path := range []string{
		"/internal/orders/42/status",
		"/api/internal/orders/42/status",
		"/api/orders/../internal/orders/42/status",
		"/api/orders/%2e%2e/internal/orders/42/status",
		"/api/orders/..%2finternal/orders/42/status",
	} {
		g.do(t, request{path: path, token: token})
	}
	for _, s := range []*service{g.users, g.products, g.orders} {
		reqs, _ := s.requests()
		for _, r := range reqs {
			if strings.Contains(r.URL.Path, "internal") || strings.Contains(r.URL.RawPath, "internal") {
				t.Errorf("%s was asked for %q (raw %q)", s.name, r.URL.Path, r.URL.RawPath)
			}
		}
	}
}

func TestRequestIDKeptOrSet(t *testing.T) {
	g := newGateway(t, gatewayOptions{})
	resp := g.do(t, request{path: "/api/products", header: http.Header{"X-Request-Id": {"client-chosen-42"}}})
	if got := g.products.last(t).Header.Get("X-Request-ID"); got != "client-chosen-42" || resp.header.Get("X-Request-ID") != got {
		t.Errorf("upstream got X-Request-ID %q, answer %q; want the client's kept", got, resp.header.Get("X-Request-ID"))
	}
	resp = g.do(t, request{path: "/api/products", header: http.Header{"X-Request-Id": {"bad id with spaces"}}})
	set := resp.header.Get("X-Request-ID")
	if set == "" || set == "bad id with spaces" || g.products.last(t).Header.Get("X-Request-ID") != set {
		t.Errorf("answer X-Request-ID %q: want a new ID, the same upstream", set)
	}
}

func TestHopByHopHeadersAreRemoved(t *testing.T) {
	g := newGateway(t, gatewayOptions{})
	g.products.answer(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "X-Upstream-Hop")
		w.Header().Set("X-Upstream-Hop", "secret")
		w.Header().Set("Keep-Alive", "timeout=99")
		w.Header().Set("X-End-To-End", "kept")
		w.WriteHeader(http.StatusOK)
	})
	resp := g.do(t, request{path: "/api/products", header: http.Header{
		"Connection":          {"X-Client-Hop"},
		"X-Client-Hop":        {"secret"},
		"Keep-Alive":          {"timeout=5"},
		"Proxy-Authorization": {"Basic c2VjcmV0"},
		"Te":                  {"deflate"},
		"X-Forwarded-For":     {"203.0.113.7"},
		"X-Forwarded-Host":    {"evil.example"},
		"X-End-To-End":        {"kept"},
	}})
	if resp.status != http.StatusOK {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	got := g.products.last(t).Header
	for _, name := range []string{"X-Client-Hop", "Keep-Alive", "Proxy-Authorization", "Te"} {
		if v := got.Get(name); v != "" {
			t.Errorf("upstream got hop-by-hop %s: %q", name, v)
		}
	}
	if got.Get("X-End-To-End") != "kept" {
		t.Error("upstream lost an end-to-end header")
	}
	if xff := got.Get("X-Forwarded-For"); xff != "127.0.0.1" {
		t.Errorf("upstream X-Forwarded-For %q, want the gateway's view of the client (127.0.0.1), not the client's claim", xff)
	}
	if xfh := got.Get("X-Forwarded-Host"); strings.Contains(xfh, "evil") {
		t.Errorf("upstream X-Forwarded-Host %q, want the client's claim replaced", xfh)
	}
	for _, name := range []string{"X-Upstream-Hop", "Keep-Alive"} {
		if v := resp.header.Get(name); v != "" {
			t.Errorf("client got hop-by-hop %s: %q", name, v)
		}
	}
	if resp.header.Get("X-End-To-End") != "kept" {
		t.Error("client lost an end-to-end header")
	}
}

func TestLocationGainsTheAPIPrefix(t *testing.T) {
	g := newGateway(t, gatewayOptions{})
	g.orders.answer(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "/orders/1234")
		w.WriteHeader(http.StatusAccepted)
	})
	resp := g.do(t, request{method: http.MethodPost, path: "/api/orders", body: `{"lines":[]}`, token: g.token(t, "u1", nil)})
	if resp.status != http.StatusAccepted || resp.header.Get("Location") != "/api/orders/1234" {
		t.Errorf("answer %d with Location %q, want 202 with /api/orders/1234", resp.status, resp.header.Get("Location"))
	}
}

var traceIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestEveryAnswerCarriesTheTraceID(t *testing.T) {
	g := newGateway(t, gatewayOptions{})

	// A proxied answer: the ID is the trace the service took part in.
	resp := g.do(t, request{path: "/api/products/1"})
	id := resp.header.Get("X-Trace-Id")
	if !traceIDPattern.MatchString(id) {
		t.Fatalf("X-Trace-Id %q, want 32 hex digits", id)
	}
	if seen := traceIDOf(g.products.last(t)); seen != id {
		t.Errorf("product-service saw trace %q in traceparent, the client was told %q", seen, id)
	}
	if n := len(resp.header.Values("X-Trace-Id")); n != 1 {
		t.Errorf("%d X-Trace-Id fields, want 1", n)
	}

	// A client that sends its own traceparent continues its trace.
	const clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	resp = g.do(t, request{path: "/api/products/1", header: http.Header{"Traceparent": {"00-" + clientTrace + "-00f067aa0ba902b7-01"}}})
	if got := resp.header.Get("X-Trace-Id"); got != clientTrace || traceIDOf(g.products.last(t)) != clientTrace {
		t.Errorf("X-Trace-Id %q, upstream %q; want the client's trace %s", got, traceIDOf(g.products.last(t)), clientTrace)
	}

	// Answers the gateway makes itself.
	for _, req := range []request{
		{path: "/"},
		{path: "/assets/app.js"},
		{path: "/no-such-page"},
		{path: "/api/nowhere"},
		{path: "/api/orders"}, // 401
		{method: http.MethodPost, path: "/api/orders", body: "{", token: g.token(t, "u1", nil)}, // 400
	} {
		resp := g.do(t, req)
		if id := resp.header.Get("X-Trace-Id"); !traceIDPattern.MatchString(id) {
			t.Errorf("%s %s (%d): X-Trace-Id %q, want a trace ID", cmpMethod(req.method), req.path, resp.status, id)
		}
	}
}

func TestRouteTimeoutAnswers504(t *testing.T) {
	g := newGateway(t, gatewayOptions{timeout: 300 * time.Millisecond})
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	g.products.answer(func(w http.ResponseWriter, r *http.Request) {
		select { // a service that never answers in time
		case <-release:
		case <-r.Context().Done():
		}
	})
	resp := g.do(t, request{path: "/api/products"})
	if resp.status != http.StatusGatewayTimeout {
		t.Fatalf("status %d, want 504: %s", resp.status, resp.body)
	}
	resp.problem(t)
	if resp.took > 2*time.Second {
		t.Errorf("took %v, want about the route's 300ms timeout", resp.took)
	}
}

func TestNoInstanceAnswers503(t *testing.T) {
	g := newGateway(t, gatewayOptions{
		resolver: staticResolver(map[string][]string{}),
		retry:    httpclient.RetryPolicy{MaxAttempts: 1},
	})
	resp := g.do(t, request{path: "/api/products"})
	if resp.status != http.StatusServiceUnavailable || resp.header.Get("Retry-After") == "" {
		t.Fatalf("status %d, Retry-After %q; want 503 with Retry-After", resp.status, resp.header.Get("Retry-After"))
	}
	if p := resp.problem(t); !strings.Contains(p.Detail, "product-service") {
		t.Errorf("detail %q should name the service", p.Detail)
	}
}
