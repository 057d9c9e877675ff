package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/tracecart/tracecart/shared/config"
	"github.com/tracecart/tracecart/shared/discovery"
	"github.com/tracecart/tracecart/shared/telemetry"
)

// BenchmarkHandlerChain measures one public catalogue read through the handler run serves,
// built by the same newHandler from the same Config defaults: the shared router (request ID,
// server span, access log, metrics, input checks), route matching, client identification and
// the rate limiter, the body check, the cache (answered no-store, so a miss every time) and the
// proxy with its transport chain (client span, breaker, retry policy, resolving, keep-alive
// pool) to an httptest upstream on 127.0.0.1.
//
// Telemetry is telemetry.Setup's, as in production: the JSON access log goes to a file, spans
// go through the batch processor to no exporter (OTEL_TRACES_EXPORTER=none, the same setting
// bench/bench.sh uses). "traced" samples every request, "untraced" none; the difference is the
// price of tracing. The client side is left out: requests are handed to ServeHTTP directly, so
// ns/op, B/op and allocs/op are the gateway's own (plus the upstream's, the same for any
// change). docs/performance-gateway.md has the figures and how to profile with it.
func BenchmarkHandlerChain(b *testing.B) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = io.WriteString(w, benchProduct)
	}))
	b.Cleanup(upstream.Close)
	b.Setenv("OTEL_TRACES_EXPORTER", "none")

	for _, bc := range []struct {
		name    string
		sampler sdktrace.Sampler
	}{
		{"traced", sdktrace.AlwaysSample()},
		{"untraced", sdktrace.NeverSample()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			handler := benchHandler(b, bc.sampler, strings.TrimPrefix(upstream.URL, "http://"))
			template := httptest.NewRequest(http.MethodGet, "/api/products/00000000-0000-4000-8000-000000000101", nil)
			template.RemoteAddr = "127.0.0.1:50000"
			b.ReportAllocs()
			// 32 requests in flight per CPU, like wrk's 64 connections on two: the upstream's
			// round trip is then hidden behind other requests' work, and ns/op is CPU time.
			b.SetParallelism(32)
			cpu := processCPU(b)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				w := &discardWriter{header: make(http.Header)}
				for pb.Next() {
					r := *template // the router's middleware changes the request's Body in place
					clear(w.header)
					w.status = 0
					handler.ServeHTTP(w, &r)
					if w.status != http.StatusOK {
						b.Errorf("status %d", w.status)
						return
					}
				}
			})
			b.StopTimer()
			// CPU time is steadier than wall time on a shared machine: neighbours slow a
			// request down far more than they make it cost more. It includes the upstream's
			// share, which no change to the gateway moves.
			b.ReportMetric(float64(processCPU(b)-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

const benchProduct = `{"id":"00000000-0000-4000-8000-000000000101","name":"Tracing Mug",` +
	`"description":"Holds one coffee and one root span.","category":"kitchen","price_cents":1200,"stock":50,"sold":0}` + "\n"

// benchHandler builds the gateway's handler as run does, with product-service resolved to
// upstream and a rate limit no benchmark reaches.
func benchHandler(b *testing.B, sampler sdktrace.Sampler, upstream string) http.Handler {
	b.Helper()
	env := map[string]string{"SERVICE_NAME": "gateway", "RATE_LIMIT_RPS": "1e9", "RATE_LIMIT_BURST": "1000000000"}
	cfg, err := config.Load[Config](func(k string) string { return env[k] })
	if err != nil {
		b.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(b.TempDir(), "access.log"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { logFile.Close() })
	tel, err := telemetry.Setup(context.Background(), telemetry.Options{
		ServiceName: cfg.ServiceName, Stdout: logFile, Sampler: sampler,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	resolver := discovery.NewStaticResolver(map[string][]string{cfg.ProductService: {upstream}})
	handler, err := newHandler(cfg, tel, resolver)
	if err != nil {
		b.Fatal(err)
	}
	return handler
}

// processCPU is the CPU time (user and system) the process has used so far.
func processCPU(b *testing.B) time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		b.Fatal(err)
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

// discardWriter is the cheapest http.ResponseWriter that still records the status.
type discardWriter struct {
	header http.Header
	status int
}

func (w *discardWriter) Header() http.Header { return w.header }

func (w *discardWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *discardWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(b), nil
}

// Flush lets ReverseProxy flush, as it does for answers of unknown length.
func (w *discardWriter) Flush() {}
