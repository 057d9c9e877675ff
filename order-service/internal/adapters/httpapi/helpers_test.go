package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/tracecart/tracecart/order-service/internal/adapters/httpapi"
	"github.com/tracecart/tracecart/order-service/internal/adapters/postgres"
	"github.com/tracecart/tracecart/order-service/internal/adapters/postgres/postgrestest"
	"github.com/tracecart/tracecart/order-service/internal/adapters/productservice"
	"github.com/tracecart/tracecart/order-service/internal/app"
	"github.com/tracecart/tracecart/shared/auth"
	"github.com/tracecart/tracecart/shared/discovery"
	"github.com/tracecart/tracecart/shared/httpclient"
	"github.com/tracecart/tracecart/shared/httpserver"
	"github.com/tracecart/tracecart/shared/testinfra"
)

func TestMain(m *testing.M) { os.Exit(testinfra.Main(m)) }

// The seeded products the tests order, with their catalogue prices.
var (
	mug   = uuid.MustParse("00000000-0000-4000-8000-000000000101")
	socks = uuid.MustParse("00000000-0000-4000-8000-000000000102")
	lamp  = uuid.MustParse("00000000-0000-4000-8000-000000000108")

	catalogue = map[uuid.UUID]int64{mug: 1200, socks: 900, lamp: 6400}
)

var (
	alice = uuid.MustParse("00000000-0000-4000-8000-00000000a11c")
	bob   = uuid.MustParse("00000000-0000-4000-8000-000000000b0b")
)

const retryAfter = 5 * time.Second

// env is order-service's HTTP API as production wires it, on a real loopback server: the real
// router and auth middleware, the real store on a real database, and the real resilient HTTP
// client calling two real HTTP servers that play product-service and user-service's JWKS
// endpoint, found through a static resolver instead of Consul.
type env struct {
	t        *testing.T
	pool     *pgxpool.Pool
	api      *httptest.Server
	products *productService
	keys     *auth.KeySet
}

// breakerMinimumCalls is the product-service breaker's MinimumCalls in these tests: fewer than
// the default, so a test sees it open after a few calls that all fail.
const breakerMinimumCalls = 5

// Over 60 lines: it wires the API as run does, one part after the other.
func newEnv(t *testing.T, tweaks ...func(*app.Options)) *env {
	t.Helper()
	e := &env{t: t, pool: postgrestest.New(t), products: newProductService(t)}

	key, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if e.keys, err = auth.NewKeySet(key); err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(e.keys.JWKSHandler())
	t.Cleanup(jwks.Close)

	logger := slog.New(slog.DiscardHandler)
	tracing := sdktrace.NewTracerProvider() // records spans, so trace context really flows
	t.Cleanup(func() { _ = tracing.Shutdown(t.Context()) })
	propagator := propagation.TraceContext{}

	resolver := discovery.NewStaticResolver(map[string][]string{
		"product-service": {e.products.server.Listener.Addr().String()},
		"user-service":    {jwks.Listener.Addr().String()},
	})
	client, err := httpclient.New(httpclient.Options{
		Resolver: resolver, Logger: logger, TracerProvider: tracing, Propagators: propagator,
		Breaker: httpclient.BreakerSettings{MinimumCalls: breakerMinimumCalls, OpenTimeout: retryAfter},
	})
	if err != nil {
		t.Fatal(err)
	}
	catalog, err := productservice.New(client, "http://product-service")
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := auth.NewVerifier(auth.VerifierOptions{
		JWKSURL: "http://user-service/.well-known/jwks.json", Issuer: "tracecart", Audience: "tracecart",
		HTTPClient: client,
	})
	if err != nil {
		t.Fatal(err)
	}
	store := postgres.NewStore(e.pool)
	opts := app.Options{
		Orders: store, Changes: store, Catalog: catalog,
		Sweep:          app.SweepOptions{Timeout: time.Minute, Interval: time.Minute},
		Reconcile:      app.ReconcileOptions{Grace: time.Minute, MaxBackoff: time.Minute, Interval: time.Minute},
		TracerProvider: tracing, MeterProvider: noop.NewMeterProvider(), Logger: logger,
	}
	for _, tweak := range tweaks {
		tweak(&opts)
	}
	orders, err := app.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	handler, err := httpapi.NewServer(httpapi.Deps{
		Router: httpserver.RouterOptions{
			ServiceName: "order-service", Logger: logger, TracerProvider: tracing, Propagator: propagator,
		},
		Verifier: verifier, App: orders, RetryAfter: retryAfter,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.api = httptest.NewServer(handler)
	t.Cleanup(e.api.Close)
	return e
}

// token returns a valid customer token for user, signed by user-service's keys.
func (e *env) token(user uuid.UUID) string {
	return signToken(e.t, e.keys, user, time.Now().Add(time.Hour))
}

func signToken(t testing.TB, keys *auth.KeySet, user uuid.UUID, expires time.Time) string {
	t.Helper()
	token, err := keys.Sign(auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: "tracecart", Audience: jwt.ClaimStrings{"tracecart"}, Subject: user.String(),
			IssuedAt: jwt.NewNumericDate(expires.Add(-2 * time.Hour)), ExpiresAt: jwt.NewNumericDate(expires),
		},
		Roles: []string{"customer"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// response is an answer of the API, read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

// request is one call to the API; zero fields are left out.
type request struct {
	method, path string
	token        string
	body         string
	header       map[string]string
}

func (e *env) do(req request) response {
	e.t.Helper()
	var body io.Reader
	if req.body != "" {
		body = strings.NewReader(req.body)
	}
	r, err := http.NewRequestWithContext(e.t.Context(), req.method, e.api.URL+req.path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if req.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if req.token != "" {
		r.Header.Set("Authorization", "Bearer "+req.token)
	}
	for k, v := range req.header {
		r.Header.Set(k, v)
	}
	return send(e.t, r)
}

// send sends r and reads the whole answer.
func send(t testing.TB, r *http.Request) response {
	t.Helper()
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// post places an order for user with body and returns the answer.
func (e *env) post(user uuid.UUID, body string, header map[string]string) response {
	e.t.Helper()
	return e.do(request{method: http.MethodPost, path: "/orders", token: e.token(user), body: body, header: header})
}

// placeOrder places an order that must be accepted, and returns it.
func (e *env) placeOrder(user uuid.UUID, body string) orderJSON {
	e.t.Helper()
	resp := e.post(user, body, nil)
	if resp.status != http.StatusAccepted {
		e.t.Fatalf("POST /orders = %d %s, want 202", resp.status, resp.body)
	}
	return decode[orderJSON](e.t, resp)
}

// orderJSON mirrors the API's order document, to check each field.
type orderJSON struct {
	ID         uuid.UUID  `json:"id"`
	UserID     uuid.UUID  `json:"user_id"`
	Status     string     `json:"status"`
	Reason     string     `json:"reason"`
	Lines      []lineJSON `json:"lines"`
	TotalCents int64      `json:"total_cents"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
}

type lineJSON struct {
	ProductID      uuid.UUID `json:"product_id"`
	Quantity       int       `json:"quantity"`
	UnitPriceCents int64     `json:"unit_price_cents"`
}

type problemJSON struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// decode parses a JSON answer strictly, so a field the API adds or renames is noticed.
func decode[T any](t testing.TB, resp response) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(string(resp.body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %T from %s: %v", v, resp.body, err)
	}
	return v
}

// problem checks that resp is a problem+json document with status, and returns it.
func problem(t testing.TB, resp response, status int) problemJSON {
	t.Helper()
	if resp.status != status {
		t.Fatalf("status = %d, want %d; body %s", resp.status, status, resp.body)
	}
	if ct := resp.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json; body %s", ct, resp.body)
	}
	var p problemJSON
	if err := json.Unmarshal(resp.body, &p); err != nil {
		t.Fatalf("decode problem %s: %v", resp.body, err)
	}
	if p.Status != status {
		t.Errorf("problem status = %d, want %d", p.Status, status)
	}
	return p
}

// productService plays product-service's GET /products/{id} on a real loopback HTTP server.
// It counts the calls it gets, remembers the traceparent of the last one, and can be told to
// fail with 500s.
type productService struct {
	server  *httptest.Server
	calls   atomic.Int64
	failing atomic.Bool

	mu          sync.Mutex
	traceparent string
}

func newProductService(t *testing.T) *productService {
	p := &productService{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /products/{id}", func(w http.ResponseWriter, r *http.Request) {
		p.calls.Add(1)
		p.mu.Lock()
		p.traceparent = r.Header.Get("traceparent")
		p.mu.Unlock()
		if p.failing.Load() {
			http.Error(w, `{"title":"Internal Server Error"}`, http.StatusInternalServerError)
			return
		}
		id, err := uuid.Parse(r.PathValue("id"))
		price, ok := catalogue[id]
		if err != nil || !ok {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"type":"about:blank","title":"Not Found","status":404,"detail":"product %s not found"}`, r.PathValue("id"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":%q,"name":"product %s","description":"","category":"kitchen","price_cents":%d,"stock":10}`,
			id, id, price)
	})
	p.server = httptest.NewServer(mux)
	t.Cleanup(p.server.Close)
	return p
}

func (p *productService) lastTraceparent() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.traceparent
}
