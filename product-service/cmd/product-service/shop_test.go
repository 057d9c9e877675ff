package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/tracecart/tracecart/shared/auth"
	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/kafka"
	"github.com/tracecart/tracecart/shared/testinfra"
)

// TestBinaryServesTheShop proves the wiring in run, on the real binary: the demo catalogue is
// seeded, admin writes are verified against a JWKS fetched through the discovery-aware client
// (a host:port URL, dialled as written), and the saga consumer, the outbox and the relay answer
// order.created on Kafka. It runs past 60 lines on purpose: one binary, started once (the
// slowest part), walked through as a user would, is easier to follow than helpers sharing it.
func TestBinaryServesTheShop(t *testing.T) {
	brokers := testinfra.Kafka(t)
	consul := testinfra.NewConsul(t)
	key, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := auth.NewKeySet(key)
	if err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(keys.JWKSHandler())
	t.Cleanup(jwks.Close)

	// A service name of its own, so its consumer group and Consul entry are the test's alone.
	service := testinfra.UniqueName(t, "product-service")
	bin := testinfra.StartBinary(t, map[string]string{
		"SERVICE_NAME":      service,
		"DATABASE_URL":      testinfra.Postgres(t),
		"KAFKA_BROKERS":     brokers,
		"CONSUL_HTTP_ADDR":  consul.Addr(),
		"CONSUL_HTTP_TOKEN": consul.Token(), // a service name of its own: its token would not do
		"JWKS_URL":          jwks.URL + "/.well-known/jwks.json",
		"DRAIN_DELAY":       "0s",
		"SEED_DEMO_DATA":    "true",
	})
	base := "http://" + bin.Addr
	testinfra.WaitFor(t, 60*time.Second, "product-service ready", func() error {
		if status, body := call(t, http.MethodGet, base+"/health/ready", "", ""); status != http.StatusOK {
			return fmt.Errorf("ready: %d %s", status, body)
		}
		return nil
	})

	if status, body := call(t, http.MethodGet, base+"/products?limit=100", "", ""); status != http.StatusOK || !strings.Contains(body, `"total":8`) {
		t.Errorf("GET /products = %d %s, want the 8 seeded products", status, body)
	}

	token := func(roles ...string) string {
		now := time.Now()
		signed, err := keys.Sign(auth.Claims{
			RegisteredClaims: jwt.RegisteredClaims{
				Issuer: "tracecart", Audience: jwt.ClaimStrings{"tracecart"}, Subject: uuid.NewString(),
				IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
			},
			Roles: roles,
		})
		if err != nil {
			t.Fatal(err)
		}
		return signed
	}
	newProduct := `{"name":"Wiring Loom","description":"","category":"desk","price_cents":500,"stock":3}`
	if status, body := call(t, http.MethodPost, base+"/products", token("customer"), newProduct); status != http.StatusForbidden {
		t.Errorf("POST /products as a customer = %d %s, want 403", status, body)
	}
	if status, body := call(t, http.MethodPost, base+"/products", token("customer", "admin"), newProduct); status != http.StatusCreated {
		t.Errorf("POST /products as an admin = %d %s, want 201", status, body)
	}

	// The saga, over Kafka: the lamp (stock 1) is reserved for the first order and refused to
	// the second.
	answers := watchInventory(t, brokers)
	producer := kafka.NewProducer([]string{brokers}, kafka.ProducerOptions{})
	t.Cleanup(func() { _ = producer.Close() })
	lamp := uuid.MustParse("00000000-0000-4000-8000-000000000108")
	for i, want := range []string{events.InventoryReserved, events.InventoryRejected} {
		order := uuid.New()
		env, err := events.New(events.OrderCreated, order, events.OrderCreatedPayload{
			UserID: uuid.New(), TotalCents: 6400,
			Lines: []events.Line{{ProductID: lamp, Quantity: 1, UnitPriceCents: 6400}},
		})
		if err != nil {
			t.Fatal(err)
		}
		value, _ := json.Marshal(env)
		err = producer.Publish(t.Context(), kafka.Record{Topic: events.TopicOrders, Key: order.String(), Value: value,
			Headers: map[string]string{kafka.HeaderEventID: env.ID.String(), kafka.HeaderEventType: env.Type}})
		if err != nil {
			t.Fatal(err)
		}
		got := answers.await(t, order, 30*time.Second)
		if got.Type != want {
			t.Errorf("order %d: answer %s %s, want %s", i+1, got.Type, got.Payload, want)
		}
	}
	if status, body := call(t, http.MethodGet, base+"/products/"+lamp.String(), "", ""); !strings.Contains(body, `"stock":0`) {
		t.Errorf("GET lamp = %d %s, want stock 0 after one reservation", status, body)
	}
}

// inventoryWatch collects the events product-service publishes on the inventory topic.
type inventoryWatch struct {
	events chan events.Envelope
	seen   map[uuid.UUID]events.Envelope
}

// watchInventory consumes the inventory topic with a group of its own until the test ends.
func watchInventory(t *testing.T, brokers string) *inventoryWatch {
	t.Helper()
	w := &inventoryWatch{events: make(chan events.Envelope, 100), seen: map[uuid.UUID]events.Envelope{}}
	consumer := kafka.NewConsumer([]string{brokers}, kafka.ConsumerOptions{
		GroupID: testinfra.UniqueName(t, "watch"), Topics: []string{events.TopicInventory},
		Handler: func(ctx context.Context, rec kafka.Record) error {
			if env, err := events.Decode(rec.Value); err == nil {
				w.events <- env
			}
			return nil
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = consumer.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; _ = consumer.Close() })
	return w
}

// await returns the first inventory event about order, failing the test after timeout.
func (w *inventoryWatch) await(t *testing.T, order uuid.UUID, timeout time.Duration) events.Envelope {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if env, ok := w.seen[order]; ok {
			return env
		}
		select {
		case env := <-w.events:
			if _, dup := w.seen[env.OrderID]; !dup {
				w.seen[env.OrderID] = env
			}
		case <-deadline:
			t.Fatalf("no inventory event for order %s within %s", order, timeout)
		}
	}
}

// call sends one request and returns the status and body.
func call(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}
