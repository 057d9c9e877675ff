package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
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

// TestSagaThroughKafka runs order-service as run wires it, against real Postgres, Kafka and
// Consul, with product-service and user-service's key set played by HTTP servers, and drives
// one order through the saga from the outside: POST /orders puts order.created on Kafka,
// a payment.succeeded on Kafka confirms the order and puts order.confirmed on Kafka, and a
// malformed message ends up in the dead-letter topic without stopping the consumer.
//
// Over 60 lines: one story told in the order it happens; split up, the sequence would be harder to follow.
func TestSagaThroughKafka(t *testing.T) {
	brokers := []string{testinfra.Kafka(t)}
	consul := testinfra.NewConsul(t)
	service := testinfra.UniqueName(t, "order-service") // its own consumer group and dead-letter topic

	mug := uuid.MustParse("00000000-0000-4000-8000-000000000101")
	products := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/products/"+mug.String() {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, `{"id":%q,"name":"Tracing Mug","price_cents":1200}`, mug)
	}))
	t.Cleanup(products.Close)
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

	addr := freeAddr(t)
	env := map[string]string{
		"SERVICE_NAME":        service,
		"DATABASE_URL":        testinfra.Postgres(t),
		"KAFKA_BROKERS":       brokers[0],
		"CONSUL_HTTP_ADDR":    consul.Addr(),
		"CONSUL_HTTP_TOKEN":   consul.Token(),
		"HTTP_ADDR":           addr,
		"ADVERTISE_ADDRESS":   "127.0.0.1",
		"DRAIN_DELAY":         "0s",
		"PRODUCT_SERVICE_URL": products.URL, // a URL with a port is called as written, not resolved
		"JWKS_URL":            jwks.URL + "/.well-known/jwks.json",
		"LOG_LEVEL":           "warn",
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, func(k string) string { return env[k] }, io.Discard) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run = %v, want a clean stop", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("run did not stop")
		}
	})
	base := "http://" + addr
	testinfra.WaitFor(t, 30*time.Second, "order-service ready", func() error {
		resp, err := http.Get(base + "/health/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("ready = %d", resp.StatusCode)
		}
		return nil
	})

	orders := consume(t, brokers, events.TopicOrders)
	deadLetters := consume(t, brokers, service+".dlq")

	// Place an order: it is announced on Kafka by the outbox relay.
	token, err := keys.Sign(auth.Claims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: "tracecart", Audience: jwt.ClaimStrings{"tracecart"},
		Subject: "00000000-0000-4000-8000-00000000a11c", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour)),
	}})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/orders", strings.NewReader(fmt.Sprintf(`{"lines":[{"product_id":%q,"quantity":2}]}`, mug)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	status, body := call(t, req)
	if status != http.StatusAccepted {
		t.Fatalf("POST /orders = %d %s", status, body)
	}
	var placed struct {
		ID         uuid.UUID `json:"id"`
		TotalCents int64     `json:"total_cents"`
	}
	if err := json.Unmarshal(body, &placed); err != nil || placed.TotalCents != 2400 {
		t.Fatalf("placed order %s (%v), want a total of 2400", body, err)
	}
	created := awaitEvent(t, orders, placed.ID, events.OrderCreated)
	if p, err := events.DecodePayload[events.OrderCreatedPayload](created); err != nil || p.TotalCents != 2400 {
		t.Errorf("order.created payload %+v (%v), want a total of 2400", p, err)
	}

	// A poison message first, then the payment: the consumer dead-letters the one and goes on.
	producer := kafka.NewProducer(brokers, kafka.ProducerOptions{})
	t.Cleanup(func() { _ = producer.Close() })
	payment, err := events.New(events.PaymentSucceeded, placed.ID, events.PaymentSucceededPayload{AmountCents: 2400})
	if err != nil {
		t.Fatal(err)
	}
	value, _ := json.Marshal(payment)
	err = producer.Publish(t.Context(),
		kafka.Record{Topic: events.TopicPayments, Key: placed.ID.String(), Value: []byte("not an event")},
		kafka.Record{Topic: events.TopicPayments, Key: placed.ID.String(), Value: value, Headers: map[string]string{
			kafka.HeaderEventID: payment.ID.String(), kafka.HeaderEventType: payment.Type,
		}})
	if err != nil {
		t.Fatal(err)
	}

	awaitEvent(t, orders, placed.ID, events.OrderConfirmed)
	get, _ := http.NewRequest(http.MethodGet, base+"/orders/"+placed.ID.String(), nil)
	get.Header.Set("Authorization", "Bearer "+token)
	if status, body := call(t, get); status != http.StatusOK || !strings.Contains(string(body), `"status":"CONFIRMED"`) {
		t.Errorf("GET /orders/%s = %d %s, want it CONFIRMED", placed.ID, status, body)
	}
	select {
	case rec := <-deadLetters:
		if string(rec.Value) != "not an event" || rec.Headers[kafka.HeaderDLQError] == "" {
			t.Errorf("dead letter %q with headers %v, want the poison message and its error", rec.Value, rec.Headers)
		}
	case <-time.After(10 * time.Second):
		t.Error("the malformed message never reached the dead-letter topic")
	}
}

// consume reads topic from the beginning with a consumer group of its own, for the rest of the
// test, and hands over every record.
func consume(t *testing.T, brokers []string, topic string) <-chan kafka.Record {
	t.Helper()
	if err := kafka.EnsureTopics(t.Context(), brokers, kafka.TopicConfig{Name: topic, Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	records := make(chan kafka.Record, 100)
	consumer := kafka.NewConsumer(brokers, kafka.ConsumerOptions{
		GroupID: testinfra.UniqueName(t, "watch"), Topics: []string{topic},
		Handler: func(_ context.Context, rec kafka.Record) error { records <- rec; return nil },
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = consumer.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; _ = consumer.Close() })
	return records
}

// awaitEvent waits for the event of eventType about orderID on records, skipping others.
func awaitEvent(t *testing.T, records <-chan kafka.Record, orderID uuid.UUID, eventType string) events.Envelope {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case rec := <-records:
			env, err := events.Decode(rec.Value)
			if err == nil && env.OrderID == orderID && env.Type == eventType {
				return env
			}
		case <-deadline:
			t.Fatalf("no %s for order %s on Kafka", eventType, orderID)
		}
	}
}

func call(t *testing.T, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req.WithContext(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// freeAddr returns a loopback address with a port nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
