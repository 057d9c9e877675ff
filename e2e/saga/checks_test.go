package saga

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/tracecart/tracecart/e2e/internal/shoptest"
	"github.com/tracecart/tracecart/shared/testinfra"
)

// assertOneTrace checks that the order placed under traceID is one trace: HTTP, SQL, publish
// and consume spans in all three services, forming one tree under the test's request.
func assertOneTrace(t *testing.T, jaeger *testinfra.Jaeger, traceID string) {
	t.Helper()
	shoptest.AssertOneTrace(t, jaeger.QueryURL(), traceID, shoptest.SagaShape{
		// What each service must have contributed: its consumer handling an event and its
		// producer publishing one; order-service serves the request and product-service the
		// pricing call.
		Operations: map[string][]string{
			"order-service":   {"POST /orders", "send orders", "process payments", "db"},
			"product-service": {"GET /products/{id}", "process orders", "send inventory", "db"},
			"user-service":    {"process inventory", "send payments", "db"},
		},
		// Every message of the saga, down to product-service's process of order.confirmed.
		Messages: shoptest.ConfirmedSaga(),
		// The root's parent is the span the test made up for its request.
		RootService: "order-service", RootOperation: "POST /orders",
	})
}

// assertDuplicateHasOneEffect delivers an order's order.created and inventory.reserved events a
// second time, exactly as they were, and checks neither stock nor money moves again, and that it
// was the inbox that stopped them: each service's state machine would also ignore these two
// events, so the test looks in the trace for the inbox's mark on the duplicate's span.
func assertDuplicateHasOneEffect(t *testing.T, s *shop, token string) {
	t.Helper()
	before := s.product(t, tracingMug)
	o := s.placeOrder(t, token, []shoptest.OrderLine{{ProductID: tracingMug, Quantity: 1}})
	if got := shoptest.WaitTerminal(t, s.orders.As(token), o.ID, sagaDeadline); got.Status != "CONFIRMED" {
		t.Fatalf("order ended %s, want CONFIRMED", got.Status)
	}
	// The order is CONFIRMED; the sale is recorded when order.confirmed reaches product-service.
	var mug shoptest.Product
	shoptest.Eventually(t, 10*time.Second, "the sale", func() error {
		if mug = s.product(t, tracingMug); mug.Sold != before.Sold+1 {
			return fmt.Errorf("sold %d, want %d", mug.Sold, before.Sold+1)
		}
		return nil
	})
	balance := s.balance(t, token)

	k := shoptest.DirectKafka(s.brokers)
	for _, dup := range []struct{ topic, eventType, group string }{
		{"orders", "order.created", "product-service"},
		{"inventory", "inventory.reserved", "user-service"},
	} {
		msg := k.Redeliver(t, dup.topic, o.ID, dup.eventType, dup.group)
		// The copy carries the original's traceparent, so its consumer span joins the order's trace.
		shoptest.WaitForSpanTag(t, s.jaeger.QueryURL(), shoptest.TraceIDOf(t, msg), dup.group, "tracecart.inbox.duplicate", "true")
	}
	if after := s.product(t, tracingMug); after != mug {
		t.Errorf("stock moved on a duplicate: %+v, was %+v", after, mug)
	}
	if after := s.balance(t, token); after != balance {
		t.Errorf("balance moved on a duplicate: %d, was %d", after, balance)
	}
}

// assertPoisonIsDeadLettered writes bytes that are no event onto the orders topic: both its
// consumers must move them to their dead-letter topics with the error, and keep going.
func assertPoisonIsDeadLettered(t *testing.T, s *shop, token string) {
	t.Helper()
	key := "poison-" + shoptest.RandomHex(4)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	w := &kafkago.Writer{Addr: kafkago.TCP(s.brokers), Topic: "orders", Balancer: &kafkago.Hash{}, BatchTimeout: time.Millisecond}
	if err := w.WriteMessages(ctx, kafkago.Message{Key: []byte(key), Value: []byte("{this is not an event")}); err != nil {
		t.Fatal(err)
	}
	w.Close()

	for _, group := range []string{"product-service", "user-service"} {
		r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: []string{s.brokers}, Topic: group + ".dlq", Partition: 0, MaxWait: 100 * time.Millisecond})
		found := false
		for !found {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("%s.dlq: no dead-lettered poison message: %v", group, err)
			}
			if string(m.Key) == key {
				found = true
				if shoptest.Header(m, "dlq-error") == "" || shoptest.Header(m, "dlq-original-topic") != "orders" {
					t.Errorf("%s.dlq message lacks its error headers: %v", group, m.Headers)
				}
			}
		}
		r.Close()
	}
	o := s.placeOrder(t, token, []shoptest.OrderLine{{ProductID: tracingMug, Quantity: 1}})
	if got := shoptest.WaitTerminal(t, s.orders.As(token), o.ID, sagaDeadline); got.Status != "CONFIRMED" {
		t.Fatalf("the order after the poison ended %s, want CONFIRMED", got.Status)
	}
}

// assertInvariantsUnderContention places 200 orders at once from ten new users on two products
// with little stock, then checks that every order finished and the books balance exactly:
// per product initial stock = stock + sold, sold = what CONFIRMED orders bought; per user top-ups
// = balance + what CONFIRMED orders cost.
func assertInvariantsUnderContention(t *testing.T, s *shop) {
	t.Helper()
	adminAPI := s.products.As(s.login(t, admin, demoPassword))
	newProduct := func(name string, stock int) shoptest.Product {
		var p shoptest.Product
		adminAPI.Must(t, http.StatusCreated, http.MethodPost, "/products", map[string]any{
			"name": name, "description": "contended", "category": "desk", "price_cents": 500, "stock": stock,
		}, &p)
		return p
	}
	hot, side := newProduct("Hot Item "+shoptest.RandomHex(3), 40), newProduct("Side Item "+shoptest.RandomHex(3), 25)

	const users, orders = 10, 200
	type shopper struct {
		token string
		topUp int64
	}
	shoppers := make([]shopper, users)
	for i := range shoppers {
		email := fmt.Sprintf("buyer-%d-%s@example.com", i, shoptest.RandomHex(3))
		s.users.Must(t, http.StatusCreated, http.MethodPost, "/auth/register",
			map[string]string{"email": email, "password": "correct horse battery", "name": "Buyer"}, nil)
		shoppers[i].token = s.login(t, email, "correct horse battery")
		shoppers[i].topUp = int64(1000 + 700*i) // from 2 to 15 items' worth: some run out of money
		s.users.As(shoppers[i].token).Must(t, http.StatusOK, http.MethodPost, "/users/me/wallet/top-ups",
			map[string]int64{"amount_cents": shoppers[i].topUp}, nil)
	}

	placed := make([]struct {
		shoptest.Order
		user  int
		lines []shoptest.OrderLine
	}, orders)
	var mu sync.Mutex
	shoptest.Parallel(orders, 8, func(i int) {
		lines := []shoptest.OrderLine{{ProductID: hot.ID, Quantity: 1 + i%3}}
		if i%4 == 0 {
			lines = append(lines, shoptest.OrderLine{ProductID: side.ID, Quantity: 1})
		}
		o := s.placeOrder(t, shoppers[i%users].token, lines)
		mu.Lock()
		placed[i].Order, placed[i].user, placed[i].lines = o, i%users, lines
		mu.Unlock()
	})

	sold := map[string]int{}
	paid := make([]int64, users)
	outcomes := map[string]int{}
	for i := range placed {
		o := shoptest.WaitTerminal(t, s.orders.As(shoppers[placed[i].user].token), placed[i].ID, sagaDeadline)
		outcomes[o.Status]++
		if o.Status == "CONFIRMED" {
			paid[placed[i].user] += o.TotalCents
			for _, l := range placed[i].lines {
				sold[l.ProductID] += l.Quantity
			}
		}
	}
	t.Logf("outcomes of %d concurrent orders: %v", orders, outcomes)
	if outcomes["CONFIRMED"] == 0 || outcomes["REJECTED"] == 0 {
		t.Errorf("outcomes %v: the test meant some orders to succeed and some to run out of stock", outcomes)
	}

	for _, p := range []shoptest.Product{hot, side} {
		shoptest.Eventually(t, 15*time.Second, "stock of "+p.ID+" to settle", func() error {
			now := s.product(t, p.ID)
			return shoptest.CheckStock(p, now, sold[p.ID])
		})
	}
	for i, sh := range shoppers {
		if b := s.balance(t, sh.token); b+paid[i] != sh.topUp {
			t.Errorf("user %d: balance %d + paid %d != top-ups %d", i, b, paid[i], sh.topUp)
		}
	}
}
