// Package app is order-service's application layer: one file per use case (placing and
// cancelling an order, recording what the saga's other steps report, sweeping sagas that take
// too long, announcing a paid order's cancellation again), each "load → decide → save → emit"
// against the small interfaces of ports.go. The rules come from domain/order; the adapters
// (HTTP, the saga consumer, Postgres, product-service) only translate to and from these calls.
//
// No use case knows a transaction type. The repository's Update runs a use case's decision and
// writes its result and its events together; when the saga consumer calls a use case, that write
// joins the transaction recording the event in the inbox. Work that must follow a commit (a
// metric, a log line saying an order's saga finished) is registered with aftercommit.Do.
package app

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracecart/tracecart/shared/lifecycle"
	"github.com/tracecart/tracecart/shared/telemetry"
)

// instrumentationName names this package as the source of its spans and metrics.
const instrumentationName = "github.com/tracecart/tracecart/order-service/internal/app"

// Defaults of the batch use cases' options.
const (
	DefaultSweepBatch           = 100
	DefaultReconcileBatch       = 100
	DefaultReconcileMaxAttempts = 5
)

// App is order-service's use cases, one method each, in the files named after them.
type App struct {
	orders    Orders
	changes   OrderChanges
	recheck   time.Duration
	catalog   Catalog
	sweep     SweepOptions
	reconcile ReconcileOptions
	metrics   *metrics
	tracer    trace.Tracer
	logger    *slog.Logger
}

// Options is what New needs. Every field is required, but the batch sizes and
// Reconcile.MaxAttempts, which have defaults.
type Options struct {
	Orders Orders
	// Changes wakes WaitForOrder when an order changes; optional (without it, WaitForOrder only
	// reads again every Recheck).
	Changes OrderChanges
	// Recheck is how often WaitForOrder reads the order again while it waits, for the changes
	// Changes does not report (another replica's); zero means DefaultRecheck.
	Recheck   time.Duration
	Catalog   Catalog
	Sweep     SweepOptions
	Reconcile ReconcileOptions

	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Logger         *slog.Logger
}

// SweepOptions configures SweepTimeouts and RunTimeoutSweeper.
type SweepOptions struct {
	// Timeout is how long a saga may run before its order is cancelled.
	Timeout time.Duration
	// Interval is how often RunTimeoutSweeper sweeps.
	Interval time.Duration
	// BatchSize bounds one sweep transaction; zero means DefaultSweepBatch.
	BatchSize int
}

// ReconcileOptions configures ReconcileCompensations and RunReconciler.
type ReconcileOptions struct {
	// Grace is how long a paid order's refund and restock may take, after its cancellation or
	// its payment (whichever came later), before order.cancelled is announced again; and the
	// first wait between two announcements, which doubles each time up to MaxBackoff.
	Grace      time.Duration
	MaxBackoff time.Duration
	// MaxAttempts is how often the cancellation is announced again before the reconciler gives
	// up and only the given-up gauge (and its alert) says so; zero means
	// DefaultReconcileMaxAttempts.
	MaxAttempts int
	// Interval is how often RunReconciler looks.
	Interval time.Duration
	// BatchSize bounds one transaction; zero means DefaultReconcileBatch.
	BatchSize int
}

// New returns the use cases over opts' ports. Its metrics' gauges ask the repository at every
// collection, that is on every Prometheus scrape.
func New(opts Options) (*App, error) {
	switch {
	case opts.Orders == nil || opts.Catalog == nil:
		return nil, errors.New("new app: Orders and Catalog are required")
	case opts.TracerProvider == nil || opts.MeterProvider == nil || opts.Logger == nil:
		return nil, errors.New("new app: TracerProvider, MeterProvider and Logger are required")
	case opts.Sweep.Timeout <= 0 || opts.Sweep.Interval <= 0:
		return nil, errors.New("new app: a positive Sweep.Timeout and Sweep.Interval are required")
	case opts.Reconcile.Grace <= 0 || opts.Reconcile.MaxBackoff <= 0 || opts.Reconcile.Interval <= 0:
		return nil, errors.New("new app: a positive Reconcile.Grace, MaxBackoff and Interval are required")
	}
	opts.Sweep.BatchSize = positiveOr(opts.Sweep.BatchSize, DefaultSweepBatch)
	opts.Reconcile.BatchSize = positiveOr(opts.Reconcile.BatchSize, DefaultReconcileBatch)
	opts.Reconcile.MaxAttempts = positiveOr(opts.Reconcile.MaxAttempts, DefaultReconcileMaxAttempts)
	m, err := newMetrics(opts.MeterProvider.Meter(instrumentationName), opts.Orders, opts.Reconcile)
	if err != nil {
		return nil, err
	}
	return &App{
		orders: opts.Orders, changes: opts.Changes, recheck: cmp.Or(opts.Recheck, DefaultRecheck), catalog: opts.Catalog, sweep: opts.Sweep, reconcile: opts.Reconcile,
		metrics: m, tracer: opts.TracerProvider.Tracer(instrumentationName), logger: opts.Logger,
	}, nil
}

func positiveOr(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}

// startInOrderTrace starts span name for work on order orderID that has no message to carry
// the order's trace (a timeout, a reconciliation): it continues the trace stored with the order,
// or, for an order stored outside any trace, starts a trace of its own. Either way the span
// carries order.id, like every saga span.
func (a *App) startInOrderTrace(ctx context.Context, name string, orderID uuid.UUID, stored map[string]string) (context.Context, trace.Span) {
	start := []trace.SpanStartOption{trace.WithAttributes(attribute.String("order.id", orderID.String()))}
	// Whatever span ctx is under (the batch's unsampled one) is not this order's trace.
	ctx = trace.ContextWithSpanContext(ctx, trace.SpanContext{})
	parent, ok := telemetry.Resume(ctx, propagation.MapCarrier(stored))
	if !ok {
		start = append(start, trace.WithNewRoot())
	}
	return a.tracer.Start(parent, name, start...)
}

// inOrderTraces is one batch of a batch use case, in one unit of work: lock locks the orders
// that are due, and work handles each in a span name that continues the order's own trace. The
// batch's own queries run unsampled, so an idle round leaves no trace. If the unit of work
// fails, every order's span says so with failed, and nothing of the batch is kept.
func (a *App) inOrderTraces(ctx context.Context, name string,
	lock func(ctx context.Context) ([]Locked, error),
	work func(ctx context.Context, l Locked) error,
	failed string,
) (int, error) {
	var spans []trace.Span
	defer func() {
		for _, span := range spans {
			span.End()
		}
	}()
	done := 0
	err := a.orders.Atomic(telemetry.Unsampled(ctx), func(ctx context.Context) error {
		due, err := lock(ctx)
		if err != nil {
			return err
		}
		for _, l := range due {
			orderCtx, span := a.startInOrderTrace(ctx, name, l.Order.ID, l.TraceContext)
			spans = append(spans, span)
			if err := work(orderCtx, l); err != nil {
				return err
			}
			done++
		}
		return nil
	})
	if err != nil {
		for _, span := range spans {
			span.RecordError(err)
			span.SetStatus(codes.Error, failed)
		}
		return 0, err
	}
	return done, nil
}

// inBatches runs batch until it fails or handles fewer than size items, the sign that nothing
// more is due, and returns how many items all the batches handled.
func inBatches(ctx context.Context, size int, batch func(context.Context) (int, error)) (int, error) {
	total := 0
	for {
		n, err := batch(ctx)
		total += n
		if err != nil || n < size {
			return total, err
		}
	}
}

// Workers are the use cases that run on their own beside the service: the timeout sweeper and
// the compensation reconciler.
func (a *App) Workers() []lifecycle.Worker {
	return []lifecycle.Worker{
		{Name: "saga timeout", Run: a.RunTimeoutSweeper},
		{Name: "compensation reconciler", Run: a.RunReconciler},
	}
}
