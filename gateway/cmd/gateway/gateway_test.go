package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/hashicorp/consul/api"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracecart/tracecart/shared/auth"
	"github.com/tracecart/tracecart/shared/discovery"
	"github.com/tracecart/tracecart/shared/testinfra"
)

// TestBinaryServesThroughConsul runs the real gateway binary against a real Consul agent and
// stand-ins for the services, registered there as the services register themselves. It proves
// run's wiring: the gateway starts and serves the catalogue before user-service exists, answers
// private routes 503 until user-service's keys can be fetched, then lets tokens through.
func TestBinaryServesThroughConsul(t *testing.T) {
	consul := testinfra.NewConsul(t)
	client, err := api.NewClient(&api.Config{Address: consul.Addr(), Token: consul.Token()})
	if err != nil {
		t.Fatal(err)
	}
	products := standIn(t, client, "product-service", nil)
	orders := standIn(t, client, "order-service", nil)

	bin := testinfra.StartBinary(t, map[string]string{
		"CONSUL_HTTP_ADDR":  consul.Addr(),
		"CONSUL_HTTP_TOKEN": consul.Token(),
		"JAEGER_UI_URL":     "http://jaeger.example:16686",
	})
	base := "http://" + bin.Addr
	testinfra.WaitFor(t, 30*time.Second, "the gateway to serve the catalogue", func() error {
		status, _, _ := get(t, base+"/api/products", "")
		if status != http.StatusOK {
			return fmt.Errorf("status %d", status)
		}
		return nil
	})

	// The catalogue, through Consul, with the trace ID the service saw.
	status, header, _ := get(t, base+"/api/products?limit=3", "")
	if status != http.StatusOK {
		t.Fatalf("GET /api/products = %d", status)
	}
	if id := header.Get("X-Trace-Id"); id == "" || id != products.lastTraceID() {
		t.Errorf("X-Trace-Id %q, product-service saw trace %q", id, products.lastTraceID())
	}
	// The page, with the configured Jaeger address.
	if status, header, body := get(t, base+"/", ""); status != http.StatusOK ||
		!strings.Contains(body, "http://jaeger.example:16686") || header.Get("Content-Security-Policy") == "" {
		t.Errorf("GET / = %d, CSP %q; want the page linking to the configured Jaeger", status, header.Get("Content-Security-Policy"))
	}

	// No user-service yet: a token cannot be checked, which is the gateway's problem, not the
	// client's (503), while a request without a token is plainly unauthorised (401).
	keys := newKeySet(t)
	token := sign(t, keys, "00000000-0000-4000-8000-00000000a11c")
	if status, _, _ := get(t, base+"/api/orders", ""); status != http.StatusUnauthorized {
		t.Errorf("GET /api/orders without a token = %d, want 401", status)
	}
	if status, _, body := get(t, base+"/api/orders", token); status != http.StatusServiceUnavailable {
		t.Errorf("GET /api/orders before user-service is up = %d, want 503: %s", status, body)
	}

	// user-service comes up; once its keys are fetched, the token is good.
	standIn(t, client, "user-service", keys)
	testinfra.WaitFor(t, 30*time.Second, "tokens to be accepted", func() error {
		if status, _, body := get(t, base+"/api/orders", token); status != http.StatusOK {
			return fmt.Errorf("status %d: %s", status, body)
		}
		return nil
	})
	if orders.hits.Load() == 0 {
		t.Error("order-service got no request")
	}
	if err := bin.Terminate(t, 15*time.Second); err != nil {
		t.Errorf("gateway exited with %v", err)
	}
}

// service is a stand-in for a tracecart service: it answers 200 with JSON, passes its health
// check, serves a JWKS if given keys, and remembers the trace of the last request.
type service struct {
	hits      atomic.Int64
	lastTrace atomic.Value
}

func (s *service) lastTraceID() string {
	id, _ := s.lastTrace.Load().(string)
	return id
}

func standIn(t *testing.T, client *api.Client, name string, keys *auth.KeySet) *service {
	t.Helper()
	s := &service{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health/ready", func(w http.ResponseWriter, r *http.Request) {})
	if keys != nil {
		mux.Handle("GET /.well-known/jwks.json", keys.JWKSHandler())
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(r.Context(), propagation.HeaderCarrier(r.Header)))
		s.lastTrace.Store(sc.TraceID().String())
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"service":%q,"items":[]}`, name)
	})
	server := httptest.NewServer(mux)
	t.Cleanup(server.Close)
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(server.URL, "http://"))
	p, _ := strconv.Atoi(port)
	if _, err := discovery.Register(t.Context(), client, discovery.Registration{
		Service: name, Address: host, Port: p, CheckInterval: time.Second,
	}); err != nil {
		t.Fatal(err)
	}
	return s
}

func newKeySet(t *testing.T) *auth.KeySet {
	t.Helper()
	key, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := auth.NewKeySet(key)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func sign(t *testing.T, keys *auth.KeySet, subject string) string {
	t.Helper()
	now := time.Now()
	token, err := keys.Sign(auth.Claims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: "tracecart", Audience: jwt.ClaimStrings{"tracecart"}, Subject: subject,
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
	}})
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func get(t *testing.T, url, token string) (int, http.Header, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}
