package proxy

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tracecart/tracecart/shared/discovery"
	"github.com/tracecart/tracecart/shared/httpclient"
)

// newProxy returns a proxy to "catalogue", which resolves to addr.
func newProxy(t *testing.T, addr string) http.Handler {
	t.Helper()
	return newLimitedProxy(t, addr, nil)
}

// newLimitedProxy returns a proxy to "catalogue", which resolves to addr, bounded by limit.
func newLimitedProxy(t *testing.T, addr string, limit *Limit) http.Handler {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	transport, err := NewTransport(TransportOptions{
		Resolver:       discovery.NewStaticResolver(map[string][]string{"catalogue": {addr}}),
		Retry:          httpclient.RetryPolicy{MaxAttempts: 1},
		TracerProvider: tracenoop.NewTracerProvider(), MeterProvider: metricnoop.NewMeterProvider(),
		Propagators: propagation.TraceContext{}, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Upstream{Service: "catalogue", StripPrefix: "/api", Timeout: 2 * time.Second, Limit: limit},
		Options{Transport: transport, RetryAfter: 3 * time.Second, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRewriteKeepsEscapedPaths(t *testing.T) {
	var gotPath, gotRaw string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotRaw = r.URL.Path, r.URL.EscapedPath()
	}))
	t.Cleanup(upstream.Close)
	p := newProxy(t, strings.TrimPrefix(upstream.URL, "http://"))

	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/products/a%2Fb?q=x", nil))
	if rec.Code != http.StatusOK || gotPath != "/products/a/b" || gotRaw != "/products/a%2Fb" {
		t.Errorf("status %d, upstream path %q (escaped %q); want /products/a%%2Fb kept escaped", rec.Code, gotPath, gotRaw)
	}
}

func TestUnreachableUpstreamAnswers502(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	p := newProxy(t, addr)

	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/products", nil))
	if rec.Code != http.StatusBadGateway || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Errorf("status %d %s, want a 502 problem", rec.Code, rec.Header().Get("Content-Type"))
	}
	if strings.Contains(rec.Body.String(), addr) {
		t.Errorf("the problem reveals the instance's address: %s", rec.Body)
	}
}

func TestRetryAfterRoundsUp(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "1", 300 * time.Millisecond: "1", 5 * time.Second: "5", 5100 * time.Millisecond: "6"} {
		if got := retryAfter(d); got != want {
			t.Errorf("retryAfter(%v) = %s, want %s", d, got, want)
		}
	}
}
