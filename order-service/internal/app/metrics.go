package app

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/tracecart/tracecart/order-service/internal/domain/order"
	"github.com/tracecart/tracecart/shared/telemetry"
)

// Metric names. Prometheus shows them as tracecart_saga_outcomes_total,
// tracecart_saga_duration_seconds, tracecart_saga_pending and
// tracecart_saga_pending_oldest_age_seconds.
const (
	// MetricOutcomes counts sagas that finished, by outcome: confirmed, rejected, cancelled
	// (payment failed) or timeout.
	MetricOutcomes = "tracecart.saga.outcomes"
	// MetricDuration is a histogram of the time from an order's creation to its saga's outcome.
	// Its exemplars link slow buckets to the trace of the event that ended the saga.
	MetricDuration = "tracecart.saga.duration"
	// MetricPending is a gauge of the orders whose saga is still running. It should hover
	// near zero; a number that only grows means a step of the saga is stuck.
	MetricPending = "tracecart.saga.pending"
	// MetricPendingOldestAge is a gauge of how long the oldest running saga has been running;
	// above the saga timeout, the timeout sweeper is not keeping up (or not running).
	MetricPendingOldestAge = "tracecart.saga.pending.oldest_age"
)

// durationBuckets are the saga duration histogram's bucket bounds in seconds: fine-grained
// around the targets (p50 25 ms, p99 100 ms) and up past the default 30 s timeout.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// outcomes maps each event that ends a saga to its outcome label.
var outcomes = map[order.Event]string{
	order.PaymentSucceeded:  "confirmed",
	order.InventoryRejected: "rejected",
	order.PaymentFailed:     "cancelled",
	order.TimedOut:          "timeout",
}

// Reconciliation metric names, the same as product-service's reconciler's so that one
// dashboard panel and one set of alert rules cover both. Prometheus shows them as
// tracecart_reconciliation_healed_total, tracecart_reconciliation_stuck and
// tracecart_reconciliation_given_up.
const (
	// MetricHealed counts what a reconciler did about a stuck item, by state and effect; here,
	// re-announcing a paid order's cancellation (effect "reannounce").
	MetricHealed = "tracecart.reconciliation.healed"
	// MetricStuck is a gauge of the paid, cancelled orders whose refund or restock has not been
	// reported within the grace period, given up on or not.
	MetricStuck = "tracecart.reconciliation.stuck"
	// MetricGivenUp is a gauge of the stuck orders the reconciler no longer announces: someone
	// has to look at them.
	MetricGivenUp = "tracecart.reconciliation.given_up"
)

// StateCancelledPaid is the state label of cancelled orders that were paid and are still owed
// a refund or a restock.
const StateCancelledPaid = "cancelled_paid"

var healedAttrs = metric.WithAttributeSet(attribute.NewSet(
	attribute.String("state", StateCancelledPaid), attribute.String("effect", "reannounce")))

// metrics records how sagas end and what the reconciler heals. The use cases record after
// their transaction commits (aftercommit.Do), so a rolled-back attempt is never counted.
type metrics struct {
	outcomes metric.Int64Counter
	duration metric.Float64Histogram
	healed   metric.Int64Counter
}

// newMetrics creates the instruments in meter. The gauges ask orders at every collection.
func newMetrics(meter metric.Meter, orders Orders, reconcile ReconcileOptions) (*metrics, error) {
	m := &metrics{}
	var err error
	if m.outcomes, err = meter.Int64Counter(MetricOutcomes,
		metric.WithUnit("{saga}"),
		metric.WithDescription("Order sagas that finished, by outcome.")); err != nil {
		return nil, fmt.Errorf("create %s: %w", MetricOutcomes, err)
	}
	if m.duration, err = meter.Float64Histogram(MetricDuration,
		metric.WithUnit("s"),
		metric.WithDescription("Time from an order's creation to its saga's outcome."),
		metric.WithExplicitBucketBoundaries(durationBuckets...)); err != nil {
		return nil, fmt.Errorf("create %s: %w", MetricDuration, err)
	}
	if m.healed, err = meter.Int64Counter(MetricHealed, metric.WithUnit("{item}"),
		metric.WithDescription("What reconcilers did about items left behind by lost saga events, by state and effect.")); err != nil {
		return nil, fmt.Errorf("create %s: %w", MetricHealed, err)
	}
	// A zero series, so that increase() sees the first one and the alert rules name a series
	// that exists before anything was ever stuck.
	m.healed.Add(context.Background(), 0, healedAttrs)
	// The same for every outcome: the SagaTimeouts alert is an increase() of the timeout series,
	// which would otherwise appear at 1 with the demo's first timeout and show no increase.
	for _, outcome := range outcomes {
		m.outcomes.Add(context.Background(), 0, metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", outcome))))
	}
	if err := registerPendingGauges(meter, orders); err != nil {
		return nil, err
	}
	if err := registerOwedGauges(meter, orders, reconcile); err != nil {
		return nil, err
	}
	return m, nil
}

// registerPendingGauges reports the sagas in flight, with one query per collection.
func registerPendingGauges(meter metric.Meter, orders Orders) error {
	count, err := meter.Int64ObservableGauge(MetricPending,
		metric.WithUnit("{order}"),
		metric.WithDescription("Orders whose saga is still running (PENDING)."))
	if err != nil {
		return fmt.Errorf("create %s: %w", MetricPending, err)
	}
	oldest, err := meter.Float64ObservableGauge(MetricPendingOldestAge,
		metric.WithUnit("s"),
		metric.WithDescription("How long the oldest running saga has been running."))
	if err != nil {
		return fmt.Errorf("create %s: %w", MetricPendingOldestAge, err)
	}
	_, err = meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		n, age, err := orders.PendingStats(ctx)
		if err != nil {
			return err // the SDK reports it; the scrape goes on without these two gauges
		}
		o.ObserveInt64(count, n)
		o.ObserveFloat64(oldest, age.Seconds())
		return nil
	}, count, oldest)
	if err != nil {
		return fmt.Errorf("register the pending saga gauges: %w", err)
	}
	return nil
}

// registerOwedGauges reports the paid, cancelled orders still owed a compensation.
func registerOwedGauges(meter metric.Meter, orders Orders, reconcile ReconcileOptions) error {
	stuck, err := meter.Int64ObservableGauge(MetricStuck, metric.WithUnit("{item}"),
		metric.WithDescription("Items past their reconciliation threshold right now, by state."))
	if err != nil {
		return fmt.Errorf("create %s: %w", MetricStuck, err)
	}
	givenUp, err := meter.Int64ObservableGauge(MetricGivenUp, metric.WithUnit("{item}"),
		metric.WithDescription("Stuck items a reconciler has stopped trying to heal, by state."))
	if err != nil {
		return fmt.Errorf("create %s: %w", MetricGivenUp, err)
	}
	state := metric.WithAttributes(attribute.String("state", StateCancelledPaid))
	_, err = meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(telemetry.Unsampled(ctx), 2*time.Second)
		defer cancel()
		n, gaveUp, err := orders.OwedStats(ctx, reconcile.Grace, reconcile.MaxAttempts)
		if err != nil {
			return err // the SDK reports it; the scrape goes on without these gauges
		}
		o.ObserveInt64(stuck, n, state)
		o.ObserveInt64(givenUp, gaveUp, state)
		return nil
	}, stuck, givenUp)
	if err != nil {
		return fmt.Errorf("register the reconciliation gauges: %w", err)
	}
	return nil
}

// finished records that the saga of o ended with event e. Call it with the context of the
// span that handled the event, so the duration's exemplar links to that trace.
func (m *metrics) finished(ctx context.Context, e order.Event, o order.Order) {
	outcome, ok := outcomes[e]
	if !ok {
		return // not an end of the saga (a customer cancelling a confirmed order)
	}
	attrs := metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", outcome)))
	m.outcomes.Add(ctx, 1, attrs)
	m.duration.Record(ctx, o.UpdatedAt.Sub(o.CreatedAt).Seconds(), attrs)
}
