package httpclient

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tracecart/tracecart/shared/testinfra"
)

func TestMain(m *testing.M) { os.Exit(testinfra.Main(m)) }

// upstream is a real HTTP server on 127.0.0.1 standing in for a service. It answers every
// request with the status the test sets, and remembers what it received. Its readiness
// endpoint, which Consul polls, always passes and is not counted.
type upstream struct {
	server *httptest.Server
	status atomic.Int64
	hits   atomic.Int64

	mu       sync.Mutex
	received []*http.Request
	bodies   []string
}

func startUpstream(t *testing.T, status int) *upstream {
	t.Helper()
	u := &upstream{}
	u.status.Store(int64(status))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health/ready", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.received = append(u.received, r)
		u.bodies = append(u.bodies, string(body))
		u.mu.Unlock()
		u.hits.Add(1)
		w.WriteHeader(int(u.status.Load()))
		fmt.Fprint(w, r.URL.Path)
	})
	u.server = httptest.NewServer(mux)
	t.Cleanup(u.server.Close)
	return u
}

// host is the "127.0.0.1:port" the upstream listens on, which is also its breaker's name.
func (u *upstream) host() string { return u.server.Listener.Addr().String() }

func (u *upstream) requests() ([]*http.Request, []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]*http.Request(nil), u.received...), append([]string(nil), u.bodies...)
}

// telemetry records what the client reports: spans, and metrics on demand.
type telemetry struct {
	spans          *tracetest.SpanRecorder
	metrics        *sdkmetric.ManualReader
	tracerProvider *sdktrace.TracerProvider
	meterProvider  *sdkmetric.MeterProvider
}

func newTelemetry(t *testing.T) *telemetry {
	t.Helper()
	tel := &telemetry{spans: tracetest.NewSpanRecorder(), metrics: sdkmetric.NewManualReader()}
	tel.tracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tel.spans))
	tel.meterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(tel.metrics))
	t.Cleanup(func() {
		_ = tel.tracerProvider.Shutdown(context.Background())
		_ = tel.meterProvider.Shutdown(context.Background())
	})
	return tel
}

// client returns New(opts) reporting to tel and logging to the test's output.
func (tel *telemetry) client(t *testing.T, opts Options) *http.Client {
	t.Helper()
	opts.TracerProvider = tel.tracerProvider
	opts.MeterProvider = tel.meterProvider
	opts.Propagators = propagation.TraceContext{}
	opts.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	c, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// metricValue returns the value an int64 gauge or counter reports for an upstream.
func (tel *telemetry) metricValue(t *testing.T, name, upstream string) (value int64, found bool) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tel.metrics.Collect(t.Context(), &rm); err != nil {
		t.Fatalf("collect metrics: %v", err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			var points []metricdata.DataPoint[int64]
			switch data := m.Data.(type) {
			case metricdata.Gauge[int64]:
				points = data.DataPoints
			case metricdata.Sum[int64]:
				points = data.DataPoints
			default:
				t.Fatalf("metric %s has data %T, want an int64 gauge or sum", name, m.Data)
			}
			for _, p := range points {
				if v, ok := p.Attributes.Value("upstream"); ok && v.AsString() == upstream {
					return p.Value, true
				}
			}
		}
	}
	return 0, false
}

// call sends a request and reads the whole answer, so that its client span ends.
func call(t *testing.T, client *http.Client, req *http.Request) (status int, err error) {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

func newRequest(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// closedAddr returns a loopback address on which nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// waitFor polls check until it returns nil, failing the test after ten seconds.
func waitFor(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
