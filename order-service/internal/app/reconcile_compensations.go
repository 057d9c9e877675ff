package saga

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracecart/tracecart/order-service/internal/domain/order"
	"github.com/tracecart/tracecart/order-service/internal/orderevents"
	"github.com/tracecart/tracecart/order-service/internal/adapters/postgres"
	"github.com/tracecart/tracecart/shared/lifecycle"
	"github.com/tracecart/tracecart/shared/outbox"
	pgkit "github.com/tracecart/tracecart/shared/postgres"
	"github.com/tracecart/tracecart/shared/telemetry"
)

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

// Defaults of ReconcilerOptions.
const (
	DefaultReconcileBatch       = 100
	DefaultReconcileMaxAttempts = 5
)

// ReconcilerOptions configures NewReconciler. Grace, MaxBackoff, Interval and Logger are
// required.
type ReconcilerOptions struct {
	// Grace is how long a paid order's refund and restock may take, after its cancellation or
	// its payment (whichever came later), before order.cancelled is announced again; and the
	// first wait between two announcements, which doubles each time up to MaxBackoff.
	Grace      time.Duration
	MaxBackoff time.Duration
	// MaxAttempts is how often the cancellation is announced again before the reconciler gives
	// up and only the given-up gauge (and its alert) says so; zero means
	// DefaultReconcileMaxAttempts.
	MaxAttempts int
	// Interval is how often Run looks.
	Interval time.Duration
	// BatchSize bounds one transaction; zero means DefaultReconcileBatch.
	BatchSize int
	Logger    *slog.Logger
	// TracerProvider and MeterProvider default to the global ones.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
}

// Reconciler completes the cancellations of paid orders. When an order that was paid (it was
// CONFIRMED, or payment.succeeded came after the saga timeout cancelled it) is cancelled,
// order.cancelled tells user-service to refund and product-service to restock, and each reports
// it with payment.refunded and inventory.released, which the handler records. If either report
// has not arrived Grace after the cancellation, the order.cancelled may have been lost on its
// way (dead-lettered by a consumer): the reconciler announces it again, a new event with the
// original cancellation's payload. That is safe because the other services compensate from
// their own records, and their state machines ignore a cancellation they have already applied.
// It tries MaxAttempts times, further and further apart, then gives up and leaves the order to
// the given-up gauge and its alert.
//
// Like the sweeper, it works in batches locked with FOR UPDATE SKIP LOCKED, one transaction
// per batch that writes the events to the outbox: any number of instances may run, and no
// order is announced twice in one round.
type Reconciler struct {
	pool   *pgxpool.Pool
	store  *postgres.Store
	opts   ReconcilerOptions
	tracer trace.Tracer
	healed metric.Int64Counter
}

// NewReconciler returns a reconciler of pool's orders. It does nothing until Run or
// Reconcile; its gauges ask the database at every collection.
func NewReconciler(pool *pgxpool.Pool, store *postgres.Store, opts ReconcilerOptions) (*Reconciler, error) {
	if opts.Grace <= 0 || opts.MaxBackoff <= 0 || opts.Interval <= 0 || opts.Logger == nil {
		return nil, errors.New("new reconciler: positive Grace, MaxBackoff and Interval, and Logger are required")
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultReconcileBatch
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultReconcileMaxAttempts
	}
	if opts.TracerProvider == nil {
		opts.TracerProvider = otel.GetTracerProvider()
	}
	if opts.MeterProvider == nil {
		opts.MeterProvider = otel.GetMeterProvider()
	}
	meter := opts.MeterProvider.Meter(instrumentationName)
	r := &Reconciler{pool: pool, store: store, opts: opts, tracer: opts.TracerProvider.Tracer(instrumentationName)}
	var err error
	if r.healed, err = meter.Int64Counter(MetricHealed, metric.WithUnit("{item}"),
		metric.WithDescription("What reconcilers did about items left behind by lost saga events, by state and effect.")); err != nil {
		return nil, fmt.Errorf("new reconciler: %w", err)
	}
	// A zero series, so that increase() sees the first one and the alert rules name a series
	// that exists before anything was ever stuck.
	r.healed.Add(context.Background(), 0, healedAttrs)
	stuck, err := meter.Int64ObservableGauge(MetricStuck, metric.WithUnit("{item}"),
		metric.WithDescription("Items past their reconciliation threshold right now, by state."))
	if err != nil {
		return nil, fmt.Errorf("new reconciler: %w", err)
	}
	givenUp, err := meter.Int64ObservableGauge(MetricGivenUp, metric.WithUnit("{item}"),
		metric.WithDescription("Stuck items a reconciler has stopped trying to heal, by state."))
	if err != nil {
		return nil, fmt.Errorf("new reconciler: %w", err)
	}
	state := metric.WithAttributes(attribute.String("state", StateCancelledPaid))
	_, err = meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(telemetry.Unsampled(ctx), 2*time.Second)
		defer cancel()
		n, gaveUp, err := store.OwedStats(ctx, opts.Grace, opts.MaxAttempts)
		if err != nil {
			return err // the SDK reports it; the scrape goes on without these gauges
		}
		o.ObserveInt64(stuck, n, state)
		o.ObserveInt64(givenUp, gaveUp, state)
		return nil
	}, stuck, givenUp)
	if err != nil {
		return nil, fmt.Errorf("new reconciler: register the reconciliation gauges: %w", err)
	}
	return r, nil
}

var healedAttrs = metric.WithAttributeSet(attribute.NewSet(
	attribute.String("state", StateCancelledPaid), attribute.String("effect", "reannounce")))

// Run reconciles every Interval until ctx is done, then returns nil. A failed round (the
// database unreachable) is logged and tried again at the next tick.
func (r *Reconciler) Run(ctx context.Context) error {
	return lifecycle.Every(ctx, r.opts.Interval,
		func(ctx context.Context) error { _, err := r.Reconcile(ctx); return err },
		func(ctx context.Context, err error) {
			r.opts.Logger.WarnContext(ctx, "reconcile cancelled orders owed a compensation", "error", err)
		})
}

// Reconcile announces again the cancellation of every paid order whose refund or restock is
// overdue, in batches, and returns how many it announced.
func (r *Reconciler) Reconcile(ctx context.Context) (int, error) {
	return inBatches(ctx, r.opts.BatchSize, r.reconcileBatch)
}

// reconcileBatch announces again the cancellations of one batch of orders, in one transaction.
func (r *Reconciler) reconcileBatch(ctx context.Context) (int, error) {
	type announced struct {
		ctx     context.Context // of the order's reconciliation span
		owed    postgres.Owed
		attempt int
	}
	var done []announced
	var spans []trace.Span
	defer func() {
		for _, span := range spans {
			span.End()
		}
	}()

	err := pgkit.InTx(telemetry.Unsampled(ctx), r.pool, func(tx pgx.Tx) error {
		owed, err := r.store.LockOwed(telemetry.Unsampled(ctx), tx, r.opts.Grace, r.opts.MaxAttempts, r.opts.BatchSize)
		if err != nil {
			return err
		}
		for _, w := range owed {
			o := w.Order
			orderCtx, span := startInOrderTrace(ctx, r.tracer, "reconcile cancelled order", o.ID, w.TraceContext)
			spans = append(spans, span)
			attempt := w.Reannounced + 1
			span.SetAttributes(attribute.Int("reconciliation.attempt", attempt))
			// The original cancellation's payload: the order as it is, with the reason it was
			// cancelled for. A new event ID, so the inboxes downstream process it; their state
			// machines make a repeat harmless.
			msg, err := orderevents.Cancelled(o)
			if err != nil {
				return err
			}
			if err := outbox.Add(orderCtx, tx, msg); err != nil {
				return fmt.Errorf("order %s: %w", o.ID, err)
			}
			next := order.ReannounceDelay(r.opts.Grace, r.opts.MaxBackoff, attempt)
			if err := r.store.MarkReannounced(orderCtx, tx, o.ID, next); err != nil {
				return err
			}
			done = append(done, announced{ctx: orderCtx, owed: w, attempt: attempt})
		}
		return nil
	})
	if err != nil {
		for _, span := range spans {
			span.RecordError(err)
			span.SetStatus(codes.Error, "the reconciliation's transaction failed; the order is tried again next round")
		}
		return 0, err
	}
	for _, a := range done {
		r.healed.Add(a.ctx, 1, healedAttrs)
		log := r.opts.Logger.InfoContext
		if a.attempt == r.opts.MaxAttempts {
			log = r.opts.Logger.WarnContext // the last try: after it, only the alert
		}
		log(a.ctx, "cancellation of a paid order announced again: its refund or restock was not reported",
			"order_id", a.owed.Order.ID.String(), "reason", a.owed.Order.Reason,
			"attempt", a.attempt, "max_attempts", r.opts.MaxAttempts)
	}
	return len(done), nil
}
