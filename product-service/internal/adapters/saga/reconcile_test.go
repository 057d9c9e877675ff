package saga_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tracecart/tracecart/product-service/internal/adapters/orderservice"
	"github.com/tracecart/tracecart/product-service/internal/adapters/postgres"
	"github.com/tracecart/tracecart/product-service/internal/app"
	"github.com/tracecart/tracecart/product-service/internal/domain/inventory"
	"github.com/tracecart/tracecart/shared/discovery"
	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/httpclient"
	"github.com/tracecart/tracecart/shared/kafka"
)

// The reconciler's threshold in these tests; reservations are aged past it by hand.
const reconcileAfter = 45 * time.Second

// orderService plays order-service's GET /internal/orders/{id}/status on a real loopback HTTP
// server (order-service itself lives in another module, whose internal packages this one cannot
// import; its route is tested there). The reconciler reaches it through the real client chain
// (static discovery, breaker, retries, tracing), so what is tested here is the real call.
type orderService struct {
	server   *httptest.Server
	mu       sync.Mutex
	statuses map[uuid.UUID]string // missing: 404
	failing  atomic.Bool          // answer 503 to everything
	asked    atomic.Int64
	// onAsk runs before the answer, to let an event race the reconciler.
	onAsk func(orderID uuid.UUID)
	// traceparents are the traceparent headers of the requests, in order.
	traceparents []string
}

func newOrderService(t *testing.T) *orderService {
	t.Helper()
	o := &orderService{statuses: map[uuid.UUID]string{}}
	o.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.asked.Add(1)
		rest, ok := strings.CutPrefix(r.URL.Path, "/internal/orders/")
		raw, ok2 := strings.CutSuffix(rest, "/status")
		id, err := uuid.Parse(raw)
		if !ok || !ok2 || err != nil || r.Method != http.MethodGet {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if o.failing.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		o.mu.Lock()
		o.traceparents = append(o.traceparents, r.Header.Get("traceparent"))
		status, known := o.statuses[id]
		onAsk := o.onAsk
		o.mu.Unlock()
		if onAsk != nil {
			onAsk(id)
		}
		if !known {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"id": id.String(), "status": status})
	}))
	t.Cleanup(o.server.Close)
	return o
}

func (o *orderService) set(orderID uuid.UUID, status inventory.OrderStatus) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.statuses[orderID] = string(status)
}

// newReconciler returns a reconciler of s's database that asks orders through the production
// HTTP client chain, found as "order-service" through a static resolver.
func (s *shop) newReconciler(t *testing.T, orders *orderService, tracing trace.TracerProvider) *app.Reconciler {
	t.Helper()
	client, err := httpclient.New(httpclient.Options{
		Resolver:       discovery.NewStaticResolver(map[string][]string{"order-service": {orders.server.Listener.Addr().String()}}),
		Retry:          httpclient.RetryPolicy{MaxAttempts: 1},
		Logger:         slog.New(slog.DiscardHandler),
		TracerProvider: tracing, Propagators: propagation.TraceContext{},
	})
	if err != nil {
		t.Fatal(err)
	}
	statuses, err := orderservice.New(client, "http://order-service")
	if err != nil {
		t.Fatal(err)
	}
	if tracing == nil {
		tracing = tracenoop.NewTracerProvider()
	}
	r, err := app.NewReconciler(postgres.NewReservations(s.pool), statuses, app.ReconcilerOptions{
		// Rounds are run by hand; the interval only sets the claims' lease (half of it), which
		// must not run out while a slow machine works through a round.
		After: reconcileAfter, Interval: time.Minute, Logger: slog.New(slog.DiscardHandler),
		TracerProvider: tracing, MeterProvider: s.meters,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// reserve reserves lines for a new order through the saga consumer, as order.created would,
// and ages the reservation past the reconciler's threshold.
func (s *shop) reserve(t *testing.T, lines ...events.Line) uuid.UUID {
	t.Helper()
	order := uuid.New()
	s.handle(t, s.created(t, order, lines...))
	s.wantStatus(t, order, inventory.StatusReserved)
	s.age(t, order, reconcileAfter+time.Second)
	return order
}

// age makes order's reservation look as if it had not moved for d.
func (s *shop) age(t *testing.T, order uuid.UUID, d time.Duration) {
	t.Helper()
	_, err := s.pool.Exec(t.Context(), `UPDATE reservations
		SET created_at = now() - make_interval(secs => $2), updated_at = now() - make_interval(secs => $2)
		WHERE order_id = $1`, order, d.Seconds())
	if err != nil {
		t.Fatal(err)
	}
}

// forget clears the reconciler's claims, so the next round looks at every reservation again
// rather than waiting for the claim's lease to pass.
func (s *shop) forget(t *testing.T) {
	t.Helper()
	if _, err := s.pool.Exec(t.Context(), `UPDATE reservations SET checked_at = NULL`); err != nil {
		t.Fatal(err)
	}
}

// reconcile runs one round and checks how many reservations it settled.
func reconcile(t *testing.T, r *app.Reconciler, want int) {
	t.Helper()
	n, err := r.Reconcile(t.Context())
	if err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if n != want {
		t.Fatalf("Reconcile settled %d reservations, want %d", n, want)
	}
}

// TestReconcileReservationOfEndedOrder builds each stuck state, a reservation RESERVED long
// after its order ended because the event that should have settled it was lost, and checks that
// one round settles it as that event would have, exactly once: the books are exact after the
// first round, a second round changes nothing, and the lost event arriving late changes nothing.
func TestReconcileReservationOfEndedOrder(t *testing.T) {
	tests := []struct {
		order        inventory.OrderStatus
		lost         func(*shop, testing.TB, uuid.UUID) kafka.Record // the event that never arrived
		wantStatus   inventory.Status
		stock, sold  int64 // the mug's counts after healing; it starts at 50 and the order takes 3
		wantReleased bool
		effect       string
	}{
		{inventory.OrderConfirmed, (*shop).confirmed, inventory.StatusSold, 47, 3, false, "sell"},
		{inventory.OrderCancelled, (*shop).cancelled, inventory.StatusReleased, 50, 0, true, "release"},
		{inventory.OrderRejected, (*shop).cancelled, inventory.StatusReleased, 50, 0, true, "release"},
	}
	for _, tt := range tests {
		t.Run(string(tt.order), func(t *testing.T) {
			s := newShop(t)
			orders := newOrderService(t)
			r := s.newReconciler(t, orders, nil)

			order := s.reserve(t, line(mug, 3))
			orders.set(order, tt.order)
			s.wantCounts(t, mug, 47, 0)
			if n := s.counter(t, app.MetricStuck, "state", app.StateReserved); n != 1 {
				t.Errorf("%s = %d before healing, want 1", app.MetricStuck, n)
			}

			reconcile(t, r, 1)
			s.wantStatus(t, order, tt.wantStatus)
			s.wantCounts(t, mug, tt.stock, tt.sold)
			reserved := events.InventoryReservedPayload{UserID: s.user, TotalCents: 4242}
			if tt.wantReleased {
				s.wantPublished(t, order, reserved, events.InventoryReleasedPayload{Reason: inventory.ReleaseOrderCancelled})
			} else {
				s.wantPublished(t, order, reserved)
			}
			if n := s.counter(t, app.MetricHealed, "effect", tt.effect); n != 1 {
				t.Errorf("%s{effect=%s} = %d, want 1", app.MetricHealed, tt.effect, n)
			}
			if n := s.counter(t, app.MetricStuck, "state", app.StateReserved); n != 0 {
				t.Errorf("%s = %d after healing, want 0", app.MetricStuck, n)
			}

			// Once: a second round, even with the claims forgotten, finds nothing to do, and the
			// lost event arriving after all is ignored by the same rules.
			s.forget(t)
			asked := orders.asked.Load()
			reconcile(t, r, 0)
			if orders.asked.Load() != asked {
				t.Errorf("the second round asked order-service again about a settled reservation")
			}
			s.handle(t, tt.lost(s, t, order))
			s.wantStatus(t, order, tt.wantStatus)
			s.wantCounts(t, mug, tt.stock, tt.sold)
			if n := s.counter(t, app.MetricHealed, "effect", tt.effect); n != 1 {
				t.Errorf("%s{effect=%s} = %d after a second round, want 1", app.MetricHealed, tt.effect, n)
			}
		})
	}
}

// TestReconcileLeavesWhatIsNotItsBusiness: a reservation that is young, or whose order is still
// PENDING, unknown to order-service, or cannot be asked about, stays RESERVED with its stock
// taken; the last three are errors of the round, and the gauge keeps counting them.
func TestReconcileLeavesWhatIsNotItsBusiness(t *testing.T) {
	s := newShop(t)
	orders := newOrderService(t)
	r := s.newReconciler(t, orders, nil)

	young := uuid.New()
	s.handle(t, s.created(t, young, line(mug, 1)))
	orders.set(young, inventory.OrderCancelled) // ended, but the event may still be on its way
	pending := s.reserve(t, line(mug, 1))
	orders.set(pending, inventory.OrderPending)
	unknown := s.reserve(t, line(mug, 1))

	if n, err := r.Reconcile(t.Context()); n != 0 || err == nil || !strings.Contains(err.Error(), orderservice.ErrUnknownOrder.Error()) {
		t.Errorf("Reconcile = %d, %v; want nothing settled and the unknown order reported", n, err)
	}
	if got := orders.asked.Load(); got != 2 {
		t.Errorf("order-service asked %d times, want 2 (not about the young reservation)", got)
	}
	for _, o := range []uuid.UUID{young, pending, unknown} {
		s.wantStatus(t, o, inventory.StatusReserved)
	}
	s.wantCounts(t, mug, 47, 0)
	if n := s.counter(t, app.MetricStuck, "state", app.StateReserved); n != 2 {
		t.Errorf("%s = %d, want 2", app.MetricStuck, n)
	}

	// A claimed reservation is not asked about again within the lease (half the interval)...
	reconcile(t, r, 0)
	if got := orders.asked.Load(); got != 2 {
		t.Errorf("order-service asked %d times after a second round within the lease, want still 2", got)
	}

	// ...and order-service failing is an error of the round, not a change.
	s.forget(t)
	orders.failing.Store(true)
	if n, err := r.Reconcile(t.Context()); n != 0 || err == nil {
		t.Errorf("Reconcile with order-service down = %d, %v; want nothing settled and an error", n, err)
	}
	s.wantCounts(t, mug, 47, 0)

	// Once order-service answers and the order has ended, the next round settles it.
	orders.failing.Store(false)
	orders.set(pending, inventory.OrderCancelled)
	orders.set(unknown, inventory.OrderConfirmed)
	s.forget(t)
	reconcile(t, r, 2)
	s.wantStatus(t, pending, inventory.StatusReleased)
	s.wantStatus(t, unknown, inventory.StatusSold)
	s.wantCounts(t, mug, 48, 1) // young still holds 1, the confirmed one sold 1
}

// TestReconcileLosesTheRaceToTheEvent: the lost event was only late and arrives while the
// reconciler is asking order-service. The event settles the reservation; the reconciler, which
// locks the reservation and looks again before it changes anything, does nothing.
func TestReconcileLosesTheRaceToTheEvent(t *testing.T) {
	s := newShop(t)
	orders := newOrderService(t)
	r := s.newReconciler(t, orders, nil)
	order := s.reserve(t, line(mug, 2))
	orders.set(order, inventory.OrderConfirmed)
	orders.onAsk = func(uuid.UUID) { s.handle(t, s.confirmed(t, order)) }

	reconcile(t, r, 0)
	s.wantStatus(t, order, inventory.StatusSold)
	s.wantCounts(t, mug, 48, 2) // sold once
}

// TestConcurrentReconcilersSettleOnce runs two reconcilers, as two instances of the service
// would, over the same stuck reservations at the same time: each is settled exactly once.
func TestConcurrentReconcilersSettleOnce(t *testing.T) {
	s := newShop(t)
	orders := newOrderService(t)
	const n = 20
	for i := range n {
		order := s.reserve(t, line(socks, 1))
		if i%2 == 0 {
			orders.set(order, inventory.OrderConfirmed)
		} else {
			orders.set(order, inventory.OrderCancelled)
		}
	}
	s.wantCounts(t, socks, 100-n, 0)

	reconcilers := []*app.Reconciler{s.newReconciler(t, orders, nil), s.newReconciler(t, orders, nil)}
	var settled atomic.Int64
	var wg sync.WaitGroup
	for _, r := range reconcilers {
		wg.Go(func() {
			healed, err := r.Reconcile(t.Context())
			if err != nil {
				t.Errorf("Reconcile: %v", err)
			}
			settled.Add(int64(healed))
		})
	}
	wg.Wait()
	if got := settled.Load(); got != n {
		t.Errorf("%d reservations settled in all, want %d", got, n)
	}
	s.wantCounts(t, socks, 100-n/2, n/2)
	if got := orders.asked.Load(); got != n {
		t.Errorf("order-service asked %d times, want %d (each reservation claimed by one reconciler)", got, n)
	}
}

// TestReconcileContinuesTheOrdersTrace checks that settling a stuck reservation is a span in
// the order's own trace, under the span that reserved the stock (the saga kit's "handle
// order.created"), and that the call to order-service carries that trace on.
func TestReconcileContinuesTheOrdersTrace(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	tracing := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	s := newTracedShop(t, tracing)
	orders := newOrderService(t)
	r := s.newReconciler(t, orders, tracing)

	// order.created handled in the order's trace, as the Kafka consumer does.
	order := uuid.New()
	consumeCtx, consume := tracing.Tracer("test").Start(t.Context(), "orders process")
	if err := s.consumer.Handle(consumeCtx, s.created(t, order, line(mug, 1))); err != nil {
		t.Fatal(err)
	}
	consume.End()
	s.age(t, order, reconcileAfter+time.Second)
	orders.set(order, inventory.OrderCancelled)

	reconcile(t, r, 1)
	var want trace.SpanContext
	for _, span := range spans.GetSpans() {
		if span.Name == "handle "+events.OrderCreated && span.Parent.SpanID() == consume.SpanContext().SpanID() {
			want = span.SpanContext
		}
	}
	if !want.IsValid() {
		t.Fatal("no handle order.created span under the delivery's")
	}
	var found bool
	for _, span := range spans.GetSpans() {
		if span.Name != "reconcile reservation" {
			continue
		}
		found = true
		if span.SpanContext.TraceID() != want.TraceID() || span.Parent.SpanID() != want.SpanID() {
			t.Errorf("reconcile span in trace %s under %s, want trace %s under %s",
				span.SpanContext.TraceID(), span.Parent.SpanID(), want.TraceID(), want.SpanID())
		}
		if !hasAttribute(span.Attributes, "order.id", order.String()) {
			t.Errorf("reconcile span attributes %v, want order.id", span.Attributes)
		}
	}
	if !found {
		t.Fatal("no reconcile reservation span")
	}
	orders.mu.Lock()
	defer orders.mu.Unlock()
	if len(orders.traceparents) != 1 || !strings.Contains(orders.traceparents[0], want.TraceID().String()) {
		t.Errorf("order-service saw traceparents %q, want the order's trace %s", orders.traceparents, want.TraceID())
	}
}

func hasAttribute(attrs []attribute.KeyValue, key, value string) bool {
	for _, a := range attrs {
		if string(a.Key) == key && a.Value.AsString() == value {
			return true
		}
	}
	return false
}
