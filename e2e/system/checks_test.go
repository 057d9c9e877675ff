package system

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tracecart/tracecart/e2e/internal/shoptest"
)

// assertOneTrace checks that the order whose trace the gateway named in X-Trace-Id is one
// trace: the gateway, HTTP, SQL, publish and consume spans in all three services, forming one
// tree whose root is the gateway's span for the customer's request (the customer sent no trace
// context).
func assertOneTrace(t *testing.T, jaegerURL, traceID string) {
	t.Helper()
	shoptest.AssertOneTrace(t, jaegerURL, traceID, shoptest.SagaShape{
		// What each service must have contributed: the gateway the request; order-service the
		// order, its event and the payment's outcome; product-service the pricing call and the
		// reservation; user-service the payment.
		Operations: map[string][]string{
			"gateway":         {""},
			"order-service":   {"POST /orders", "send orders", "process payments", "db"},
			"product-service": {"GET /products/{id}", "process orders", "send inventory", "db"},
			"user-service":    {"process inventory", "send payments", "db"},
		},
		// Every message of the saga, down to product-service's process of order.confirmed.
		Messages:    shoptest.ConfirmedSaga(),
		RootService: "gateway", RootOperation: "",
	})
}

// assertReplayHasOneEffect delivers a confirmed order's order.created and inventory.reserved a
// second time, byte for byte, and checks that neither stock nor money moves again, and that it
// was the inbox that stopped them: each service's state machine would also ignore these two
// events, so the test looks in the order's trace for the inbox's mark on the copy's span.
func assertReplayHasOneEffect(t *testing.T, s *shop) {
	t.Helper()
	p := s.newProduct(t, 700, 5)
	token := s.newUser(t, 700)
	o, _ := s.placeOrder(t, token, shoptest.OrderLine{ProductID: p.ID, Quantity: 1})
	if got := s.waitTerminal(t, token, o.ID); got.Status != "CONFIRMED" {
		t.Fatalf("order ended %s, want CONFIRMED", got.Status)
	}
	shoptest.Eventually(t, 10*time.Second, "the sale", func() error {
		if now := s.product(t, p.ID); now.Stock != 4 || now.Sold != 1 {
			return fmt.Errorf("stock %d sold %d, want 4 and 1", now.Stock, now.Sold)
		}
		return nil
	})

	// The broker advertises kafka:9092, the name the services know it by; the test reaches it
	// where that listener is published on the host.
	k := shoptest.PublishedKafka("kafka:9092", s.KafkaAddr(t))
	for _, dup := range []struct{ topic, eventType, group string }{
		{"orders", "order.created", "product-service"},
		{"inventory", "inventory.reserved", "user-service"},
	} {
		msg := k.Redeliver(t, dup.topic, o.ID, dup.eventType, dup.group)
		// The copy carries the original's traceparent, so its consumer span joins the order's
		// trace.
		shoptest.WaitForSpanTag(t, s.JaegerURL(t), shoptest.TraceIDOf(t, msg), dup.group, "tracecart.inbox.duplicate", "true")
	}
	if now := s.product(t, p.ID); now.Stock != 4 || now.Sold != 1 {
		t.Errorf("stock moved on a replay: stock %d sold %d, want 4 and 1", now.Stock, now.Sold)
	}
	if b := s.balance(t, token); b != 0 {
		t.Errorf("balance moved on a replay: %d, want 0", b)
	}
}

// assertInvariantsUnderContention places 120 orders at once from eight new users (wallets that
// start empty) on two products with little stock, waits until every order is terminal, then
// checks the books exactly: per product, initial stock = stock + sold and sold = what CONFIRMED
// orders bought; per user, top-ups = balance + what CONFIRMED orders cost.
func assertInvariantsUnderContention(t *testing.T, s *shop) {
	t.Helper()
	hot, side := s.newProduct(t, 500, 30), s.newProduct(t, 300, 15)
	products := []shoptest.Product{hot, side}

	const users, orders = 8, 120
	tokens := make([]string, users)
	topUps := make([]int64, users)
	for i := range users {
		topUps[i] = int64(900 * i) // from nothing to 12 items' worth: some run out of money
		tokens[i] = s.newUser(t, topUps[i])
	}

	type placed struct {
		shoptest.Order
		user  int
		lines []shoptest.OrderLine
	}
	all := make([]placed, orders)
	var mu sync.Mutex
	var failed []string
	shoptest.Parallel(orders, 8, func(i int) {
		lines := []shoptest.OrderLine{{ProductID: hot.ID, Quantity: 1 + i%3}}
		if i%4 == 0 {
			lines = append(lines, shoptest.OrderLine{ProductID: side.ID, Quantity: 1 + i%2})
		}
		var o shoptest.Order
		ans, err := s.api.As(tokens[i%users]).Do(context.Background(), http.MethodPost, "/orders", map[string]any{"lines": lines}, &o)
		mu.Lock()
		defer mu.Unlock()
		if err != nil || ans.Status != http.StatusAccepted {
			failed = append(failed, fmt.Sprintf("order %d: %v %d %s", i, err, ans.Status, ans.Body))
			return
		}
		all[i] = placed{Order: o, user: i % users, lines: lines}
	})
	if len(failed) > 0 {
		t.Fatalf("%d of %d orders were not accepted: %v", len(failed), orders, failed)
	}

	sold := map[string]int{}
	paid := make([]int64, users)
	outcomes := map[string]int{}
	for _, p := range all {
		o := s.waitTerminal(t, tokens[p.user], p.ID)
		outcomes[o.Status]++
		if o.Status == "CONFIRMED" {
			paid[p.user] += o.TotalCents
			for _, l := range p.lines {
				sold[l.ProductID] += l.Quantity
			}
		}
	}
	t.Logf("outcomes of %d concurrent orders: %v", orders, outcomes)
	if outcomes["CONFIRMED"] == 0 || outcomes["REJECTED"] == 0 || outcomes["CANCELLED"] == 0 {
		t.Errorf("outcomes %v: the burst is meant to confirm some orders, run out of stock on some and of money on others", outcomes)
	}
	for _, p := range products {
		shoptest.Eventually(t, 15*time.Second, "the books of product "+p.ID+" to settle", func() error {
			now := s.product(t, p.ID)
			switch {
			case now.Stock < 0:
				return fmt.Errorf("stock below zero: %d", now.Stock)
			case now.Stock+now.Sold != p.Stock:
				return fmt.Errorf("stock %d + sold %d != initial %d", now.Stock, now.Sold, p.Stock)
			case now.Sold != sold[p.ID]:
				return fmt.Errorf("sold %d, but CONFIRMED orders bought %d", now.Sold, sold[p.ID])
			}
			return nil
		})
	}
	for i := range users {
		shoptest.Eventually(t, 15*time.Second, fmt.Sprintf("the wallet of user %d to settle", i), func() error {
			if b := s.balance(t, tokens[i]); b+paid[i] != topUps[i] {
				return fmt.Errorf("balance %d + CONFIRMED totals %d != top-ups %d", b, paid[i], topUps[i])
			}
			return nil
		})
	}
}
