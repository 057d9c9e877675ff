package app_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/tracecart/tracecart/order-service/internal/adapters/postgres/postgrestest"
	"github.com/tracecart/tracecart/order-service/internal/app"
	"github.com/tracecart/tracecart/order-service/internal/domain/order"
	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/postgres/pgtest"
)

// The reconciler's settings in these tests; orders are aged past them by hand.
const (
	grace       = time.Minute
	maxBackoff  = 5 * time.Minute
	maxAttempts = 3
)

// reconciler returns a reconciler of e's orders whose metrics are read by reader.
func (e *env) reconciler(reader *sdkmetric.ManualReader) *app.App {
	e.t.Helper()
	return e.newApp(func(o *app.Options) { o.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)) })
}

// handle delivers an event about orderID to the saga handler, which must accept it.
func (e *env) handle(eventType string, orderID uuid.UUID, payload any) {
	e.t.Helper()
	if err := e.handler.Handle(e.t.Context(), record(e.t, eventType, orderID, payload)); err != nil {
		e.t.Fatalf("handle %s: %v", eventType, err)
	}
}

// paidAndCancelled places an order, confirms it with payment.succeeded and cancels it as its
// owner would: order.cancelled is in the outbox, and the refund and restock are owed.
func (e *env) paidAndCancelled() order.Order {
	e.t.Helper()
	o := e.newOrder()
	e.handle(events.PaymentSucceeded, o.ID, events.PaymentSucceededPayload{UserID: alice, AmountCents: o.TotalCents})
	o, err := e.app.CancelOrder(e.t.Context(), alice, o.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return o
}

// overdue makes an order's cancellation and payment look older than the grace period, and its
// next re-announcement due.
func (e *env) overdue(id uuid.UUID) {
	e.t.Helper()
	_, err := e.pool.Exec(e.t.Context(), `UPDATE orders SET
		updated_at = now() - make_interval(secs => $2),
		paid_at = CASE WHEN paid_at IS NULL THEN NULL ELSE now() - make_interval(secs => $2) END,
		reannounce_at = CASE WHEN reannounce_at IS NULL THEN NULL ELSE now() - interval '1 second' END
		WHERE id = $1`, id, (grace + time.Second).Seconds())
	if err != nil {
		e.t.Fatal(err)
	}
}

// reconcile runs one round, which must announce want cancellations again.
func (e *env) reconcile(r *app.App, want int) {
	e.t.Helper()
	n, err := r.ReconcileCompensations(e.t.Context())
	if err != nil {
		e.t.Fatalf("Reconcile: %v", err)
	}
	if n != want {
		e.t.Fatalf("Reconcile announced %d cancellations again, want %d", n, want)
	}
}

// reconciliation returns the reconciler's metrics: the healed counter and the two gauges.
func reconciliation(t *testing.T, reader *sdkmetric.ManualReader) (healed, stuck, givenUp int64) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	state := attribute.String("state", app.StateCancelledPaid)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch data := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range data.DataPoints {
					if m.Name == app.MetricHealed && dp.Attributes.HasValue(state.Key) {
						healed += dp.Value
					}
				}
			case metricdata.Gauge[int64]:
				for _, dp := range data.DataPoints {
					switch m.Name {
					case app.MetricStuck:
						stuck = dp.Value
					case app.MetricGivenUp:
						givenUp = dp.Value
					}
				}
			}
		}
	}
	return healed, stuck, givenUp
}

// TestReconcileAnnouncesAPaidOrdersCancellationAgain builds the stuck state, a paid order
// cancelled long ago whose refund and restock were never reported, and checks that the
// reconciler announces the cancellation again, once per due time, with the original payload
// and a new event ID, and stops once both compensations are reported.
func TestReconcileAnnouncesAPaidOrdersCancellationAgain(t *testing.T) {
	e := newEnv(t)
	reader := sdkmetric.NewManualReader()
	r := e.reconciler(reader)
	o := e.paidAndCancelled()

	e.reconcile(r, 0) // within the grace period: the compensations may be on their way
	e.overdue(o.ID)
	if _, stuck, _ := reconciliation(t, reader); stuck != 1 {
		t.Errorf("%s = %d before the round, want 1", app.MetricStuck, stuck)
	}
	e.reconcile(r, 1)
	cancelled := pgtest.OutboxEvents(t, e.pool, o.ID.String(), events.OrderCancelled)
	if len(cancelled) != 2 {
		t.Fatalf("%d order.cancelled events, want the original and one more", len(cancelled))
	}
	original, again := cancelled[0], cancelled[1]
	if again.Envelope.ID == original.Envelope.ID || string(again.Envelope.Payload) != string(original.Envelope.Payload) ||
		again.Topic != events.TopicOrders || again.Key != o.ID.String() {
		t.Errorf("announced again as %+v, want the original's payload, topic and key with a new ID: %+v", again, original)
	}
	if p := pgtest.Payload[events.OrderCancelledPayload](t, again); p.UserID != alice || p.Reason != order.ReasonCustomer {
		t.Errorf("payload %+v, want alice's order cancelled by the customer", p)
	}

	// Once per due time: a second round right away announces nothing.
	e.reconcile(r, 0)
	if healed, _, givenUp := reconciliation(t, reader); healed != 1 || givenUp != 0 {
		t.Errorf("healed %d, given up %d; want 1 and 0", healed, givenUp)
	}

	// The refund alone is not enough: the restock is still owed.
	e.handle(events.PaymentRefunded, o.ID, events.PaymentRefundedPayload{UserID: alice, AmountCents: o.TotalCents})
	e.overdue(o.ID)
	e.reconcile(r, 1)

	// Both reported: the order is settled, and stays out of every later round.
	e.handle(events.InventoryReleased, o.ID, events.InventoryReleasedPayload{Reason: "order_cancelled"})
	e.overdue(o.ID)
	e.reconcile(r, 0)
	if n := len(pgtest.OutboxEvents(t, e.pool, o.ID.String(), events.OrderCancelled)); n != 3 {
		t.Errorf("%d order.cancelled events in all, want 3", n)
	}
	if healed, stuck, givenUp := reconciliation(t, reader); healed != 2 || stuck != 0 || givenUp != 0 {
		t.Errorf("healed %d, stuck %d, given up %d; want 2, 0, 0", healed, stuck, givenUp)
	}
	if got := e.get(o.ID); got.Status != order.Cancelled || got.Reason != order.ReasonCustomer {
		t.Errorf("order is %s (%s), want still CANCELLED by the customer", got.Status, got.Reason)
	}
}

// TestReconcilePaymentAfterTimeout: payment.succeeded arrives after the saga timeout cancelled
// the order. The order stays CANCELLED, but it was paid, so its refund is owed like any other.
func TestReconcilePaymentAfterTimeout(t *testing.T) {
	e := newEnv(t)
	r := e.reconciler(sdkmetric.NewManualReader())
	o := e.newOrder()
	e.age(o.ID, sagaTimeout+time.Second)
	if n, err := e.sweeper(0).SweepTimeouts(t.Context()); err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want the order cancelled", n, err)
	}
	e.handle(events.PaymentSucceeded, o.ID, events.PaymentSucceededPayload{UserID: alice, AmountCents: o.TotalCents})
	if got := e.get(o.ID); got.Status != order.Cancelled {
		t.Fatalf("order is %s, want CANCELLED still", got.Status)
	}

	e.overdue(o.ID)
	e.reconcile(r, 1)
	cancelled := pgtest.OutboxEvents(t, e.pool, o.ID.String(), events.OrderCancelled)
	if len(cancelled) != 2 {
		t.Fatalf("%d order.cancelled events, want the timeout's and one more", len(cancelled))
	}
	if p := pgtest.Payload[events.OrderCancelledPayload](t, cancelled[1]); p.Reason != order.ReasonTimeout {
		t.Errorf("announced again with reason %q, want timeout", p.Reason)
	}
}

// TestReconcileLeavesOrdersThatOweNothing: orders that were never paid (rejected, payment
// failed, timed out before payment) and orders that were never cancelled owe no compensation,
// however old.
func TestReconcileLeavesOrdersThatOweNothing(t *testing.T) {
	e := newEnv(t)
	reader := sdkmetric.NewManualReader()
	r := e.reconciler(reader)

	rejected := e.newOrder()
	e.handle(events.InventoryRejected, rejected.ID, events.InventoryRejectedPayload{Reason: "out_of_stock", ProductID: mug})
	failed := e.newOrder()
	e.handle(events.PaymentFailed, failed.ID, events.PaymentFailedPayload{UserID: alice, Reason: "insufficient_funds"})
	e.handle(events.InventoryReleased, failed.ID, events.InventoryReleasedPayload{Reason: "payment_failed"})
	timedOut := e.newOrder()
	e.age(timedOut.ID, sagaTimeout+time.Second)
	if _, err := e.sweeper(0).SweepTimeouts(t.Context()); err != nil {
		t.Fatal(err)
	}
	confirmed := e.newOrder()
	e.handle(events.PaymentSucceeded, confirmed.ID, events.PaymentSucceededPayload{UserID: alice, AmountCents: confirmed.TotalCents})
	pending := e.newOrder()

	for _, o := range []order.Order{rejected, failed, timedOut, confirmed, pending} {
		e.overdue(o.ID)
	}
	before := postgrestest.CountRows(t, e.pool)
	e.reconcile(r, 0)
	if after := postgrestest.CountRows(t, e.pool); after != before {
		t.Errorf("rows %+v after the round, want %+v unchanged", after, before)
	}
	if healed, stuck, givenUp := reconciliation(t, reader); healed != 0 || stuck != 0 || givenUp != 0 {
		t.Errorf("healed %d, stuck %d, given up %d; want none", healed, stuck, givenUp)
	}
}

// TestReconcileGivesUp: after MaxAttempts announcements, each further apart, the reconciler
// stops and the given-up gauge says so.
func TestReconcileGivesUp(t *testing.T) {
	e := newEnv(t)
	reader := sdkmetric.NewManualReader()
	r := e.reconciler(reader)
	o := e.paidAndCancelled()

	e.overdue(o.ID)
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		e.reconcile(r, 1)
		var waits float64
		if err := e.pool.QueryRow(t.Context(), `SELECT EXTRACT(EPOCH FROM reannounce_at - now()) FROM orders WHERE id = $1`, o.ID).Scan(&waits); err != nil {
			t.Fatal(err)
		}
		want := order.ReannounceDelay(grace, maxBackoff, attempt).Seconds()
		if waits < want-5 || waits > want+1 {
			t.Errorf("after attempt %d the next is due in %.0fs, want %.0fs", attempt, waits, want)
		}
		if _, _, givenUp := reconciliation(t, reader); givenUp != 0 {
			t.Errorf("given up after attempt %d while its wait runs, want not yet", attempt)
		}
		e.overdue(o.ID)
	}
	e.reconcile(r, 0)
	if n := len(pgtest.OutboxEvents(t, e.pool, o.ID.String(), events.OrderCancelled)); n != 1+maxAttempts {
		t.Errorf("%d order.cancelled events, want the original and %d more", n, maxAttempts)
	}
	if healed, stuck, givenUp := reconciliation(t, reader); healed != maxAttempts || stuck != 1 || givenUp != 1 {
		t.Errorf("healed %d, stuck %d, given up %d; want %d, 1, 1", healed, stuck, givenUp, maxAttempts)
	}
}

// TestConcurrentReconcilersAnnounceOnce runs two reconcilers, as two instances would, over the
// same overdue orders at the same time: each order is announced again once.
func TestConcurrentReconcilersAnnounceOnce(t *testing.T) {
	e := newEnv(t)
	const n = 20
	var orders []order.Order
	for range n {
		o := e.paidAndCancelled()
		e.overdue(o.ID)
		orders = append(orders, o)
	}
	var announced atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		r := e.reconciler(sdkmetric.NewManualReader())
		wg.Go(func() {
			got, err := r.ReconcileCompensations(t.Context())
			if err != nil {
				t.Errorf("Reconcile: %v", err)
			}
			announced.Add(int64(got))
		})
	}
	wg.Wait()
	if got := announced.Load(); got != n {
		t.Errorf("%d announcements in all, want %d", got, n)
	}
	for _, o := range orders {
		if got := len(pgtest.OutboxEvents(t, e.pool, o.ID.String(), events.OrderCancelled)); got != 2 {
			t.Errorf("order %s has %d order.cancelled events, want 2", o.ID, got)
		}
	}
}
