package httpclient

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tracecart/tracecart/shared/discovery"
)

// fastRetries keeps the tests quick; a breaker that never opens keeps it out of the way.
var fastRetries = Options{
	Retry:   RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond},
	Breaker: BreakerSettings{MinimumCalls: 1000},
}

func TestRetryOnlyIdempotentRequests(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		key      string    // Idempotency-Key header, if any
		body     io.Reader // nil for no body
		wantHits int64
	}{
		{"GET", http.MethodGet, "", nil, 3},
		{"HEAD", http.MethodHead, "", nil, 3},
		{"PUT replays its body", http.MethodPut, "", strings.NewReader("stock=5"), 3},
		{"DELETE", http.MethodDelete, "", nil, 3},
		{"POST is sent once", http.MethodPost, "", strings.NewReader("order"), 1},
		{"POST with Idempotency-Key replays its body", http.MethodPost, "k-1", strings.NewReader("order"), 3},
		{"PATCH is sent once", http.MethodPatch, "", strings.NewReader("qty=2"), 1},
		{"PATCH with Idempotency-Key", http.MethodPatch, "k-2", strings.NewReader("qty=2"), 3},
		// A body http.NewRequest cannot rewind (no GetBody) can only be sent once.
		{"POST with Idempotency-Key and a one-shot body", http.MethodPost, "k-3", io.NopCloser(strings.NewReader("order")), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := startUpstream(t, http.StatusServiceUnavailable)
			client := newTelemetry(t).client(t, fastRetries)
			req := newRequest(t, tt.method, up.server.URL+"/orders", tt.body)
			if tt.key != "" {
				req.Header.Set(IdempotencyKeyHeader, tt.key)
			}

			status, err := call(t, client, req)
			if err != nil || status != http.StatusServiceUnavailable {
				t.Fatalf("call = %d, %v; want the last 503", status, err)
			}
			if hits := up.hits.Load(); hits != tt.wantHits {
				t.Fatalf("upstream hit %d times, want %d", hits, tt.wantHits)
			}
			if tt.body != nil {
				_, bodies := up.requests()
				for i, b := range bodies {
					if b != bodies[0] || b == "" {
						t.Errorf("attempt %d sent body %q, want %q like the first", i+1, b, bodies[0])
					}
				}
			}
		})
	}
}

func TestRetryOnlyStatusesAnotherTryMayFix(t *testing.T) {
	tests := []struct {
		status   int
		wantHits int64
	}{
		{http.StatusBadGateway, 3},
		{http.StatusServiceUnavailable, 3},
		{http.StatusGatewayTimeout, 3},
		{http.StatusInternalServerError, 1},
		{http.StatusTooManyRequests, 1},
		{http.StatusNotFound, 1},
		{http.StatusOK, 1},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			up := startUpstream(t, tt.status)
			client := newTelemetry(t).client(t, fastRetries)
			if _, err := call(t, client, newRequest(t, http.MethodGet, up.server.URL, nil)); err != nil {
				t.Fatal(err)
			}
			if hits := up.hits.Load(); hits != tt.wantHits {
				t.Errorf("upstream hit %d times, want %d", hits, tt.wantHits)
			}
		})
	}
}

// TestRetryMovesToAnotherInstance resolves per attempt: the first instance refuses the
// connection, the retry lands on the second.
func TestRetryMovesToAnotherInstance(t *testing.T) {
	up := startUpstream(t, http.StatusOK)
	tel := newTelemetry(t)
	opts := fastRetries
	opts.Resolver = discovery.NewStaticResolver(map[string][]string{"catalogue": {closedAddr(t), up.host()}})
	client := tel.client(t, opts)

	for i := range 3 {
		status, err := call(t, client, newRequest(t, http.MethodGet, "http://catalogue/products", nil))
		if err != nil || status != http.StatusOK {
			t.Fatalf("call %d = %d, %v; want 200 from the instance that is up", i+1, status, err)
		}
	}
	if hits := up.hits.Load(); hits != 3 {
		t.Errorf("healthy instance hit %d times, want 3", hits)
	}
	retries := 0
	for _, span := range tel.spans.Ended() {
		for _, e := range span.Events() {
			if e.Name == RetryEvent {
				retries++
			}
		}
	}
	if retries != 3 {
		t.Errorf("%d %s span events, want one per call", retries, RetryEvent)
	}
}

func TestRetryRespectsTheDeadline(t *testing.T) {
	t.Run("no retry when the backoff would pass the deadline", func(t *testing.T) {
		up := startUpstream(t, http.StatusServiceUnavailable)
		client := newTelemetry(t).client(t, Options{Retry: RetryPolicy{MaxAttempts: 5, BaseDelay: 2 * time.Second, MaxDelay: 2 * time.Second}})
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		defer cancel()

		start := time.Now()
		status, err := call(t, client, newRequest(t, http.MethodGet, up.server.URL, nil).WithContext(ctx))
		if err != nil || status != http.StatusServiceUnavailable {
			t.Fatalf("call = %d, %v; want the 503 at once rather than a wait past the deadline", status, err)
		}
		if elapsed := time.Since(start); elapsed > 400*time.Millisecond {
			t.Errorf("call took %v; it should return the 503 without waiting", elapsed)
		}
		if hits := up.hits.Load(); hits != 1 {
			t.Errorf("upstream hit %d times, want 1", hits)
		}
	})

	t.Run("retries stop at the deadline", func(t *testing.T) {
		up := startUpstream(t, http.StatusServiceUnavailable)
		client := newTelemetry(t).client(t, Options{Retry: RetryPolicy{MaxAttempts: 100, BaseDelay: 40 * time.Millisecond, MaxDelay: 40 * time.Millisecond}})
		const budget = 300 * time.Millisecond
		ctx, cancel := context.WithTimeout(t.Context(), budget)
		defer cancel()

		start := time.Now()
		status, err := call(t, client, newRequest(t, http.MethodGet, up.server.URL, nil).WithContext(ctx))
		elapsed := time.Since(start)
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("call = %v, want the last 503 or the deadline", err)
		}
		if err == nil && status != http.StatusServiceUnavailable {
			t.Fatalf("status = %d, want the last 503", status)
		}
		if elapsed > budget+200*time.Millisecond {
			t.Errorf("call took %v, want it to end by the %v deadline", elapsed, budget)
		}
		// With 20–40 ms between tries, about ten fit in the budget, far fewer than 100.
		if hits := up.hits.Load(); hits < 2 || hits > 20 {
			t.Errorf("upstream hit %d times, want several retries but no more than the deadline allows", hits)
		}
	})
}
