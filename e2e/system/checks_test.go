package system

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tracecart/tracecart/e2e/internal/shoptest"
	"github.com/tracecart/tracecart/e2e/stack"
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
		RootService: "gateway", RootOperation: "POST /api/orders",
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

	k := s.kafka(t)
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

// assertInvariantsUnderContention places 120 orders at once from eight new customers (wallets
// that start empty) on two products with little stock, then checks the books exactly
// (assertBooks) and that the burst had every outcome.
func assertInvariantsUnderContention(t *testing.T, s *shop) {
	t.Helper()
	products := []shoptest.Product{s.newProduct(t, 500, 30), s.newProduct(t, 300, 15)}
	hot, side := products[0], products[1]

	const users, orders = 8, 120
	customers := make([]customer, users)
	for i := range customers {
		customers[i] = s.newCustomer(t, int64(900*i)) // from nothing to 12 items' worth: some run out of money
	}

	var mu sync.Mutex
	var failed []string
	shoptest.Parallel(orders, 8, func(i int) {
		lines := []shoptest.OrderLine{{ProductID: hot.ID, Quantity: 1 + i%3}}
		if i%4 == 0 {
			lines = append(lines, shoptest.OrderLine{ProductID: side.ID, Quantity: 1 + i%2})
		}
		ans, err := s.api.As(customers[i%users].token).Do(context.Background(), http.MethodPost, "/orders", map[string]any{"lines": lines}, nil)
		if err != nil || ans.Status != http.StatusAccepted {
			mu.Lock()
			failed = append(failed, fmt.Sprintf("order %d: %v %d %s", i, err, ans.Status, ans.Body))
			mu.Unlock()
		}
	})
	if len(failed) > 0 {
		t.Fatalf("%d of %d orders were not accepted: %v", len(failed), orders, failed)
	}

	outcomes := outcomesOf(assertBooks(t, s, products, customers))
	t.Logf("outcomes of %d concurrent orders: %v", orders, outcomes)
	if outcomes["CONFIRMED"] == 0 || outcomes["REJECTED"] == 0 || outcomes["CANCELLED"] == 0 {
		t.Errorf("outcomes %v: the burst is meant to confirm some orders, run out of stock on some and of money on others", outcomes)
	}
}

// customer is a shopper a scenario registered, with the money it put in its wallet.
type customer struct {
	token string
	topUp int64
}

// newCustomer registers a customer with topUp cents in the wallet.
func (s *shop) newCustomer(t testing.TB, topUp int64) customer {
	t.Helper()
	return customer{token: s.newUser(t, topUp), topUp: topUp}
}

// booksDeadline is how long the books may take to settle once every order is terminal: the
// last compensations (a release, a restock, a refund) follow the order's final state.
const booksDeadline = 30 * time.Second

// assertBooks waits until every order of the customers has finished its saga, then checks the
// books exactly, and returns the orders in their final state, by customer:
//
//   - per product: initial stock = stock + sold, and sold = what CONFIRMED orders bought;
//   - per customer: top-ups = balance + what CONFIRMED orders cost;
//   - per order, in the customer's wallet ledger: at most one debit and one refund, each of the
//     order's total, so that a CONFIRMED order paid its total once and any other order, even
//     one cancelled after it was paid (by its customer or by the saga timeout), was refunded
//     exactly once.
//
// The orders are read back from order-service, not taken from the scenario's own record: after
// a fault a customer may never have seen the answer to an order the shop stored. The products
// must be the scenario's own, bought only by these customers. The stock books hold totals only,
// so a restock that never happened shows as a sale no CONFIRMED order made.
func assertBooks(t *testing.T, s *shop, products []shoptest.Product, customers []customer) [][]shoptest.Order {
	t.Helper()
	orders := make([][]shoptest.Order, len(customers))
	sold := map[string]int{}
	paid := make([]int64, len(customers))
	for i, c := range customers {
		for _, listed := range s.orders(t, c.token) {
			o := s.waitTerminal(t, c.token, listed.ID)
			orders[i] = append(orders[i], o)
			if o.Status == "CONFIRMED" {
				paid[i] += o.TotalCents
				for _, l := range o.Lines {
					sold[l.ProductID] += l.Quantity
				}
			}
		}
	}
	for _, p := range products {
		shoptest.Eventually(t, booksDeadline, "the books of product "+p.ID+" to settle", func() error {
			now := s.product(t, p.ID)
			return shoptest.CheckStock(p, now, sold[p.ID])
		})
	}
	for i, c := range customers {
		shoptest.Eventually(t, booksDeadline, fmt.Sprintf("the wallet of customer %d to settle", i), func() error {
			balance, txs, err := s.wallet(t.Context(), c.token)
			if err != nil {
				return err
			}
			if balance+paid[i] != c.topUp {
				return fmt.Errorf("balance %d + CONFIRMED totals %d != top-ups %d", balance, paid[i], c.topUp)
			}
			return shoptest.CheckPayments(orders[i], txs)
		})
	}
	return orders
}

// outcomesOf counts orders by final status.
func outcomesOf(orders [][]shoptest.Order) map[string]int {
	outcomes := map[string]int{}
	for _, os := range orders {
		for _, o := range os {
			outcomes[o.Status]++
		}
	}
	return outcomes
}

// assertNoNewDeadLetters checks that no dead-letter topic received a message since marks were
// taken. The fault scenarios send no malformed event, so every message there would be a good
// event some consumer gave up on: exactly what a transient fault must never cause.
func assertNoNewDeadLetters(t *testing.T, s *shop, marks deadLetterMarks) {
	t.Helper()
	k := s.kafka(t)
	for topic, from := range marks {
		for _, m := range k.ReadSince(t, topic, from) {
			t.Errorf("%s holds %s of order %s from %s: %s", topic, shoptest.Header(m, "event-type"), m.Key,
				shoptest.Header(m, "dlq-original-topic"), shoptest.Header(m, "dlq-error"))
		}
	}
}

// deadLetterMarks are where every dead-letter topic ended when a scenario began, by topic.
type deadLetterMarks map[string]map[int]int64

// markDeadLetters notes the end of every consumer group's dead-letter topic (<group>.dlq).
func markDeadLetters(t *testing.T, s *shop) deadLetterMarks {
	t.Helper()
	k := s.kafka(t)
	marks := deadLetterMarks{}
	for _, group := range []string{stack.UserService, stack.ProductService, stack.OrderService} {
		marks[group+".dlq"] = k.EndOffsets(t, group+".dlq")
	}
	return marks
}
