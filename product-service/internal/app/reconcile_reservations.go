package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracecart/tracecart/product-service/internal/domain/inventory"
	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/lifecycle"
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

// ReconcilerOptions configures NewReconciler. Every field but BatchSize is required.
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
	BatchSize      int
	Logger         *slog.Logger
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
}

// Reconciler settles reservations whose saga events were lost. A reservation stays RESERVED
// until order.confirmed sells it or payment.failed or order.cancelled releases it; if that event
// never arrives (dead-lettered, or lost to a bug), the stock stays taken forever and the books
// no longer add up. The reconciler finds reservations RESERVED for longer than After, asks
// order-service, the owner of the order's outcome, how the order ended, and applies what the lost
// event would have applied (inventory.Heal), in one transaction, with inventory.released for a
// release, as the event's use case does.
//
// No transaction is held while order-service is asked: the reconciler claims a batch (a short
// transaction that stamps the reservations as looked at), asks about each order, and then
// settles each one with Reservations.Update, which locks the reservation and lets inventory.Heal
// check again that it is still RESERVED. An event that arrived meanwhile wins, so a reservation
// is settled once whether the event, this reconciler or another instance's gets there first.
type Reconciler struct {
	reservations Reservations
	orders       OrderStatuses
	opts         ReconcilerOptions
	tracer       trace.Tracer
	healed       metric.Int64Counter
	released     metric.Int64Counter
}

// NewReconciler returns a reconciler of reservations that asks orders how orders ended. It does
// nothing until Run or Reconcile; its gauge asks reservations at every collection.
func NewReconciler(reservations Reservations, orders OrderStatuses, opts ReconcilerOptions) (*Reconciler, error) {
	if opts.After <= 0 || opts.Interval <= 0 || opts.Logger == nil || reservations == nil || orders == nil ||
		opts.TracerProvider == nil || opts.MeterProvider == nil {
		return nil, errors.New("new reconciler: reservations, an order status source, positive After and Interval, " +
			"Logger, TracerProvider and MeterProvider are required")
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultReconcileBatch
	}
	meter := opts.MeterProvider.Meter(instrumentationScope)
	r := &Reconciler{reservations: reservations, orders: orders, opts: opts, tracer: opts.TracerProvider.Tracer(instrumentationScope)}
	var err error
	if r.healed, err = meter.Int64Counter(MetricHealed, metric.WithUnit("{item}"),
		metric.WithDescription("Items left behind by lost saga events that a reconciler completed, by state and effect.")); err != nil {
		return nil, fmt.Errorf("new reconciler: %w", err)
	}
	if r.released, err = newReleaseCounter(meter); err != nil {
		return nil, fmt.Errorf("new reconciler: %w", err)
	}
	// Zero series for every effect, so that increase() sees the first healing and the alert
	// rules name series that exist before anything was ever stuck.
	for _, effect := range []inventory.Effect{inventory.EffectSell, inventory.EffectRelease} {
		r.healed.Add(context.Background(), 0, healedAttrs(effect))
	}
	if err := r.registerStuckGauge(meter); err != nil {
		return nil, fmt.Errorf("new reconciler: %w", err)
	}
	return r, nil
}

// registerStuckGauge registers MetricStuck, which counts the stuck reservations whenever the
// metrics are collected.
func (r *Reconciler) registerStuckGauge(meter metric.Meter) error {
	stuck, err := meter.Int64ObservableGauge(MetricStuck, metric.WithUnit("{item}"),
		metric.WithDescription("Items past their reconciliation threshold right now, by state."))
	if err != nil {
		return err
	}
	state := metric.WithAttributes(attribute.String("state", StateReserved))
	_, err = meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(telemetry.Unsampled(ctx), 2*time.Second)
		defer cancel()
		n, err := r.reservations.CountStuck(ctx, r.opts.After)
		if err != nil {
			return err // the SDK reports it; the scrape goes on without this gauge
		}
		o.ObserveInt64(stuck, n, state)
		return nil
	}, stuck)
	if err != nil {
		return fmt.Errorf("register %s: %w", MetricStuck, err)
	}
	return nil
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
		// Polling finds nothing most of the time: its queries are kept out of the traces.
		claimed, err := r.reservations.ClaimStuck(telemetry.Unsampled(ctx), r.opts.After, r.opts.Interval/2, r.opts.BatchSize)
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
func (r *Reconciler) heal(ctx context.Context, s StuckReservation) (healed bool, err error) {
	start := []trace.SpanStartOption{trace.WithAttributes(attribute.String("order.id", s.OrderID.String()))}
	parent, ok := telemetry.Resume(ctx, propagation.MapCarrier(s.TraceContext))
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
	err = r.reservations.Update(ctx, s.OrderID, nil, func(res *Reservation) ([]events.Message, error) {
		// Still undecided, or an event settled it since the claim: EffectNone, nothing to do.
		t = inventory.Heal(res.Status, status)
		return settle(res, t)
	})
	if err != nil {
		return false, fmt.Errorf("reconcile reservation of order %s: %w", s.OrderID, err)
	}
	span.SetAttributes(attribute.String("reservation.effect", t.Effect.String()))
	if t.Effect == inventory.EffectNone {
		return false, nil
	}
	// Update has committed: what it did can be counted and logged now.
	r.healed.Add(ctx, 1, healedAttrs(t.Effect))
	if t.ReleaseReason != "" {
		r.released.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", t.ReleaseReason)))
	}
	r.opts.Logger.InfoContext(ctx, "stuck reservation healed", "order_id", s.OrderID.String(),
		"order_status", string(status), "effect", t.Effect.String(), "reservation", string(t.To))
	return true, nil
}
