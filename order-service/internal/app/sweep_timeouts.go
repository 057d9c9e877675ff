package saga

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracecart/tracecart/order-service/internal/domain/order"
	"github.com/tracecart/tracecart/order-service/internal/orderevents"
	"github.com/tracecart/tracecart/order-service/internal/adapters/postgres"
	"github.com/tracecart/tracecart/shared/lifecycle"
	"github.com/tracecart/tracecart/shared/outbox"
	pgkit "github.com/tracecart/tracecart/shared/postgres"
	"github.com/tracecart/tracecart/shared/telemetry"
)

// DefaultSweepBatch is how many timed-out orders one sweep transaction cancels at most.
const DefaultSweepBatch = 100

// Sweeper cancels orders whose saga has not finished within the timeout: a step of the saga
// may be down or have dead-lettered its event, and a customer must not wait forever. Each
// order is cancelled with reason "timeout" and an order.cancelled event, which makes
// product-service release the reservation and user-service refund a payment, if either
// happened.
//
// Any number of sweepers may run, one per instance of the service: each locks its batch with
// FOR UPDATE SKIP LOCKED, so no order is cancelled twice and none waits for another sweeper.
type Sweeper struct {
	pool   *pgxpool.Pool
	store  *postgres.Store
	opts   SweeperOptions
	tracer trace.Tracer
}

// SweeperOptions configures NewSweeper. Timeout, Interval, Metrics and Logger are required.
type SweeperOptions struct {
	// Timeout is how long a saga may run before its order is cancelled.
	Timeout time.Duration
	// Interval is how often Run sweeps.
	Interval time.Duration
	// BatchSize bounds one sweep transaction; zero means DefaultSweepBatch.
	BatchSize int
	Metrics   *Metrics
	Logger    *slog.Logger
	// TracerProvider starts the span of each timed-out saga; nil means the global one.
	TracerProvider trace.TracerProvider
}

// NewSweeper returns a sweeper of pool's orders. It does nothing until Run or Sweep.
func NewSweeper(pool *pgxpool.Pool, store *postgres.Store, opts SweeperOptions) (*Sweeper, error) {
	if opts.Timeout <= 0 || opts.Interval <= 0 || opts.Metrics == nil || opts.Logger == nil {
		return nil, errors.New("new saga sweeper: a positive Timeout and Interval, Metrics and Logger are required")
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultSweepBatch
	}
	if opts.TracerProvider == nil {
		opts.TracerProvider = otel.GetTracerProvider()
	}
	return &Sweeper{pool: pool, store: store, opts: opts, tracer: opts.TracerProvider.Tracer(instrumentationName)}, nil
}

// Run sweeps every Interval until ctx is done, then returns nil. A failed sweep (the database
// unreachable) is logged and tried again at the next tick: the sweeper is a safety net and must
// outlive the outages it is there for.
func (s *Sweeper) Run(ctx context.Context) error {
	return lifecycle.Every(ctx, s.opts.Interval,
		func(ctx context.Context) error { _, err := s.Sweep(ctx); return err },
		func(ctx context.Context, err error) {
			s.opts.Logger.WarnContext(ctx, "sweep timed-out sagas", "error", err)
		})
}

// Sweep cancels every order that has been PENDING for longer than the timeout, in batches,
// and returns how many it cancelled.
func (s *Sweeper) Sweep(ctx context.Context) (int, error) {
	return inBatches(ctx, s.opts.BatchSize, s.sweepBatch)
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

// sweepBatch cancels one batch of timed-out orders in one transaction.
func (s *Sweeper) sweepBatch(ctx context.Context) (int, error) {
	type cancelled struct {
		ctx   context.Context // of the order's timeout span, for the metrics' exemplars
		order order.Order
	}
	var done []cancelled
	var spans []trace.Span
	defer func() {
		for _, span := range spans {
			span.End()
		}
	}()

	err := pgkit.InTx(telemetry.Unsampled(ctx), s.pool, func(tx pgx.Tx) error {
		expired, err := s.store.LockTimedOut(telemetry.Unsampled(ctx), tx, s.opts.Timeout, s.opts.BatchSize)
		if err != nil {
			return err
		}
		for _, o := range expired {
			// The cancellation continues the order's own trace, from the context stored when it
			// was placed, and its order.cancelled event carries that trace on to the
			// compensations in the other services: one order, one trace, to the last
			// compensation. An order stored without a context gets a trace of its own.
			stored, err := s.store.TraceContext(telemetry.Unsampled(ctx), tx, o.ID)
			if err != nil {
				return err
			}
			orderCtx, span := startInOrderTrace(ctx, s.tracer, "saga timeout", o.ID, stored)
			spans = append(spans, span)
			next, err := o.Status.Next(order.TimedOut)
			if err != nil {
				return fmt.Errorf("order %s: %w", o.ID, err) // LockTimedOut returned a non-PENDING order: a bug
			}
			if o, err = s.store.SetStatus(orderCtx, tx, o.ID, next, order.ReasonTimeout); err != nil {
				return err
			}
			msg, err := orderevents.Cancelled(o)
			if err != nil {
				return err
			}
			// One Add per order, so each outbox row carries its own order's trace context.
			if err := outbox.Add(orderCtx, tx, msg); err != nil {
				return fmt.Errorf("order %s: %w", o.ID, err)
			}
			done = append(done, cancelled{ctx: orderCtx, order: o})
		}
		return nil
	})
	if err != nil {
		for _, span := range spans {
			span.RecordError(err)
			span.SetStatus(codes.Error, "the sweep's transaction failed; the order stays PENDING until the next sweep")
		}
		return 0, err
	}
	for _, c := range done {
		s.opts.Metrics.finished(c.ctx, order.TimedOut, c.order)
		s.opts.Logger.InfoContext(c.ctx, "order saga timed out", "order_id", c.order.ID.String(),
			"age", c.order.UpdatedAt.Sub(c.order.CreatedAt).String())
	}
	return len(done), nil
}

// startInOrderTrace starts span name for work on order orderID that has no message to carry
// the order's trace (a timeout, a reconciliation): it continues the trace stored with the order,
// or, for an order stored outside any trace, starts a trace of its own. Either way the span
// carries order.id, like every saga span.
func startInOrderTrace(ctx context.Context, tracer trace.Tracer, name string, orderID uuid.UUID, stored propagation.MapCarrier) (context.Context, trace.Span) {
	start := []trace.SpanStartOption{trace.WithAttributes(attribute.String("order.id", orderID.String()))}
	parent, ok := telemetry.Resume(ctx, stored)
	if !ok {
		start = append(start, trace.WithNewRoot())
	}
	return tracer.Start(parent, name, start...)
}
