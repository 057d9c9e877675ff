package httpapi_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/tracecart/tracecart/gateway/internal/ratelimit"
)

// BenchmarkProxiedCatalogueRead measures one public catalogue read through the whole gateway
// (router, tracing, rate limiter, cache miss, proxy, transport chain) to a real upstream, over
// real loopback connections. bench/bench.sh compares the binary with nginx.
func BenchmarkProxiedCatalogueRead(b *testing.B) {
	g := newGateway(b, gatewayOptions{limit: ratelimit.Limit{Rate: 1e9, Burst: 1e9}})
	g.products.answer(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"101","name":"Tracing Mug","price_cents":1200}`)
	})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	url := g.url + "/api/products/00000000-0000-4000-8000-000000000101"
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
