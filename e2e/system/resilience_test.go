package system

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tracecart/tracecart/e2e/stack"

	"github.com/tracecart/tracecart/e2e/internal/shoptest"
)

// TestResilience breaks the system one part at a time on a stack of its own. Each scenario
// starts by proving the shop healthy, so a scenario that fails to recover is named by the next
// one's first check rather than blamed on it.
func TestResilience(t *testing.T) {
	s := newShop(t, stack.Options{})

	t.Run("product-service stopped: the gateway fails fast and both recover", func(t *testing.T) {
		healthy(t, s)
		token := s.newUser(t, 10_000)
		before := s.orderCount(t, token)

		s.Stop(t, stack.ProductService)
		// Catalogue reads: a 503 problem, answered at once rather than after a timeout.
		shoptest.Eventually(t, 15*time.Second, "the gateway to answer 503 for the catalogue", func() error {
			ans, err := s.api.Do(t.Context(), http.MethodGet, "/products/"+tracingMug, nil, nil, noCache...)
			if err != nil {
				return err
			}
			if ans.Status != http.StatusServiceUnavailable {
				return fmt.Errorf("GET /products/{id} = %d %s", ans.Status, ans.Body)
			}
			if ct := ans.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
				return fmt.Errorf("503 with Content-Type %q, want problem+json", ct)
			}
			return nil
		})
		for range 5 {
			ans, err := s.api.Do(t.Context(), http.MethodGet, "/products", nil, nil, noCache...)
			if err != nil {
				t.Fatal(err)
			}
			if ans.Status != http.StatusServiceUnavailable || ans.Took > time.Second {
				t.Errorf("GET /products = %d after %s, want a 503 within a second", ans.Status, ans.Took)
			}
		}
		// Order creation cannot price the lines: it must fail cleanly and write nothing.
		ans, err := s.api.As(token).Do(t.Context(), http.MethodPost, "/orders",
			map[string]any{"lines": []shoptest.OrderLine{{ProductID: tracingMug, Quantity: 1}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if ans.Status != http.StatusServiceUnavailable && (ans.Status < 400 || ans.Status >= 500) {
			t.Errorf("POST /orders without product-service = %d %s, want 503 or a 4xx", ans.Status, ans.Body)
		}
		if ans.Took > 6*time.Second {
			t.Errorf("POST /orders took %s to fail", ans.Took)
		}
		if n := s.orderCount(t, token); n != before {
			t.Errorf("the failed order left %d orders behind, want %d", n, before)
		}

		s.Restart(t, stack.ProductService)
		shoptest.Eventually(t, 20*time.Second, "the catalogue to come back", func() error { return s.catalogueUp(t) })
		o, _ := s.placeOrder(t, token, shoptest.OrderLine{ProductID: tracingMug, Quantity: 1})
		if got := s.waitTerminal(t, token, o.ID); got.Status != "CONFIRMED" {
			t.Fatalf("order after recovery ended %s (%s), want CONFIRMED", got.Status, got.Reason)
		}
	})

	t.Run("the Kafka broker restarts: every saga still finishes", func(t *testing.T) {
		healthy(t, s)
		p := s.newProduct(t, 100, 1000)
		c := s.newCustomer(t, 100_000)
		var ids []string
		place := func(n int) {
			for range n {
				o, _ := s.placeOrder(t, c.token, shoptest.OrderLine{ProductID: p.ID, Quantity: 1})
				ids = append(ids, o.ID)
			}
		}
		place(10)
		s.Stop(t, stack.Kafka)
		// Orders are still accepted while the broker is down: the outbox holds their events,
		// so their sagas cannot move until it is back.
		place(5)
		for _, id := range ids[10:] {
			var o shoptest.Order
			s.api.As(c.token).Must(t, http.StatusOK, http.MethodGet, "/orders/"+id, nil, &o)
			if o.Status != "PENDING" {
				t.Errorf("order %s placed while Kafka was down is %s, want PENDING", id, o.Status)
			}
		}
		s.Restart(t, stack.Kafka)
		place(5)
		if n := assertAllConfirmedAndBooked(t, s, c, p); n != len(ids) {
			t.Errorf("the customer has %d orders, want the %d placed", n, len(ids))
		}
	})

	t.Run("order-service killed while accepting orders: every saga still finishes", func(t *testing.T) {
		healthy(t, s)
		p := s.newProduct(t, 100, 1000)
		c := s.newCustomer(t, 100_000)
		// Customers keep ordering while order-service dies: it is killed after the tenth 202,
		// with more requests on the way and sagas in flight.
		var accepted atomic.Int32
		posted := make(chan struct{})
		go func() {
			defer close(posted)
			shoptest.Parallel(30, 4, func(int) {
				ans, err := s.api.As(c.token).Do(t.Context(), http.MethodPost, "/orders",
					map[string]any{"lines": []shoptest.OrderLine{{ProductID: p.ID, Quantity: 1}}}, nil)
				if err == nil && ans.Status == http.StatusAccepted {
					accepted.Add(1)
				}
			})
		}()
		shoptest.Eventually(t, 30*time.Second, "ten orders accepted", func() error {
			if n := accepted.Load(); n < 10 {
				return fmt.Errorf("%d accepted", n)
			}
			return nil
		})
		s.Kill(t, stack.OrderService)
		<-posted
		s.Restart(t, stack.OrderService)
		// Every order order-service stored, whether or not its 202 reached the customer.
		stored := assertAllConfirmedAndBooked(t, s, c, p)
		t.Logf("%d orders accepted with a 202, %d stored", accepted.Load(), stored)
		if stored < int(accepted.Load()) {
			t.Errorf("%d orders stored, fewer than the %d accepted", stored, accepted.Load())
		}
	})

	t.Run("two product-service instances, one killed: requests keep succeeding", func(t *testing.T) {
		healthy(t, s)
		const second = stack.ProductService + "-2"
		s.AddInstance(t, stack.ProductService, second)
		shoptest.Eventually(t, 15*time.Second, "two healthy product-service instances", func() error {
			if got := s.Passing(t, stack.ProductService); len(got) != 2 {
				return fmt.Errorf("passing: %v", got)
			}
			return nil
		})
		// SIGKILL: the instance cannot deregister; Consul finds out through its health check.
		s.Kill(t, stack.ProductService)
		shoptest.Eventually(t, 20*time.Second, "Consul to mark the killed instance critical", func() error {
			if got := s.Passing(t, stack.ProductService); len(got) != 1 || got[0] != second {
				return fmt.Errorf("passing: %v", got)
			}
			return nil
		})
		// The gateway's watcher needs a moment to see the new list; from then on, nothing fails.
		shoptest.Eventually(t, 10*time.Second, "the catalogue through the survivor", func() error { return s.catalogueUp(t) })
		for i := range 20 {
			if err := s.catalogueUp(t); err != nil {
				t.Fatalf("request %d after the instance was marked critical: %v", i, err)
			}
		}
		token := s.newUser(t, 10_000)
		for range 3 {
			o, _ := s.placeOrder(t, token, shoptest.OrderLine{ProductID: tracingMug, Quantity: 1})
			if got := s.waitTerminal(t, token, o.ID); got.Status != "CONFIRMED" {
				t.Fatalf("order through the survivor ended %s (%s), want CONFIRMED", got.Status, got.Reason)
			}
		}
	})

	// Last: Consul does not come back, and nothing after this needs it.
	t.Run("Consul stopped: traffic keeps flowing on the last known instances", func(t *testing.T) {
		healthy(t, s)
		token := s.newUser(t, 10_000)
		s.Stop(t, stack.Consul)
		for i := range 10 {
			if err := s.catalogueUp(t); err != nil {
				t.Fatalf("catalogue read %d with Consul down: %v", i, err)
			}
		}
		for range 3 {
			o, _ := s.placeOrder(t, token, shoptest.OrderLine{ProductID: tracingMug, Quantity: 1})
			if got := s.waitTerminal(t, token, o.ID); got.Status != "CONFIRMED" {
				t.Fatalf("order with Consul down ended %s (%s), want CONFIRMED", got.Status, got.Reason)
			}
		}
	})
}

// healthy waits until the shop answers through the gateway: catalogue reads and a logged-in
// read of an order list.
func healthy(t *testing.T, s *shop) {
	t.Helper()
	shoptest.Eventually(t, 30*time.Second, "the shop to be healthy", func() error {
		if err := s.catalogueUp(t); err != nil {
			return err
		}
		ans, err := s.api.Do(t.Context(), http.MethodPost, "/auth/login",
			map[string]string{"email": alice, "password": demoPassword}, nil)
		if err != nil {
			return err
		}
		if ans.Status != http.StatusOK {
			return fmt.Errorf("login = %d %s", ans.Status, ans.Body)
		}
		return nil
	})
}

// assertAllConfirmedAndBooked checks the books of a scenario in which one customer bought
// only product p (assertBooks) and that every order the customer has was CONFIRMED. It
// returns how many orders that is.
func assertAllConfirmedAndBooked(t *testing.T, s *shop, c customer, p shoptest.Product) int {
	t.Helper()
	orders := assertBooks(t, s, []shoptest.Product{p}, []customer{c})[0]
	if outcomes := outcomesOf([][]shoptest.Order{orders}); outcomes["CONFIRMED"] != len(orders) {
		t.Errorf("outcomes %v, want all %d CONFIRMED", outcomes, len(orders))
	}
	return len(orders)
}
