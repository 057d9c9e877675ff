package app_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tracecart/tracecart/order-service/internal/app"
	"github.com/tracecart/tracecart/order-service/internal/domain/order"
	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/postgres/pgtest"
	"github.com/tracecart/tracecart/shared/testinfra"
)

const sagaTimeout = 30 * time.Second

// sweeper returns an App whose sweeps cancel at most batch orders per transaction (0: the
// default).
func (e *env) sweeper(batch int) *app.App {
	e.t.Helper()
	return e.newApp(func(o *app.Options) { o.Sweep.BatchSize = batch })
}

func TestSweepCancelsOnlyTimedOutPendingOrders(t *testing.T) {
	e := newEnv(t)
	timedOut := e.newOrder()
	e.age(timedOut.ID, sagaTimeout+time.Second)
	young := e.newOrder()
	e.age(young.ID, sagaTimeout-5*time.Second)
	oldOutcomes := map[uuid.UUID]order.Status{}
	for _, status := range []order.Status{order.Confirmed, order.Rejected, order.Cancelled} {
		o := e.newOrder()
		e.setStatus(o.ID, status, "")
		e.age(o.ID, time.Hour)
		oldOutcomes[o.ID] = status
	}

	n, err := e.sweeper(0).SweepTimeouts(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1 order cancelled", n, err)
	}
	got := e.get(timedOut.ID)
	if got.Status != order.Cancelled || got.Reason != order.ReasonTimeout {
		t.Errorf("timed-out order is %s (%q), want CANCELLED (timeout)", got.Status, got.Reason)
	}
	cancelled := pgtest.OutboxEvents(t, e.pool, timedOut.ID.String(), events.OrderCancelled)
	if len(cancelled) != 1 || cancelled[0].Topic != events.TopicOrders {
		t.Fatalf("order.cancelled events = %+v, want one on the orders topic", cancelled)
	}
	if p := pgtest.Payload[events.OrderCancelledPayload](t, cancelled[0]); p != (events.OrderCancelledPayload{UserID: alice, Reason: "timeout"}) {
		t.Errorf("order.cancelled payload = %+v", p)
	}

	if got := e.get(young.ID); got.Status != order.Pending {
		t.Errorf("an order within the timeout is %s, want PENDING", got.Status)
	}
	for id, status := range oldOutcomes {
		if got := e.get(id); got.Status != status {
			t.Errorf("an old %s order became %s", status, got.Status)
		}
	}
	if n := pgtest.Count(t, e.pool, `SELECT count(*) FROM outbox WHERE headers->>'event-type' = 'order.cancelled'`); n != 1 {
		t.Errorf("%d order.cancelled events in all, want 1", n)
	}
	counts, durations := e.outcomes()
	if counts["timeout"] != 1 || durations != 1 {
		t.Errorf("outcomes %v, %d durations; want one timeout", counts, durations)
	}

	// Nothing is left to do.
	if n, err := e.sweeper(0).SweepTimeouts(t.Context()); err != nil || n != 0 {
		t.Errorf("second Sweep = %d, %v; want 0", n, err)
	}
}

// TestParallelSweepersCancelEachOrderOnce runs two sweepers, as two instances of the service
// would, over more timed-out orders than one batch holds.
func TestParallelSweepersCancelEachOrderOnce(t *testing.T) {
	e := newEnv(t)
	const orders = 40
	for range orders {
		e.age(e.newOrder().ID, time.Minute)
	}

	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int
	)
	start := make(chan struct{})
	for range 2 {
		s := e.sweeper(3)
		wg.Go(func() {
			<-start
			n, err := s.SweepTimeouts(context.Background())
			if err != nil {
				t.Errorf("Sweep: %v", err)
			}
			mu.Lock()
			total += n
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()

	if total != orders {
		t.Errorf("the sweepers cancelled %d orders between them, want %d", total, orders)
	}
	if n := pgtest.Count(t, e.pool, `SELECT count(*) FROM orders WHERE status = 'CANCELLED' AND reason = 'timeout'`); n != orders {
		t.Errorf("%d orders cancelled by timeout, want %d", n, orders)
	}
	if n := pgtest.Count(t, e.pool, `SELECT count(DISTINCT key) FROM outbox WHERE headers->>'event-type' = 'order.cancelled'`); n != orders {
		t.Errorf("order.cancelled for %d distinct orders, want %d", n, orders)
	}
	if n := pgtest.Count(t, e.pool, `SELECT count(*) FROM outbox WHERE headers->>'event-type' = 'order.cancelled'`); n != orders {
		t.Errorf("%d order.cancelled events, want exactly one per order (%d)", n, orders)
	}
}

// TestSweeperRun checks the worker: it sweeps on its own every interval and stops cleanly.
func TestSweeperRun(t *testing.T) {
	e := newEnv(t)
	o := e.newOrder()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.sweeper(0).RunTimeoutSweeper(ctx) }()

	e.age(o.ID, time.Minute)
	testinfra.WaitFor(t, 5*time.Second, "the sweeper to cancel the order", func() error {
		if got := e.get(o.ID); got.Status != order.Cancelled {
			return errStatus(got.Status)
		}
		return nil
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil after cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
}

type errStatus order.Status

func (s errStatus) Error() string { return "order is " + string(s) }

func TestPendingGauges(t *testing.T) {
	e := newEnv(t)
	if got := e.gauge(app.MetricPending); got != 0 {
		t.Errorf("%s = %v with no orders, want 0", app.MetricPending, got)
	}
	old := e.newOrder()
	e.age(old.ID, 10*time.Second)
	e.newOrder()
	done := e.newOrder()
	e.setStatus(done.ID, order.Confirmed, "")
	e.age(done.ID, time.Hour)

	if got := e.gauge(app.MetricPending); got != 2 {
		t.Errorf("%s = %v, want 2", app.MetricPending, got)
	}
	if got := e.gauge(app.MetricPendingOldestAge); got < 10 || got > 60 {
		t.Errorf("%s = %v, want the age of the oldest PENDING order, about 10s", app.MetricPendingOldestAge, got)
	}
}

// TestTimedOutSagaContinuesTheOrdersTrace checks that cancelling a timed-out saga lands in the
// trace of the request that placed the order, with the order.cancelled event carrying that
// trace on, rather than starting a trace nobody can connect to the order.
func TestTimedOutSagaContinuesTheOrdersTrace(t *testing.T) {
	e := newEnv(t)
	spans := tracetest.NewInMemoryExporter()
	tracing := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))

	requestCtx, request := tracing.Tracer("test").Start(t.Context(), "POST /orders")
	placed := e.placeOrder(requestCtx)
	request.End()
	untracedOrder := e.newOrder() // placed outside any trace
	e.age(placed.ID, sagaTimeout+time.Second)
	e.age(untracedOrder.ID, sagaTimeout+time.Second)

	sweeper := e.newApp(func(o *app.Options) { o.TracerProvider = tracing })
	if n, err := sweeper.SweepTimeouts(t.Context()); err != nil || n != 2 {
		t.Fatalf("Sweep = %d, %v; want 2 orders cancelled", n, err)
	}

	want := request.SpanContext()
	var continued, ownRoot int
	for _, s := range spans.GetSpans() {
		if s.Name != "saga timeout" {
			continue
		}
		if s.SpanContext.TraceID() == want.TraceID() && s.Parent.SpanID() == want.SpanID() {
			continued++
		} else if !s.Parent.IsValid() {
			ownRoot++
		}
	}
	if continued != 1 || ownRoot != 1 {
		t.Errorf("saga timeout spans: %d in the order's trace, %d own roots; want 1 and 1", continued, ownRoot)
	}
	var traceparent string
	if err := e.pool.QueryRow(t.Context(), `SELECT headers->>'traceparent' FROM outbox
		WHERE key = $1 AND headers->>'event-type' = 'order.cancelled'`, placed.ID.String()).Scan(&traceparent); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(traceparent, want.TraceID().String()) {
		t.Errorf("order.cancelled carries traceparent %q, want the order's trace %s", traceparent, want.TraceID())
	}
}

// TestEveryOutcomeSeriesStartsAtZero: the SagaTimeouts alert is an increase() of the timeout
// series, which sees the demo's first timeout only if the series existed, at zero, before it.
func TestEveryOutcomeSeriesStartsAtZero(t *testing.T) {
	e := newEnv(t)
	var rm metricdata.ResourceMetrics
	if err := e.reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if data, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == app.MetricOutcomes {
				for _, dp := range data.DataPoints {
					outcome, _ := dp.Attributes.Value(attribute.Key("outcome"))
					seen[outcome.AsString()] = dp.Value == 0
				}
			}
		}
	}
	for _, outcome := range []string{"confirmed", "rejected", "cancelled", "timeout"} {
		if !seen[outcome] {
			t.Errorf("no %s series at zero before any saga finished (series: %v)", outcome, seen)
		}
	}
}
