// Package saga is product-service's part of the order saga: the Kafka handler for the events of
// the "orders" and "payments" topics, and the reconciler that settles reservations whose events
// never arrived (reconcile.go). For each event it decodes the envelope (a malformed one is
// dead-lettered at once), then, in one database transaction, records the event in the inbox,
// applies what package inventory says the event does to the order's reservation and the stock,
// and writes the events that announce the result to the outbox. Either all of that commits or
// none of it does, and a redelivered event finds itself in the inbox and changes nothing.
package saga

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracecart/tracecart/product-service/internal/inventory"
	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/inbox"
	"github.com/tracecart/tracecart/shared/kafka"
	"github.com/tracecart/tracecart/shared/outbox"
)

// Topics are the topics the handler consumes.
var Topics = []string{events.TopicOrders, events.TopicPayments}

// Inventory is what the handler needs from the database, always inside the transaction that
// also records the event in the inbox.
type Inventory interface {
	// LockReservation locks and returns order orderID's reservation, or inventory.StatusNone.
	LockReservation(ctx context.Context, tx pgx.Tx, orderID uuid.UUID) (inventory.Status, []inventory.Line, error)
	// LockProducts locks the products ids in ascending ID order and returns the available stock
	// of those that exist.
	LockProducts(ctx context.Context, tx pgx.Tx, ids []uuid.UUID) (map[uuid.UUID]int64, error)
	// ApplyChanges adds stock changes to the products' counts, in the order given.
	ApplyChanges(ctx context.Context, tx pgx.Tx, changes []inventory.StockChange) error
	// InsertReservation records a new reservation of order orderID.
	InsertReservation(ctx context.Context, tx pgx.Tx, orderID uuid.UUID, status inventory.Status, lines []inventory.Line, reason string) error
	// SetStatus moves order orderID's locked reservation to status.
	SetStatus(ctx context.Context, tx pgx.Tx, orderID uuid.UUID, status inventory.Status) error
}

// Metric names.
const (
	// MetricReservations counts order.created events handled, by outcome: "reserved",
	// "out_of_stock", "unknown_product", or "skipped" (the order already had a reservation or a
	// cancellation tombstone).
	MetricReservations = "tracecart.inventory.reservations"
	// MetricReleases counts reservations and sales given back to the stock, by reason
	// ("payment_failed", "order_cancelled").
	MetricReleases = "tracecart.inventory.releases"
)

// outcomeSkipped is the reservations outcome of an order.created that found a reservation.
const outcomeSkipped = "skipped"

// instrumentationScope names this package's meter and tracer.
const instrumentationScope = "github.com/tracecart/tracecart/product-service/internal/saga"

// Options configures NewHandler.
type Options struct {
	// Consumer names the effect in the inbox; it is the consumer group, "product-service".
	Consumer string
	// MeterProvider receives the handler's metrics; nil means the global one.
	MeterProvider metric.MeterProvider
}

// Handler handles the saga's events for product-service. Its Handle method is a kafka.Handler.
type Handler struct {
	pool         *pgxpool.Pool
	store        Inventory
	consumer     string
	reservations metric.Int64Counter
	releases     metric.Int64Counter
}

// NewHandler returns a handler that applies events to pool's database through store.
func NewHandler(pool *pgxpool.Pool, store Inventory, opts Options) (*Handler, error) {
	if opts.Consumer == "" {
		return nil, errors.New("new saga handler: Consumer is required")
	}
	if opts.MeterProvider == nil {
		opts.MeterProvider = otel.GetMeterProvider()
	}
	meter := opts.MeterProvider.Meter(instrumentationScope)
	reservations, err := meter.Int64Counter(MetricReservations, metric.WithUnit("{order}"),
		metric.WithDescription("Orders whose stock product-service tried to reserve, by outcome."))
	if err != nil {
		return nil, fmt.Errorf("new saga handler: %w", err)
	}
	releases, err := meter.Int64Counter(MetricReleases, metric.WithUnit("{order}"),
		metric.WithDescription("Reservations and sales given back to the stock, by reason."))
	if err != nil {
		return nil, fmt.Errorf("new saga handler: %w", err)
	}
	return &Handler{pool: pool, store: store, consumer: opts.Consumer, reservations: reservations, releases: releases}, nil
}

// event is a decoded envelope with, for order.created, its merged lines and payload.
type event struct {
	events.Envelope
	created events.OrderCreatedPayload
	lines   []inventory.Line
}

// result is what applying an event did, for the metrics recorded once it has committed.
type result struct {
	reservation   string // the reservations outcome, for order.created
	releaseReason string // set when stock was given back
}

// Handle applies one record's event exactly once. A record that is not a well-formed event of
// the saga's contract gets a kafka.Permanent error, so it goes to the dead-letter topic without
// retries and without having touched the database; any other error is worth a retry. Events of
// the consumed topics that product-service has no part in are recorded as processed and
// otherwise ignored.
func (h *Handler) Handle(ctx context.Context, rec kafka.Record) error {
	ev, err := decode(rec.Value)
	if err != nil {
		return kafka.Permanent(err)
	}
	trace.SpanFromContext(ctx).SetAttributes(
		attribute.String("order.id", ev.OrderID.String()),
		attribute.String("event.type", ev.Type),
	)

	var res result
	_, err = inbox.Handle(ctx, h.pool, h.consumer, ev.ID.String(), func(tx pgx.Tx) (err error) {
		res, err = h.apply(ctx, tx, ev)
		return err
	})
	if err != nil {
		return fmt.Errorf("handle %s %s of order %s: %w", ev.Type, ev.ID, ev.OrderID, err)
	}
	// Recorded only now that the transaction committed; a duplicate leaves res empty.
	if res.reservation != "" {
		h.reservations.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", res.reservation)))
	}
	if res.releaseReason != "" {
		h.releases.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", res.releaseReason)))
	}
	return nil
}

// decode parses a record's value into an event, checking the payload of every event type the
// handler acts on. Every error it returns means the event is malformed.
func decode(value []byte) (event, error) {
	env, err := events.Decode(value)
	if err != nil {
		return event{}, err
	}
	ev := event{Envelope: env}
	switch env.Type {
	case events.OrderCreated:
		ev.created, err = events.DecodePayload[events.OrderCreatedPayload](env)
		if err != nil {
			return event{}, err
		}
		if ev.created.UserID == uuid.Nil {
			return event{}, fmt.Errorf("%w: order.created %s has no user_id", events.ErrMalformed, env.ID)
		}
		lines := make([]inventory.Line, 0, len(ev.created.Lines))
		for _, l := range ev.created.Lines {
			lines = append(lines, inventory.Line{ProductID: l.ProductID, Quantity: int64(l.Quantity)})
		}
		if ev.lines, err = inventory.MergeLines(lines); err != nil {
			return event{}, fmt.Errorf("%w: order.created %s: %w", events.ErrMalformed, env.ID, err)
		}
	case events.OrderConfirmed:
		_, err = events.DecodePayload[events.OrderConfirmedPayload](env)
	case events.OrderCancelled:
		_, err = events.DecodePayload[events.OrderCancelledPayload](env)
	case events.PaymentFailed:
		_, err = events.DecodePayload[events.PaymentFailedPayload](env)
	}
	if err != nil {
		return event{}, err
	}
	return ev, nil
}

// apply does what ev does to its order's reservation, inside tx.
func (h *Handler) apply(ctx context.Context, tx pgx.Tx, ev event) (result, error) {
	status, reserved, err := h.store.LockReservation(ctx, tx, ev.OrderID)
	if err != nil {
		return result{}, err
	}
	t := inventory.Next(status, ev.Type)
	switch t.Effect {
	case inventory.EffectNone:
		if ev.Type == events.OrderCreated {
			return result{reservation: outcomeSkipped}, nil
		}
		return result{}, nil
	case inventory.EffectReserve:
		return h.reserve(ctx, tx, ev)
	case inventory.EffectTombstone:
		return result{}, h.store.InsertReservation(ctx, tx, ev.OrderID, t.To, nil, "")
	}

	// Sell, release or restock what the reservation holds.
	if err := settle(ctx, tx, h.store, ev.OrderID, t, reserved); err != nil {
		return result{}, err
	}
	return result{releaseReason: t.ReleaseReason}, nil
}

// settle applies t, a transition that sells, releases or restocks what reserved holds, to order
// orderID's locked reservation and to the stock, and announces a release with
// inventory.released. The event handler and the reconciler both settle reservations through
// it, so a reservation healed by the reconciler ends exactly like one whose event arrived.
func settle(ctx context.Context, tx pgx.Tx, store Inventory, orderID uuid.UUID, t inventory.Transition, reserved []inventory.Line) error {
	if err := store.ApplyChanges(ctx, tx, t.Effect.Changes(reserved)); err != nil {
		return err
	}
	if err := store.SetStatus(ctx, tx, orderID, t.To); err != nil {
		return err
	}
	if t.ReleaseReason == "" {
		return nil
	}
	return publish(ctx, tx, events.InventoryReleased, orderID, events.InventoryReleasedPayload{Reason: t.ReleaseReason})
}

// reserve reserves every line of a new order or none: it locks the order's products (in ID
// order), asks inventory.CheckStock, and either takes the stock and announces
// inventory.reserved, or records the refusal and announces inventory.rejected.
func (h *Handler) reserve(ctx context.Context, tx pgx.Tx, ev event) (result, error) {
	available, err := h.store.LockProducts(ctx, tx, inventory.ProductIDs(ev.lines))
	if err != nil {
		return result{}, err
	}
	if rejection := inventory.CheckStock(ev.lines, available); rejection != nil {
		if err := h.store.InsertReservation(ctx, tx, ev.OrderID, inventory.StatusRejected, ev.lines, rejection.Reason); err != nil {
			return result{}, err
		}
		err := publish(ctx, tx, events.InventoryRejected, ev.OrderID, events.InventoryRejectedPayload{
			Reason: rejection.Reason, ProductID: rejection.ProductID,
		})
		return result{reservation: rejection.Reason}, err
	}

	if err := h.store.ApplyChanges(ctx, tx, inventory.EffectReserve.Changes(ev.lines)); err != nil {
		return result{}, err
	}
	if err := h.store.InsertReservation(ctx, tx, ev.OrderID, inventory.StatusReserved, ev.lines, ""); err != nil {
		return result{}, err
	}
	err = publish(ctx, tx, events.InventoryReserved, ev.OrderID, events.InventoryReservedPayload{
		UserID: ev.created.UserID, TotalCents: ev.created.TotalCents,
	})
	return result{reservation: "reserved"}, err
}

// publish writes an event about order orderID to the outbox in tx, keyed by the order so that
// the order's events stay in order on their topic.
func publish(ctx context.Context, tx pgx.Tx, eventType string, orderID uuid.UUID, payload any) error {
	env, err := events.New(eventType, orderID, payload)
	if err != nil {
		return err
	}
	topic, err := events.TopicOf(eventType)
	if err != nil {
		return err
	}
	value, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("encode %s envelope: %w", eventType, err)
	}
	return outbox.Add(ctx, tx, outbox.Message{
		ID: env.ID, Topic: topic, Key: orderID.String(), Type: eventType, Payload: value,
	})
}
