package httpapi_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracecart/tracecart/gateway/internal/httpapi"
	"github.com/tracecart/tracecart/gateway/internal/httpcache"
	"github.com/tracecart/tracecart/gateway/internal/proxy"
	"github.com/tracecart/tracecart/gateway/internal/ratelimit"
	"github.com/tracecart/tracecart/gateway/internal/storefront"
	"github.com/tracecart/tracecart/shared/auth"
	"github.com/tracecart/tracecart/shared/discovery"
	"github.com/tracecart/tracecart/shared/httpclient"
	"github.com/tracecart/tracecart/shared/httpserver"
)

// Service names the gateway resolves, as in production.
const (
	userService    = "user-service"
	productService = "product-service"
	orderService   = "order-service"
)

// service is a stand-in for one instance of a tracecart service: a real HTTP server on
// 127.0.0.1 that answers like the service would (JSON, its own readiness endpoint, the JWKS
// for user-service) and records what reached it, so a test can check what the gateway sent.
type service struct {
	name   string
	server *httptest.Server
	keys   *auth.KeySet // served at /.well-known/jwks.json when set

	healthy atomic.Bool
	hits    atomic.Int64
	// handle answers the API requests; tests swap it to make the service fail, stall or
	// answer something particular. The default answers 200 with who and what was asked.
	handle atomic.Pointer[http.HandlerFunc]

	mu   sync.Mutex
	seen []*http.Request
	body []string
}

func startService(t testing.TB, name string, keys *auth.KeySet) *service {
	t.Helper()
	s := &service{name: name, keys: keys}
	s.healthy.Store(true)
	s.answer(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"service": name, "instance": s.addr(), "path": r.URL.Path})
	})
	s.server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.server.Close)
	return s
}

func (s *service) addr() string {
	if s.server == nil {
		return ""
	}
	return strings.TrimPrefix(s.server.URL, "http://")
}

func (s *service) answer(h http.HandlerFunc) { s.handle.Store(&h) }

func (s *service) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/health/ready":
		if !s.healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		return
	case r.URL.Path == "/.well-known/jwks.json" && s.keys != nil:
		s.keys.JWKSHandler().ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.seen = append(s.seen, r.Clone(context.Background()))
	s.body = append(s.body, string(body))
	s.mu.Unlock()
	s.hits.Add(1)
	(*s.handle.Load())(w, r)
}

// requests returns the API requests the instance got, and their bodies.
func (s *service) requests() ([]*http.Request, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*http.Request(nil), s.seen...), append([]string(nil), s.body...)
}

func (s *service) last(t *testing.T) *http.Request {
	t.Helper()
	reqs, _ := s.requests()
	if len(reqs) == 0 {
		t.Fatalf("%s got no request", s.name)
	}
	return reqs[len(reqs)-1]
}

// gatewayOptions tunes newGateway; zero fields get values that keep the tests fast.
type gatewayOptions struct {
	resolver discovery.Resolver // nil: a static resolver to the three stand-ins
	limit    ratelimit.Limit
	breaker  httpclient.BreakerSettings
	retry    httpclient.RetryPolicy
	timeout  time.Duration
	maxBody  int64
	clock    *clock
}

// gateway is the gateway under test, assembled from the same parts as run assembles it and
// served on a real loopback server, with its telemetry kept in memory.
type gateway struct {
	url    string
	keys   *auth.KeySet
	signer ed25519.PrivateKey
	keyID  string
	reader *sdkmetric.ManualReader
	clock  *clock

	users, products, orders *service
}

func newGateway(t testing.TB, o gatewayOptions) *gateway {
	t.Helper()
	_, private, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := auth.NewKey(private)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := auth.NewKeySet(key)
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{keys: keys, signer: private, keyID: key.ID(), clock: o.clock, reader: sdkmetric.NewManualReader()}
	if g.clock == nil {
		g.clock = &clock{}
	}
	g.users = startService(t, userService, keys)
	g.products = startService(t, productService, nil)
	g.orders = startService(t, orderService, nil)

	resolver := o.resolver
	if resolver == nil {
		resolver = discovery.NewStaticResolver(map[string][]string{
			userService: {g.users.addr()}, productService: {g.products.addr()}, orderService: {g.orders.addr()},
		})
	}
	if o.limit == (ratelimit.Limit{}) {
		o.limit = ratelimit.Limit{Rate: 1000, Burst: 1000}
	}
	if o.breaker == (httpclient.BreakerSettings{}) {
		o.breaker = httpclient.BreakerSettings{MinimumCalls: 1000}
	}
	if o.retry == (httpclient.RetryPolicy{}) {
		o.retry = httpclient.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}
	}
	if o.timeout == 0 {
		o.timeout = 5 * time.Second
	}

	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	tracerProvider := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	meterProvider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(g.reader))
	propagator := propagation.TraceContext{}

	transport, err := proxy.NewTransport(proxy.TransportOptions{
		Resolver: resolver, Breaker: o.breaker, Retry: o.retry,
		TracerProvider: tracerProvider, MeterProvider: meterProvider, Propagators: propagator, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := auth.NewVerifier(auth.VerifierOptions{
		JWKSURL: "http://" + userService + "/.well-known/jwks.json", Issuer: "tracecart", Audience: "tracecart",
		HTTPClient: &http.Client{Transport: transport, Timeout: 5 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	limiter, err := ratelimit.New(o.limit)
	if err != nil {
		t.Fatal(err)
	}
	cache, err := httpcache.New(httpcache.Options{
		PerResponse: []string{httpserver.HeaderRequestID, proxy.HeaderTraceID}, MeterProvider: meterProvider, Now: g.clock.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	to := func(service string) http.Handler {
		h, err := proxy.New(proxy.Upstream{Service: service, StripPrefix: "/api", Timeout: o.timeout},
			proxy.Options{Transport: transport, RetryAfter: cmpOr(o.breaker.OpenTimeout, 5*time.Second), Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	page, err := storefront.New(storefront.Options{JaegerUIURL: "http://127.0.0.1:16686"})
	if err != nil {
		t.Fatal(err)
	}
	handler, err := httpapi.NewServer(httpapi.Deps{
		Router: httpserver.RouterOptions{
			ServiceName: "gateway", Logger: logger,
			TracerProvider: tracerProvider, MeterProvider: meterProvider, Propagator: propagator,
			MaxBodyBytes: o.maxBody,
		},
		Verifier: verifier, Limiter: limiter, Cache: cache,
		Upstreams: httpapi.Upstreams{
			Auth: to(userService), Users: to(userService), Products: to(productService), Orders: to(orderService),
		},
		Storefront: page,
		Now:        g.clock.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	server := httptest.NewServer(handler)
	t.Cleanup(server.Close)
	g.url = server.URL
	return g
}

func cmpOr(d, fallback time.Duration) time.Duration {
	if d == 0 {
		return fallback
	}
	return d
}

// clock is the rate limiter's and the cache's time: real time plus whatever the test added,
// so tests can pass a refill or an expiry without sleeping.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// token returns a valid access token for subject, changed by edit if given.
func (g *gateway) token(t *testing.T, subject string, edit func(*auth.Claims)) string {
	t.Helper()
	now := time.Now()
	claims := auth.Claims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: "tracecart", Audience: jwt.ClaimStrings{"tracecart"}, Subject: subject,
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
	}, Roles: []string{"customer"}}
	if edit != nil {
		edit(&claims)
	}
	signed, err := g.keys.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// request is one call to the gateway.
type request struct {
	method, path string
	body         string
	header       http.Header
	token        string
}

// response is the gateway's answer, read whole.
type response struct {
	status int
	header http.Header
	body   string
	took   time.Duration
}

func (r response) problem(t *testing.T) httpserver.Problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json (status %d, body %s)", ct, r.status, r.body)
	}
	var p httpserver.Problem
	if err := json.Unmarshal([]byte(r.body), &p); err != nil {
		t.Fatalf("decode problem %q: %v", r.body, err)
	}
	if p.Status != r.status {
		t.Errorf("problem status %d, answer status %d", p.Status, r.status)
	}
	return p
}

func (g *gateway) do(t *testing.T, req request) response {
	t.Helper()
	var body io.Reader
	if req.body != "" {
		body = strings.NewReader(req.body)
	}
	method := req.method
	if method == "" {
		method = http.MethodGet
	}
	r, err := http.NewRequestWithContext(t.Context(), method, g.url+req.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if req.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, vv := range req.header {
		r.Header[k] = vv
	}
	if req.token != "" {
		r.Header.Set("Authorization", "Bearer "+req.token)
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", method, req.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, req.path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b), took: time.Since(start)}
}

// metric returns the sum of the counter (or the value of the gauge) name for the data points
// with attribute key=value, or all data points if key is "".
func (g *gateway) metric(t *testing.T, name, key, value string) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := g.reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			var points []metricdata.DataPoint[int64]
			switch data := m.Data.(type) {
			case metricdata.Sum[int64]:
				points = data.DataPoints
			case metricdata.Gauge[int64]:
				points = data.DataPoints
			}
			for _, p := range points {
				if v, ok := p.Attributes.Value(attribute.Key(key)); key == "" || (ok && v.AsString() == value) {
					total += p.Value
				}
			}
		}
	}
	return total
}

// traceIDOf extracts the trace ID of the traceparent a service received.
func traceIDOf(r *http.Request) string {
	sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), propagation.HeaderCarrier(r.Header)))
	if !sc.IsValid() {
		return ""
	}
	return sc.TraceID().String()
}

func staticResolver(m map[string][]string) discovery.Resolver { return discovery.NewStaticResolver(m) }
