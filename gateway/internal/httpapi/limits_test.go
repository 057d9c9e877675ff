package httpapi_test

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tracecart/tracecart/gateway/internal/httpapi"
	"github.com/tracecart/tracecart/gateway/internal/httpcache"
	"github.com/tracecart/tracecart/gateway/internal/ratelimit"
)

func TestRateLimitPerClient(t *testing.T) {
	g := newGateway(t, gatewayOptions{limit: ratelimit.Limit{Rate: 1, Burst: 3}})

	// An anonymous client (keyed by address) spends its burst...
	for i := range 3 {
		resp := g.do(t, request{path: "/api/products"})
		if resp.status != http.StatusOK {
			t.Fatalf("call %d = %d, want 200", i+1, resp.status)
		}
		wantHeaders(t, resp, map[string]string{
			"RateLimit-Limit": "3", "RateLimit-Remaining": strconv.Itoa(2 - i), "RateLimit-Policy": "3;w=3",
		})
	}
	// ...and is refused, with what it needs to know to come back.
	resp := g.do(t, request{path: "/api/products"})
	if resp.status != http.StatusTooManyRequests {
		t.Fatalf("call 4 = %d, want 429", resp.status)
	}
	resp.problem(t)
	wantHeaders(t, resp, map[string]string{
		"Retry-After": "1", "RateLimit-Limit": "3", "RateLimit-Remaining": "0", "RateLimit-Reset": "3", "RateLimit-Policy": "3;w=3",
	})
	if hits := g.products.hits.Load(); hits != 3 {
		t.Errorf("product-service hit %d times, want 3: a refused request must not reach it", hits)
	}
	if n := g.metric(t, httpapi.RateLimitRejectedMetric, "client", "address"); n != 1 {
		t.Errorf("%s{client=address} = %d, want 1", httpapi.RateLimitRejectedMetric, n)
	}
	// Private routes are limited too, before the token is even required.
	if resp := g.do(t, request{path: "/api/orders"}); resp.status != http.StatusTooManyRequests {
		t.Errorf("private route while over the limit = %d, want 429", resp.status)
	}

	// A signed-in user on the same address has a bucket of their own.
	alice := g.token(t, "00000000-0000-4000-8000-00000000a11c", nil)
	for i := range 3 {
		if resp := g.do(t, request{path: "/api/orders", token: alice}); resp.status != http.StatusOK {
			t.Fatalf("alice's call %d = %d, want 200: her bucket is not the address's", i+1, resp.status)
		}
	}
	if resp := g.do(t, request{path: "/api/orders", token: alice}); resp.status != http.StatusTooManyRequests {
		t.Fatalf("alice's call 4 = %d, want 429", resp.status)
	}
	if n := g.metric(t, httpapi.RateLimitRejectedMetric, "client", "subject"); n != 1 {
		t.Errorf("%s{client=subject} = %d, want 1", httpapi.RateLimitRejectedMetric, n)
	}

	// A second later one token is back.
	g.clock.advance(time.Second)
	if resp := g.do(t, request{path: "/api/products"}); resp.status != http.StatusOK {
		t.Errorf("after a second = %d, want 200", resp.status)
	}
}

func wantHeaders(t *testing.T, resp response, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := resp.header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestCatalogueCache(t *testing.T) {
	g := newGateway(t, gatewayOptions{})
	g.products.answer(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=5")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"101","call":%d}`, g.products.hits.Load())
	})
	const path = "/api/products/00000000-0000-4000-8000-000000000101"

	first := g.do(t, request{path: path})
	second := g.do(t, request{path: path})
	if first.header.Get("X-Cache") != "MISS" || second.header.Get("X-Cache") != "HIT" {
		t.Fatalf("X-Cache %q then %q, want MISS then HIT", first.header.Get("X-Cache"), second.header.Get("X-Cache"))
	}
	if second.body != first.body || second.status != http.StatusOK {
		t.Errorf("hit answered %d %q, want the stored %q", second.status, second.body, first.body)
	}
	if hits := g.products.hits.Load(); hits != 1 {
		t.Errorf("product-service hit %d times, want 1", hits)
	}
	// A hit is still this request's answer: its own trace and request IDs, and an Age.
	if second.header.Get("X-Trace-Id") == first.header.Get("X-Trace-Id") || second.header.Get("X-Request-ID") == first.header.Get("X-Request-ID") {
		t.Error("the hit repeated the first answer's trace or request ID")
	}
	if second.header.Get("Age") == "" || second.header.Get("Cache-Control") != "public, max-age=5" {
		t.Errorf("hit has Age %q and Cache-Control %q", second.header.Get("Age"), second.header.Get("Cache-Control"))
	}

	// The list is cached apart from the item.
	if resp := g.do(t, request{path: "/api/products?limit=5"}); resp.header.Get("X-Cache") != "MISS" {
		t.Errorf("list X-Cache %q, want MISS", resp.header.Get("X-Cache"))
	}

	// Once max-age has passed, the entry is fetched again.
	g.clock.advance(5 * time.Second)
	third := g.do(t, request{path: path})
	if third.header.Get("X-Cache") != "MISS" || third.body == first.body {
		t.Errorf("after expiry: X-Cache %q, body %q; want a fresh answer", third.header.Get("X-Cache"), third.body)
	}
	if hits := g.products.hits.Load(); hits != 3 {
		t.Errorf("product-service hit %d times, want 3", hits)
	}
	if hit, miss := g.metric(t, httpcache.RequestsMetric, "result", "hit"), g.metric(t, httpcache.RequestsMetric, "result", "miss"); hit != 1 || miss != 3 {
		t.Errorf("cache metrics hit=%d miss=%d, want 1 and 3", hit, miss)
	}
}

func TestCacheHonoursNoStore(t *testing.T) {
	g := newGateway(t, gatewayOptions{})
	g.products.answer(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
	})
	for range 2 {
		g.do(t, request{path: "/api/products"})
	}
	if hits := g.products.hits.Load(); hits != 2 {
		t.Errorf("product-service hit %d times, want 2: no-store answers must not be kept", hits)
	}
}

func TestOversizedAndMalformedRequestsAreRejected(t *testing.T) {
	g := newGateway(t, gatewayOptions{maxBody: 1024})
	token := g.token(t, "u1", nil)
	big := `{"lines":"` + strings.Repeat("x", 2000) + `"}`
	tests := []struct {
		name   string
		req    request
		status int
	}{
		{"body over the limit", request{method: http.MethodPost, path: "/api/orders", body: big, token: token}, http.StatusRequestEntityTooLarge},
		{"body over the limit on a public route", request{method: http.MethodPost, path: "/api/auth/login", body: big}, http.StatusRequestEntityTooLarge},
		{"not JSON", request{method: http.MethodPost, path: "/api/orders", body: `{"lines": [`, token: token}, http.StatusBadRequest},
		{"two JSON values", request{method: http.MethodPost, path: "/api/auth/login", body: `{} {}`}, http.StatusBadRequest},
		{"not a JSON media type", request{method: http.MethodPost, path: "/api/auth/login", body: `{}`,
			header: http.Header{"Content-Type": {"text/plain"}}}, http.StatusUnsupportedMediaType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := g.do(t, tt.req)
			if resp.status != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.status, tt.status, resp.body)
			}
			resp.problem(t)
		})
	}

	t.Run("body over the limit without a Content-Length", func(t *testing.T) {
		r, err := http.NewRequestWithContext(t.Context(), http.MethodPost, g.url+"/api/auth/login", &chunked{data: []byte(big)})
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d, want 413 for a chunked body", resp.StatusCode)
		}
	})

	if n := g.users.hits.Load() + g.orders.hits.Load(); n != 0 {
		t.Errorf("services hit %d times by rejected requests, want 0", n)
	}
	// A body within the limit is forwarded as sent.
	if resp := g.do(t, request{method: http.MethodPost, path: "/api/orders", body: `{"lines":[]}`, token: token}); resp.status != http.StatusOK {
		t.Fatalf("small body = %d, want 200", resp.status)
	}
	if _, bodies := g.orders.requests(); len(bodies) != 1 || bodies[0] != `{"lines":[]}` {
		t.Errorf("order-service got bodies %q", bodies)
	}
}

// chunked is a body of unknown length, so the client sends it chunked.
type chunked struct {
	data []byte
	off  int
}

func (c *chunked) Read(p []byte) (int, error) {
	if c.off >= len(c.data) {
		return 0, io.EOF
	}
	n := copy(p, c.data[c.off:])
	c.off += n
	return n, nil
}
