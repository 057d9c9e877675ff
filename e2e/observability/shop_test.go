package observability

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/tracecart/tracecart/shared/testinfra"
)

// Seeded demo data (see the services' seed code): a customer who can afford a mug.
const (
	alice        = "alice@example.com"
	demoPassword = "tracecart-demo"
	tracingMug   = "00000000-0000-4000-8000-000000000101"
)

// localShop is the four services running as processes of this test, found by the gateway
// through a real Consul, against real Postgres and Kafka: the cheapest way to get each service's
// real /metrics after a real saga.
type localShop struct {
	gateway  string            // http://127.0.0.1:port
	services map[string]string // service name → base URL, the gateway included
	metrics  map[string]string // service name → base URL of its internal listener (/metrics)
	brokers  string            // the Kafka bootstrap address
}

// startLocalShop starts the four services; gatewayEnv adds to the gateway's environment.
func startLocalShop(t *testing.T, gatewayEnv map[string]string) *localShop {
	t.Helper()
	consul := testinfra.NewConsul(t)
	brokers := testinfra.Kafka(t)
	common := map[string]string{
		"KAFKA_BROKERS":        brokers,
		"OTEL_TRACES_EXPORTER": "none",
		"DRAIN_DELAY":          "0s",
		"SEED_DEMO_DATA":       "true",
		"DEMO_MODE":            "true", // user-service signs with a throwaway key
	}
	s := &localShop{services: map[string]string{}, metrics: map[string]string{}, brokers: brokers}
	for _, name := range []string{"user-service", "product-service", "order-service", "gateway"} {
		env := consul.ServiceEnv(t, name)
		for k, v := range common {
			env[k] = v
		}
		if name == "gateway" {
			for k, v := range gatewayEnv {
				env[k] = v
			}
		} else {
			env["DATABASE_URL"] = testinfra.Postgres(t)
		}
		bin := testinfra.StartService(t, "github.com/tracecart/tracecart/"+name+"/cmd/"+name, env)
		s.services[name] = "http://" + bin.Addr
		s.metrics[name] = "http://" + bin.InternalAddr
	}
	s.gateway = s.services["gateway"]
	for name, base := range s.services {
		testinfra.WaitFor(t, 60*time.Second, name+" to be ready", func() error {
			return expectStatus(t, base+"/health/ready", http.StatusOK)
		})
	}
	return s
}

// expectStatus GETs url and reports an error unless it answers want.
func expectStatus(t testing.TB, url string, want int) error {
	t.Helper()
	status, body, err := do(t.Context(), http.MethodGet, url, "", nil, nil)
	if err != nil {
		return err
	}
	if status != want {
		return fmt.Errorf("GET %s = %d, want %d: %.200s", url, status, want, body)
	}
	return nil
}

// do sends a JSON request (body may be nil) and returns the status and the raw body, and the
// response headers through header when it is not nil.
func do(ctx context.Context, method, url, token string, body any, header *http.Header) (int, []byte, error) {
	var reader io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, fmt.Errorf("encode %s %s: %w", method, url, err)
		}
		reader = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, reader)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if header != nil {
		*header = resp.Header
	}
	return resp.StatusCode, raw, err
}

// placedOrder is what placeOrderAndConfirm learned: the order, and the trace the gateway gave it.
type placedOrder struct {
	ID      string
	TraceID string
}

// login logs alice in through the gateway and returns her bearer token.
func login(t *testing.T, gateway string) string {
	t.Helper()
	var token struct {
		AccessToken string `json:"access_token"`
	}
	mustJSON(t, http.MethodPost, gateway+"/api/auth/login", "",
		map[string]string{"email": alice, "password": demoPassword}, http.StatusOK, &token, nil)
	return token.AccessToken
}

// placeOrderAndConfirm orders a mug through the gateway and waits until the saga has confirmed
// the order, as the storefront would.
func placeOrderAndConfirm(t *testing.T, gateway, token string) placedOrder {
	t.Helper()
	var created struct {
		ID string `json:"id"`
	}
	var header http.Header
	mustJSON(t, http.MethodPost, gateway+"/api/orders", token,
		map[string]any{"lines": []map[string]any{{"product_id": tracingMug, "quantity": 1}}},
		http.StatusAccepted, &created, &header)
	placed := placedOrder{ID: created.ID, TraceID: header.Get("X-Trace-Id")}

	testinfra.WaitFor(t, 30*time.Second, "order "+placed.ID+" to be confirmed", func() error {
		var o struct {
			Status string `json:"status"`
			Reason string `json:"reason"`
		}
		status, raw, err := do(t.Context(), http.MethodGet, gateway+"/api/orders/"+placed.ID, token, nil, nil)
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			return fmt.Errorf("GET order = %d: %.200s", status, raw)
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			return fmt.Errorf("decode order %s: %w", raw, err)
		}
		switch o.Status {
		case "CONFIRMED":
			return nil
		case "REJECTED", "CANCELLED":
			t.Fatalf("order ended %s (%s), want CONFIRMED", o.Status, o.Reason)
		}
		return fmt.Errorf("status %s", o.Status)
	})
	return placed
}

// mustJSON is do that fails the test unless the answer has status want, and decodes it into out.
func mustJSON(t *testing.T, method, url, token string, body any, want int, out any, header *http.Header) {
	t.Helper()
	status, raw, err := do(t.Context(), method, url, token, body, header)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if status != want {
		t.Fatalf("%s %s = %d, want %d: %.300s", method, url, status, want, raw)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("%s %s: decode %.300s: %v", method, url, raw, err)
	}
}
