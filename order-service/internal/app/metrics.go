package saga

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/tracecart/tracecart/order-service/internal/domain/order"
)

// instrumentationName names this package as the source of its spans and metrics.
const instrumentationName = "github.com/tracecart/tracecart/order-service/internal/saga"

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

// PendingCounter reports the sagas in flight; the order store does, with one query.
type PendingCounter interface {
	PendingStats(ctx context.Context) (count int64, oldest time.Duration, err error)
}

// Metrics records how sagas end. One Metrics is shared by the event handler and the timeout
// sweeper.
type Metrics struct {
	outcomes metric.Int64Counter
	duration metric.Float64Histogram
}

// NewMetrics creates the saga's instruments in provider (nil means the global one). The
// pending gauges ask pending at every collection, that is on every Prometheus scrape.
func NewMetrics(provider metric.MeterProvider, pending PendingCounter) (*Metrics, error) {
	if provider == nil {
		provider = otel.GetMeterProvider()
	}
	meter := provider.Meter(instrumentationName)
	m := &Metrics{}
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
	count, err := meter.Int64ObservableGauge(MetricPending,
		metric.WithUnit("{order}"),
		metric.WithDescription("Orders whose saga is still running (PENDING)."))
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", MetricPending, err)
	}
	oldest, err := meter.Float64ObservableGauge(MetricPendingOldestAge,
		metric.WithUnit("s"),
		metric.WithDescription("How long the oldest running saga has been running."))
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", MetricPendingOldestAge, err)
	}
	_, err = meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		n, age, err := pending.PendingStats(ctx)
		if err != nil {
			return err // the SDK reports it; the scrape goes on without these two gauges
		}
		o.ObserveInt64(count, n)
		o.ObserveFloat64(oldest, age.Seconds())
		return nil
	}, count, oldest)
	if err != nil {
		return nil, fmt.Errorf("register the pending saga gauges: %w", err)
	}
	return m, nil
}

// finished records that the saga of o ended with event e. Call it with the context of the
// span that handled the event, so the duration's exemplar links to that trace.
func (m *Metrics) finished(ctx context.Context, e order.Event, o order.Order) {
	outcome, ok := outcomes[e]
	if !ok {
		return // not an end of the saga (a customer cancelling a confirmed order)
	}
	attrs := metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", outcome)))
	m.outcomes.Add(ctx, 1, attrs)
	m.duration.Record(ctx, o.UpdatedAt.Sub(o.CreatedAt).Seconds(), attrs)
}
