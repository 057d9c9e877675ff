// Package saga proves the order saga with the three domain services running as real processes,
// built from their own main packages, against real Postgres, Kafka, Consul and Jaeger containers.
// It talks to each service's HTTP API directly and to Kafka only to inject what a broken world
// would deliver (a duplicate, a malformed message). The container-level suite, which goes through
// the gateway, is in the other packages of this module.
package saga

import (
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/tracecart/tracecart/e2e/internal/shoptest"
	"github.com/tracecart/tracecart/shared/testinfra"
)

func TestMain(m *testing.M) { os.Exit(testinfra.Main(m)) }

// sagaDeadline is how long a test waits for one saga to finish: far longer than a saga takes
// here, shorter than the services' SAGA_TIMEOUT, so a stuck saga fails the test.
const sagaDeadline = 30 * time.Second

// Fixed demo data seeded by the services (see the services' seed code and docs/events.md).
const (
	alice        = "alice@example.com"
	bob          = "bob@example.com"
	admin        = "admin@example.com"
	demoPassword = "tracecart-demo"

	tracingMug      = "00000000-0000-4000-8000-000000000101"
	spanSocks       = "00000000-0000-4000-8000-000000000102"
	contextKeyboard = "00000000-0000-4000-8000-000000000107" // 8900 cents
	lastOneLamp     = "00000000-0000-4000-8000-000000000108" // stock 1
)

// shop is the running system under test.
type shop struct {
	users, products, orders shoptest.API
	brokers                 string
	jaeger                  *testinfra.Jaeger
}

func startShop(t *testing.T) *shop {
	t.Helper()
	consul := testinfra.NewConsul(t)
	jaeger := testinfra.NewJaeger(t)
	brokers := testinfra.Kafka(t)
	common := map[string]string{
		"CONSUL_HTTP_ADDR":            consul.Addr(),
		"KAFKA_BROKERS":               brokers,
		"OTEL_TRACES_EXPORTER":        "otlp",
		"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
		"OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.OTLPEndpoint(),
		"OTEL_BSP_SCHEDULE_DELAY":     "200",
		"SAGA_TIMEOUT":                "60s",
		"DRAIN_DELAY":                 "0s",
	}
	start := func(name string) shoptest.API {
		env := map[string]string{"DATABASE_URL": testinfra.Postgres(t)}
		for k, v := range common {
			env[k] = v
		}
		bin := testinfra.StartService(t, "github.com/tracecart/tracecart/"+name+"/cmd/"+name, env)
		return shoptest.API{Base: "http://" + bin.Addr}
	}
	s := &shop{
		users:    start("user-service"),
		products: start("product-service"),
		orders:   start("order-service"),
		brokers:  brokers,
		jaeger:   jaeger,
	}
	for _, svc := range []shoptest.API{s.users, s.products, s.orders} {
		shoptest.Eventually(t, 60*time.Second, svc.Base+" ready", func() error {
			resp, err := http.Get(svc.Base + "/health/ready")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("ready = %d", resp.StatusCode)
			}
			return nil
		})
	}
	return s
}

// login returns a bearer token for a seeded or registered user.
func (s *shop) login(t testing.TB, email, password string) string {
	t.Helper()
	return shoptest.Login(t, s.users, email, password)
}

// balance is the wallet balance of the user the token belongs to.
func (s *shop) balance(t testing.TB, token string) int64 {
	t.Helper()
	return shoptest.Balance(t, s.users.As(token))
}

func (s *shop) product(t testing.TB, id string) shoptest.Product {
	t.Helper()
	var p shoptest.Product
	s.products.Must(t, http.StatusOK, http.MethodGet, "/products/"+id, nil, &p)
	return p
}

// placeOrder posts an order and returns it as accepted (PENDING). headers are extra request
// headers, such as a traceparent.
func (s *shop) placeOrder(t testing.TB, token string, lines []shoptest.OrderLine, headers ...string) shoptest.Order {
	t.Helper()
	var o shoptest.Order
	s.orders.As(token).Must(t, http.StatusAccepted, http.MethodPost, "/orders",
		map[string]any{"lines": lines}, &o, headers...)
	return o
}

func TestSaga(t *testing.T) {
	s := startShop(t)
	aliceToken := s.login(t, alice, demoPassword)
	bobToken := s.login(t, bob, demoPassword)

	t.Run("happy path confirms, takes stock and money", func(t *testing.T) {
		before, mug := s.balance(t, aliceToken), s.product(t, tracingMug)
		o := s.placeOrder(t, aliceToken, []shoptest.OrderLine{{ProductID: tracingMug, Quantity: 2}})
		if o.Status != "PENDING" {
			t.Errorf("accepted order is %s, want PENDING", o.Status)
		}
		got := shoptest.WaitTerminal(t, s.orders.As(aliceToken), o.ID, sagaDeadline)
		if got.Status != "CONFIRMED" {
			t.Fatalf("order ended %s (%s), want CONFIRMED", got.Status, got.Reason)
		}
		if want := 2 * mug.PriceCents; got.TotalCents != want {
			t.Errorf("total = %d, want %d", got.TotalCents, want)
		}
		shoptest.Eventually(t, 10*time.Second, "the sale to be recorded", func() error {
			after := s.product(t, tracingMug)
			if after.Stock != mug.Stock-2 || after.Sold != mug.Sold+2 {
				return fmt.Errorf("stock %d sold %d, want %d and %d", after.Stock, after.Sold, mug.Stock-2, mug.Sold+2)
			}
			return nil
		})
		if after := s.balance(t, aliceToken); after != before-got.TotalCents {
			t.Errorf("balance %d, want %d", after, before-got.TotalCents)
		}
	})

	t.Run("out of stock rejects and changes nothing", func(t *testing.T) {
		before, lamp := s.balance(t, aliceToken), s.product(t, lastOneLamp)
		o := s.placeOrder(t, aliceToken, []shoptest.OrderLine{{ProductID: lastOneLamp, Quantity: lamp.Stock + 1}})
		if got := shoptest.WaitTerminal(t, s.orders.As(aliceToken), o.ID, sagaDeadline); got.Status != "REJECTED" {
			t.Fatalf("order ended %s, want REJECTED", got.Status)
		}
		if after := s.product(t, lastOneLamp); after.Stock != lamp.Stock || after.Sold != lamp.Sold {
			t.Errorf("stock %d sold %d changed from %d %d", after.Stock, after.Sold, lamp.Stock, lamp.Sold)
		}
		if after := s.balance(t, aliceToken); after != before {
			t.Errorf("balance %d changed from %d", after, before)
		}
	})

	t.Run("insufficient funds cancels and releases the reservation", func(t *testing.T) {
		before, keyboard := s.balance(t, bobToken), s.product(t, contextKeyboard)
		if before >= keyboard.PriceCents {
			t.Fatalf("bob can afford the keyboard (%d >= %d): the seed data changed", before, keyboard.PriceCents)
		}
		o := s.placeOrder(t, bobToken, []shoptest.OrderLine{{ProductID: contextKeyboard, Quantity: 1}})
		if got := shoptest.WaitTerminal(t, s.orders.As(bobToken), o.ID, sagaDeadline); got.Status != "CANCELLED" {
			t.Fatalf("order ended %s, want CANCELLED", got.Status)
		}
		shoptest.Eventually(t, 10*time.Second, "the reservation to be released", func() error {
			if after := s.product(t, contextKeyboard); after.Stock != keyboard.Stock || after.Sold != keyboard.Sold {
				return fmt.Errorf("stock %d sold %d, want %d %d", after.Stock, after.Sold, keyboard.Stock, keyboard.Sold)
			}
			return nil
		})
		if after := s.balance(t, bobToken); after != before {
			t.Errorf("balance %d changed from %d", after, before)
		}
	})

	t.Run("cancel after confirm restocks and refunds", func(t *testing.T) {
		before, socks := s.balance(t, aliceToken), s.product(t, spanSocks)
		o := s.placeOrder(t, aliceToken, []shoptest.OrderLine{{ProductID: spanSocks, Quantity: 3}})
		if got := shoptest.WaitTerminal(t, s.orders.As(aliceToken), o.ID, sagaDeadline); got.Status != "CONFIRMED" {
			t.Fatalf("order ended %s, want CONFIRMED", got.Status)
		}
		var cancelled shoptest.Order
		s.orders.As(aliceToken).Must(t, http.StatusOK, http.MethodPost, "/orders/"+o.ID+"/cancel", nil, &cancelled)
		if cancelled.Status != "CANCELLED" {
			t.Errorf("cancelled order is %s", cancelled.Status)
		}
		shoptest.Eventually(t, 10*time.Second, "restock and refund", func() error {
			after := s.product(t, spanSocks)
			if after.Stock != socks.Stock || after.Sold != socks.Sold {
				return fmt.Errorf("stock %d sold %d, want %d %d", after.Stock, after.Sold, socks.Stock, socks.Sold)
			}
			if b := s.balance(t, aliceToken); b != before {
				return fmt.Errorf("balance %d, want %d", b, before)
			}
			return nil
		})
	})

	t.Run("a pending order cannot be cancelled", func(t *testing.T) {
		// Any order is PENDING for at least the moment between 202 and the first consumer; if
		// the saga is already over the answer is 200 and the test proves nothing, so retry.
		for range 20 {
			o := s.placeOrder(t, aliceToken, []shoptest.OrderLine{{ProductID: tracingMug, Quantity: 1}})
			ans := s.orders.As(aliceToken).Call(t, http.MethodPost, "/orders/"+o.ID+"/cancel", nil, nil)
			shoptest.WaitTerminal(t, s.orders.As(aliceToken), o.ID, sagaDeadline)
			if ans.Status == http.StatusConflict {
				return
			}
			if ans.Status != http.StatusOK {
				t.Fatalf("cancel = %d %s, want 409 while PENDING", ans.Status, ans.Body)
			}
		}
		t.Fatal("never caught an order PENDING: every saga had finished before the cancel arrived")
	})

	t.Run("one order is one trace across the three services", func(t *testing.T) {
		traceID := shoptest.RandomHex(16)
		traceparent := "00-" + traceID + "-" + shoptest.RandomHex(8) + "-01"
		o := s.placeOrder(t, aliceToken, []shoptest.OrderLine{{ProductID: tracingMug, Quantity: 1}}, "traceparent", traceparent)
		if got := shoptest.WaitTerminal(t, s.orders.As(aliceToken), o.ID, sagaDeadline); got.Status != "CONFIRMED" {
			t.Fatalf("order ended %s, want CONFIRMED", got.Status)
		}
		assertOneTrace(t, s.jaeger, traceID)
	})

	t.Run("a duplicate event has one effect", func(t *testing.T) {
		assertDuplicateHasOneEffect(t, s, aliceToken)
	})

	t.Run("a replayed dead letter has its effect once", func(t *testing.T) {
		assertReplayHasOneEffect(t, s, aliceToken)
	})

	t.Run("a malformed event is dead-lettered and the next order completes", func(t *testing.T) {
		assertPoisonIsDeadLettered(t, s, aliceToken)
	})

	t.Run("concurrent orders on contended stock keep the invariants", func(t *testing.T) {
		assertInvariantsUnderContention(t, s)
	})
}
