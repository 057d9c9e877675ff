package httpapi_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/tracecart/tracecart/shared/httpclient"
	"github.com/tracecart/tracecart/shared/testinfra"
)

func TestBreakerOpensAnswersFastAndRecovers(t *testing.T) {
	const openFor = 400 * time.Millisecond
	g := newGateway(t, gatewayOptions{breaker: httpclient.BreakerSettings{MinimumCalls: 3, OpenTimeout: openFor}})
	g.products.answer(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "database down", http.StatusInternalServerError)
	})

	// Closed: the service's failures reach the client as they are (a 500 is not retried).
	for i := range 3 {
		if resp := g.do(t, request{path: "/api/products/1"}); resp.status != http.StatusInternalServerError {
			t.Fatalf("call %d = %d, want the service's 500", i+1, resp.status)
		}
	}

	// Open: the gateway answers 503 itself, at once, without calling the service.
	resp := g.do(t, request{path: "/api/products/1"})
	if resp.status != http.StatusServiceUnavailable {
		t.Fatalf("call after 3 failures = %d, want 503: %s", resp.status, resp.body)
	}
	resp.problem(t)
	if resp.header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After %q, want the open timeout rounded up to 1 s", resp.header.Get("Retry-After"))
	}
	if resp.took > 100*time.Millisecond {
		t.Errorf("an open breaker took %v to answer, want it fast", resp.took)
	}
	if hits := g.products.hits.Load(); hits != 3 {
		t.Errorf("product-service hit %d times, want 3: an open breaker must not call it", hits)
	}
	// Other services are not affected by product-service's breaker.
	if resp := g.do(t, request{path: "/api/orders", token: g.token(t, "u1", nil)}); resp.status != http.StatusOK {
		t.Errorf("order-service call = %d while product-service's breaker is open, want 200", resp.status)
	}

	// The service recovers; after the open timeout a trial call goes through and closes it.
	g.products.answer(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	testinfra.WaitFor(t, 5*time.Second, "the breaker to let calls through again", func() error {
		if resp := g.do(t, request{path: "/api/products/1"}); resp.status != http.StatusOK {
			return fmt.Errorf("status %d", resp.status)
		}
		return nil
	})
	for i := range 3 {
		if resp := g.do(t, request{path: "/api/products/1"}); resp.status != http.StatusOK {
			t.Fatalf("call %d after recovery = %d, want 200", i+1, resp.status)
		}
	}
}

func TestRetriesOnlyIdempotentRequests(t *testing.T) {
	token := func(g *gateway) string { return g.token(t, "u1", nil) }
	tests := []struct {
		name     string
		req      func(g *gateway) request
		wantHits int64
	}{
		{"GET is retried", func(g *gateway) request { return request{path: "/api/orders/1", token: token(g)} }, 3},
		{"a plain POST is sent once", func(g *gateway) request {
			return request{method: http.MethodPost, path: "/api/orders", body: `{"lines":[{"quantity":1}]}`, token: token(g)}
		}, 1},
		{"POST /cancel is sent once", func(g *gateway) request {
			return request{method: http.MethodPost, path: "/api/orders/1/cancel", token: token(g)}
		}, 1},
		{"POST with an Idempotency-Key is retried with its body", func(g *gateway) request {
			return request{method: http.MethodPost, path: "/api/orders", body: `{"lines":[{"quantity":1}]}`, token: token(g),
				header: http.Header{"Idempotency-Key": {"k-1"}}}
		}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGateway(t, gatewayOptions{})
			g.orders.answer(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "overloaded", http.StatusServiceUnavailable)
			})
			req := tt.req(g)
			if resp := g.do(t, req); resp.status != http.StatusServiceUnavailable {
				t.Fatalf("status %d, want the service's last 503", resp.status)
			}
			if hits := g.orders.hits.Load(); hits != tt.wantHits {
				t.Fatalf("order-service hit %d times, want %d", hits, tt.wantHits)
			}
			_, bodies := g.orders.requests()
			for i, b := range bodies {
				if b != req.body {
					t.Errorf("attempt %d sent body %q, want %q", i+1, b, req.body)
				}
			}
		})
	}
}
