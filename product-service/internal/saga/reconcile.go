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
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracecart/tracecart/product-service/internal/inventory"
	"github.com/tracecart/tracecart/shared/lifecycle"
	pgkit "github.com/tracecart/tracecart/shared/postgres"
	"github.com/tracecart/tracecart/shared/telemetry"
)

// Reconciliation metric names, shared with order-service's reconciler so one dashboard panel
// and one alert cover both. Prometheus shows them as tracecart_reconciliation_healed_total and
// tracecart_reconciliation_stuck.
const (
	// MetricHealed counts items a reconciler completed, by state (what was stuck: "reserved")
	// and effect (what healing did: "sell", "release").
	MetricHealed = "tracecart.reconciliation.healed"
	// MetricStuck is a gauge of the items that are past their threshold right now, by state.
	// It rises for a moment whenever an event is lost and falls once the reconciler has healed
	// it; one that stays up means the reconciler cannot heal it (order-service unreachable, or
	// an order order-service does not know).
	MetricStuck = "tracecart.reconciliation.stuck"
)

// StateReserved is the state label of reservations left RESERVED.
const StateReserved = "reserved"

// DefaultReconcileBatch is how many reservations one claim takes at most.
const DefaultReconcileBatch = 100

// Stuck is a reservation the reconciler claimed: its order, and the trace context stored with
// the reservation, which its healing continues.
type Stuck struct {
	OrderID      uuid.UUID
	TraceContext propagation.MapCarrier
}

// Reservations is what the reconciler needs from the database, each call inside a transaction
// the reconciler runs: the event handler's Inventory, and finding the reservations left behind.
type Reservations interface {
	Inventory
	// ClaimStuck returns up to limit reservations RESERVED for longer than age that no
	// reconciler claimed within lease, oldest first, and claims them.
	ClaimStuck(ctx context.Context, tx pgx.Tx, age, lease time.Duration, limit int) ([]Stuck, error)
	// CountStuck returns how many reservations have been RESERVED for longer than age.
	CountStuck(ctx context.Context, tx pgx.Tx, age time.Duration) (int64, error)
}

// OrderStatuses tells how an order's saga stands; in production it is order-service's
// internal status route (package orderservice).
type OrderStatuses interface {
	Status(ctx context.Context, orderID uuid.UUID) (inventory.OrderStatus, error)
}

// ReconcilerOptions configures NewReconciler. After, Interval and Logger are required.
type ReconcilerOptions struct {
	// After is how long a reservation may stay RESERVED before order-service is asked about
	// it. A reservation is RESERVED only while its payment is taken, milliseconds normally; a
	// PENDING order is order-service's saga timeout's business, so After should be a little
	// longer than that timeout.
	After time.Duration
	// Interval is how often Run looks. A claim lasts half an Interval: no other round asks
	// about the reservation meanwhile, however many instances run. A round that takes longer
	// than that (order-service very slow with a full batch) may see another instance ask about
	// the same reservation again; that costs a call, not a second settlement, since settling
	// locks the reservation and checks it again.
	Interval time.Duration
	// BatchSize bounds one claim; zero means DefaultReconcileBatch.
	BatchSize int
	Logger    *slog.Logger
	// TracerProvider and MeterProvider default to the global ones.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
}

// Reconciler settles reservations whose saga events were lost. A reservation stays RESERVED
// until order.confirmed sells it or payment.failed or order.cancelled releases it; if that event
// never arrives (dead-lettered, or lost to a bug), the stock stays taken forever and the books
// no longer add up. The reconciler finds reservations RESERVED for longer than After, asks
// order-service, the owner of the order's outcome, how the order ended, and applies what the lost
// event would have applied (inventory.Heal), in one transaction, with inventory.released for a
// release, as the event handler does.
//
// No transaction is held while order-service is asked: the reconciler claims a batch (a short
// transaction with FOR UPDATE SKIP LOCKED that stamps checked_at), asks about each order, and
// then settles each one in a transaction of its own that locks the reservation and checks again
// that it is still RESERVED. An event that arrived meanwhile wins, so a reservation is settled
// once whether the event, this reconciler or another instance's gets there first.
type Reconciler struct {
	pool    *pgxpool.Pool
	store   Reservations
	orders  OrderStatuses
	opts    ReconcilerOptions
	tracer  trace.Tracer
	healed  metric.Int64Counter
	release metric.Int64Counter
}

// NewReconciler returns a reconciler of pool's reservations. It does nothing until Run or
// Reconcile; its gauge asks the database at every collection.
func NewReconciler(pool *pgxpool.Pool, store Reservations, orders OrderStatuses, opts ReconcilerOptions) (*Reconciler, error) {
	if opts.After <= 0 || opts.Interval <= 0 || opts.Logger == nil || store == nil || orders == nil {
		return nil, errors.New("new reconciler: a store, an order status source, positive After and Interval, and Logger are required")
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultReconcileBatch
	}
	if opts.TracerProvider == nil {
		opts.TracerProvider = otel.GetTracerProvider()
	}
	if opts.MeterProvider == nil {
		opts.MeterProvider = otel.GetMeterProvider()
	}
	meter := opts.MeterProvider.Meter(instrumentationScope)
	r := &Reconciler{pool: pool, store: store, orders: orders, opts: opts, tracer: opts.TracerProvider.Tracer(instrumentationScope)}
	var err error
	if r.healed, err = meter.Int64Counter(MetricHealed, metric.WithUnit("{item}"),
		metric.WithDescription("Items left behind by lost saga events that a reconciler completed, by state and effect.")); err != nil {
		return nil, fmt.Errorf("new reconciler: %w", err)
	}
	// The same instrument as the event handler's: a release is a release, however it came.
	if r.release, err = meter.Int64Counter(MetricReleases, metric.WithUnit("{order}"),
		metric.WithDescription("Reservations and sales given back to the stock, by reason.")); err != nil {
		return nil, fmt.Errorf("new reconciler: %w", err)
	}
	// Zero series for every effect, so that increase() sees the first healing and the alert
	// rules name series that exist before anything was ever stuck.
	for _, effect := range []inventory.Effect{inventory.EffectSell, inventory.EffectRelease} {
		r.healed.Add(context.Background(), 0, healedAttrs(effect))
	}
	stuck, err := meter.Int64ObservableGauge(MetricStuck, metric.WithUnit("{item}"),
		metric.WithDescription("Items past their reconciliation threshold right now, by state."))
	if err != nil {
		return nil, fmt.Errorf("new reconciler: %w", err)
	}
	state := metric.WithAttributes(attribute.String("state", StateReserved))
	_, err = meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		var n int64
		err := pgkit.InTx(telemetry.Unsampled(ctx), pool, func(tx pgx.Tx) (err error) {
			n, err = store.CountStuck(ctx, tx, opts.After)
			return err
		})
		if err != nil {
			return err // the SDK reports it; the scrape goes on without this gauge
		}
		o.ObserveInt64(stuck, n, state)
		return nil
	}, stuck)
	if err != nil {
		return nil, fmt.Errorf("new reconciler: register %s: %w", MetricStuck, err)
	}
	return r, nil
}

func healedAttrs(effect inventory.Effect) metric.AddOption {
	return metric.WithAttributes(attribute.String("state", StateReserved), attribute.String("effect", effect.String()))
}

// Run reconciles every Interval until ctx is done, then returns nil. A failed round (the
// database or order-service unreachable) is logged and tried again at the next tick: the
// reconciler is a safety net and must outlive the outages it is there for.
func (r *Reconciler) Run(ctx context.Context) error {
	return lifecycle.Every(ctx, r.opts.Interval,
		func(ctx context.Context) error { _, err := r.Reconcile(ctx); return err },
		func(ctx context.Context, err error) {
			r.opts.Logger.WarnContext(ctx, "reconcile stuck reservations", "error", err)
		})
}

// Reconcile claims every reservation RESERVED for longer than After that no reconciler looked
// at in the last half Interval, settles those whose order has ended, and returns how many it
// settled. A reservation it could not settle (order-service unreachable, the order unknown or
// still PENDING) is left for a later round; the errors of all of them are returned joined.
func (r *Reconciler) Reconcile(ctx context.Context) (int, error) {
	healed := 0
	var errs []error
	for {
		var claimed []Stuck
		err := pgkit.InTx(telemetry.Unsampled(ctx), r.pool, func(tx pgx.Tx) (err error) {
			claimed, err = r.store.ClaimStuck(telemetry.Unsampled(ctx), tx, r.opts.After, r.opts.Interval/2, r.opts.BatchSize)
			return err
		})
		if err != nil {
			return healed, errors.Join(append(errs, err)...)
		}
		for _, s := range claimed {
			ok, err := r.heal(ctx, s)
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				healed++
			}
		}
		if len(claimed) < r.opts.BatchSize || ctx.Err() != nil {
			return healed, errors.Join(errs...)
		}
	}
}

// heal asks order-service about one claimed reservation and settles it if the order has
// ended, in a span that continues the order's trace (the one stored with the reservation). A
// reservation stored without a trace context gets a new trace, tagged with order.id like every
// saga span, so a search by order still finds it. It reports whether it changed anything.
func (r *Reconciler) heal(ctx context.Context, s Stuck) (healed bool, err error) {
	start := []trace.SpanStartOption{trace.WithAttributes(attribute.String("order.id", s.OrderID.String()))}
	parent, ok := telemetry.Resume(ctx, s.TraceContext)
	if !ok {
		start = append(start, trace.WithNewRoot())
	}
	ctx, span := r.tracer.Start(parent, "reconcile reservation", start...)
	defer func() {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "the reservation stays RESERVED until a later round")
		}
		span.End()
	}()

	status, err := r.orders.Status(ctx, s.OrderID)
	if err != nil {
		return false, fmt.Errorf("reconcile reservation of order %s: %w", s.OrderID, err)
	}
	span.SetAttributes(attribute.String("order.status", string(status)))

	var t inventory.Transition
	err = pgkit.InTx(ctx, r.pool, func(tx pgx.Tx) error {
		current, reserved, err := r.store.LockReservation(ctx, tx, s.OrderID)
		if err != nil {
			return err
		}
		if t = inventory.Heal(current, status); t.Effect == inventory.EffectNone {
			return nil // still undecided, or an event settled it since the claim
		}
		return settle(ctx, tx, r.store, s.OrderID, t, reserved)
	})
	if err != nil {
		return false, fmt.Errorf("reconcile reservation of order %s: %w", s.OrderID, err)
	}
	span.SetAttributes(attribute.String("reservation.effect", t.Effect.String()))
	if t.Effect == inventory.EffectNone {
		return false, nil
	}
	r.healed.Add(ctx, 1, healedAttrs(t.Effect))
	if t.ReleaseReason != "" {
		r.release.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", t.ReleaseReason)))
	}
	r.opts.Logger.InfoContext(ctx, "stuck reservation healed", "order_id", s.OrderID.String(),
		"order_status", string(status), "effect", t.Effect.String(), "reservation", string(t.To))
	return true, nil
}
