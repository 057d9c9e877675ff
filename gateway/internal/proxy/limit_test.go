package proxy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// TestLimitRefusesBeyondItsBoundAtOnce: with two requests held by a slow upstream, a third is
// refused with a 503 problem and Retry-After without reaching the upstream, and counted; once a
// slot is free, requests are admitted again.
func TestLimitRefusesBeyondItsBoundAtOnce(t *testing.T) {
	hold := make(chan struct{})
	var arrived sync.WaitGroup
	var reached atomic.Int32
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		if r.URL.Path == "/slow" {
			arrived.Done()
			<-hold
		}
	}))
	t.Cleanup(upstream.Close)
	reader := sdkmetric.NewManualReader()
	limit, err := NewLimit("catalogue", 2, sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)).Meter("test"))
	if err != nil {
		t.Fatal(err)
	}
	p := newLimitedProxy(t, strings.TrimPrefix(upstream.URL, "http://"), limit)

	arrived.Add(2)
	var done sync.WaitGroup
	for range 2 {
		done.Add(1)
		go func() {
			defer done.Done()
			rec := httptest.NewRecorder()
			p.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/slow", nil))
			if rec.Code != http.StatusOK {
				t.Errorf("an admitted request = %d", rec.Code)
			}
		}()
	}
	arrived.Wait() // both hold their slots now

	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/fast", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" ||
		rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Errorf("the third request = %d, Retry-After %q, %s; want a 503 problem with Retry-After 1",
			rec.Code, rec.Header().Get("Retry-After"), rec.Header().Get("Content-Type"))
	}
	if n := reached.Load(); n != 2 {
		t.Errorf("the upstream saw %d requests, want 2: a shed request must not reach it", n)
	}
	if n := shedCount(t, reader); n != 1 {
		t.Errorf("tracecart.gateway.shed = %d, want 1", n)
	}

	close(hold)
	done.Wait()
	rec = httptest.NewRecorder()
	p.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/fast", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("after the slots were freed a request = %d, want 200", rec.Code)
	}
}

func TestNoLimitWhenZero(t *testing.T) {
	l, err := NewLimit("catalogue", 0, nil)
	if l != nil || err != nil {
		t.Fatalf("NewLimit(0) = %v, %v; want no limit", l, err)
	}
}

func shedCount(t *testing.T, reader *sdkmetric.ManualReader) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == "tracecart.gateway.shed" {
				var n int64
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					n += dp.Value
				}
				return n
			}
		}
	}
	return 0
}
