package system

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tracecart/tracecart/e2e/internal/shoptest"
	"github.com/tracecart/tracecart/e2e/stack"
)

// outage is how long a fault lasts when the scenario decides it: several seconds, far longer
// than any retry of one request, far shorter than the saga timeout.
const outage = 6 * time.Second

// TestFaults breaks one part of the system while customers are ordering and cancelling confirmed
// orders, lets it come back, and then checks the books exactly (assertBooks) and that no
// consumer gave up on a good event (assertNoNewDeadLetters). An ordinary fault that is over in
// seconds must delay sagas, never end them wrongly or lose an effect.
//
// The scenarios share one stack and run in sequence, each starting by proving the shop healthy;
// a stack takes far longer to start than a scenario takes to run. Each uses products and
// customers of its own, so its books are its own.
func TestFaults(t *testing.T) {
	s := newShop(t, stack.Options{})

	t.Run("postgres stopped for several seconds", func(t *testing.T) {
		assertSurvives(t, s, func(t *testing.T) {
			s.Stop(t, stack.Postgres)
			time.Sleep(outage) // the length of the fault, not a wait for something
			s.Restart(t, stack.Postgres)
		})
	})

	for _, svc := range []string{stack.UserService, stack.ProductService, stack.OrderService} {
		t.Run(svc+" killed and restarted", func(t *testing.T) {
			assertSurvives(t, s, func(t *testing.T) {
				s.Kill(t, svc)
				s.Restart(t, svc)
			})
		})
	}

	t.Run("broker restarted", func(t *testing.T) {
		assertSurvives(t, s, func(t *testing.T) {
			s.Stop(t, stack.Kafka)
			s.Restart(t, stack.Kafka)
		})
	})

	t.Run("consul stopped and restarted", func(t *testing.T) {
		assertSurvives(t, s, func(t *testing.T) {
			s.Stop(t, stack.Consul)
			time.Sleep(outage) // the length of the fault
			s.Restart(t, stack.Consul)
			// A restarted agent (in -dev mode, as here) has forgotten every registration: the
			// services must register again, or no client can find them once their cached
			// lists are refreshed from the empty catalogue.
			for _, svc := range []string{stack.UserService, stack.ProductService, stack.OrderService, stack.Gateway} {
				shoptest.Eventually(t, 30*time.Second, svc+" registered and passing in Consul again", func() error {
					if got := s.Passing(t, svc); !slices.Contains(got, svc) {
						return fmt.Errorf("passing: %v", got)
					}
					return nil
				})
			}
		})
	})
}

// assertSurvives runs fault while a burst of orders and cancellations is in flight, then checks
// the shop recovered with its books exact and its dead-letter topics empty of what the burst
// sent.
func assertSurvives(t *testing.T, s *shop, fault func(t *testing.T)) {
	t.Helper()
	healthy(t, s)
	marks := markDeadLetters(t, s)
	b := startBurst(t, s)
	// The fault strikes mid-burst: orders accepted, sagas and cancellations in flight, more
	// orders on the way.
	shoptest.Eventually(t, 30*time.Second, "a third of the burst accepted", func() error {
		if n := b.accepted.Load(); n < burstOrders/3 {
			return fmt.Errorf("%d accepted", n)
		}
		return nil
	})
	start := time.Now()
	fault(t)
	t.Logf("fault over after %s", time.Since(start).Round(100*time.Millisecond))
	b.wait()
	healthy(t, s)

	orders := assertBooks(t, s, b.products, b.customers)
	t.Logf("%d orders accepted with a 202 (%d refused during the fault), %d cancelled by their customer after confirmation; outcomes %v",
		b.accepted.Load(), b.refused.Load(), len(b.cancelled), outcomesOf(orders))
	if len(b.cancelled) == 0 {
		t.Errorf("no confirmed order was cancelled: the scenario is meant to have cancellations in flight")
	}
	final := map[string]string{}
	for _, os := range orders {
		for _, o := range os {
			final[o.ID] = o.Status
		}
	}
	for _, id := range b.cancelled {
		if final[id] != "CANCELLED" {
			t.Errorf("order %s, cancelled by its customer, is %q", id, final[id])
		}
	}
	assertNoNewDeadLetters(t, s, marks)
	// The shop is whole again: a new order goes all the way.
	c := s.newCustomer(t, 1000)
	o, _ := s.placeOrder(t, c.token, shoptest.OrderLine{ProductID: b.products[0].ID, Quantity: 1})
	if got := s.waitTerminal(t, c.token, o.ID); got.Status != "CONFIRMED" {
		t.Errorf("an order after the fault ended %s (%s), want CONFIRMED", got.Status, got.Reason)
	}
}

// The burst's size: orders spread over a few customers, posted by a few workers with a pause
// between orders, so that the burst lasts a few seconds and a fault lands in its middle.
const (
	burstOrders    = 36
	burstCustomers = 4
	burstWorkers   = 3
	burstPause     = 150 * time.Millisecond
)

// burst is customers ordering two new products, and cancelling every third order that their
// shop confirms, in the background. It never fails the test from its goroutines: requests
// refused during a fault are expected, and the books are checked afterwards from what the
// shop stored.
type burst struct {
	products  []shoptest.Product
	customers []customer

	accepted, refused atomic.Int32
	done              chan struct{}

	mu        sync.Mutex
	cancelled []string // orders whose cancellation answered 200
}

// startBurst creates the burst's products and customers and starts it. The customers have
// money for most of their orders, not all: some sagas end CANCELLED for lack of funds.
func startBurst(t *testing.T, s *shop) *burst {
	t.Helper()
	b := &burst{
		products: []shoptest.Product{s.newProduct(t, 500, 60), s.newProduct(t, 300, 20)},
		done:     make(chan struct{}),
	}
	for i := range burstCustomers {
		b.customers = append(b.customers, s.newCustomer(t, int64(4000+2000*i)))
	}
	toCancel := make(chan orderOf, burstOrders)
	go func() {
		defer close(b.done)
		var cancellers sync.WaitGroup
		for range burstWorkers {
			cancellers.Go(func() {
				for o := range toCancel {
					b.cancelWhenConfirmed(t.Context(), s, o)
				}
			})
		}
		shoptest.Parallel(burstOrders, burstWorkers, func(i int) {
			c := b.customers[i%burstCustomers]
			lines := []shoptest.OrderLine{{ProductID: b.products[0].ID, Quantity: 1 + i%2}}
			if i%3 == 0 {
				lines = append(lines, shoptest.OrderLine{ProductID: b.products[1].ID, Quantity: 1})
			}
			var o shoptest.Order
			ans, err := s.api.As(c.token).Do(t.Context(), http.MethodPost, "/orders", map[string]any{"lines": lines}, &o)
			if err != nil || ans.Status != http.StatusAccepted {
				b.refused.Add(1)
			} else {
				b.accepted.Add(1)
				if i%3 == 1 {
					toCancel <- orderOf{c, o.ID}
				}
			}
			time.Sleep(burstPause) // pacing: customers do not all click at once
		})
		close(toCancel)
		cancellers.Wait()
	}()
	return b
}

// orderOf is an order with the customer who placed it.
type orderOf struct {
	customer
	id string
}

// cancelWhenConfirmed waits until the order's saga has finished and, if it was confirmed,
// cancels it, asking again through failures until the shop answers. It gives up quietly at
// the saga deadline: the books are checked from what the shop stored in any case.
func (b *burst) cancelWhenConfirmed(ctx context.Context, s *shop, o orderOf) {
	ctx, cancel := context.WithTimeout(ctx, sagaDeadline)
	defer cancel()
	api := s.api.As(o.token)
	for ctx.Err() == nil {
		var got shoptest.Order
		ans, err := api.Do(ctx, http.MethodGet, "/orders/"+o.id, nil, &got)
		switch {
		case err != nil || ans.Status != http.StatusOK || !shoptest.Terminal(got.Status):
			// not decided yet, or not reachable: ask again
		case got.Status != "CONFIRMED":
			return
		default:
			ans, err := api.Do(ctx, http.MethodPost, "/orders/"+o.id+"/cancel", nil, nil)
			if err == nil && ans.Status == http.StatusOK {
				b.mu.Lock()
				b.cancelled = append(b.cancelled, o.id)
				b.mu.Unlock()
				return
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// wait returns when every order of the burst has been posted and every cancellation settled.
func (b *burst) wait() { <-b.done }
