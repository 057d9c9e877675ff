// Package saga is order-service's part of the order saga: the Kafka handler that records the
// outcome the other services report (inventory.rejected, payment.failed, payment.succeeded) and
// the compensations they report (payment.refunded, inventory.released), the sweeper that cancels
// orders whose saga takes too long, and the reconciler that announces a paid order's
// cancellation again when its compensations are not reported. Each effect, the inbox record
// that makes it happen once, and the events it publishes are written in one transaction.
package saga

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracecart/tracecart/order-service/internal/domain/order"
	"github.com/tracecart/tracecart/order-service/internal/orderevents"
	"github.com/tracecart/tracecart/order-service/internal/adapters/postgres"
	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/inbox"
	"github.com/tracecart/tracecart/shared/kafka"
	"github.com/tracecart/tracecart/shared/outbox"
)

// Topics are the topics whose events the handler reads.
var Topics = []string{events.TopicInventory, events.TopicPayments}

// Reasons recorded when an event's payload gives none; the contract says it always should.
const (
	fallbackRejectedReason = "inventory_rejected"
	fallbackFailedReason   = "payment_failed"
)

// Handler applies the saga's events to orders. Its Handle method is a kafka.Handler.
type Handler struct {
	pool     *pgxpool.Pool
	store    *postgres.Store
	consumer string
	metrics  *Metrics
	logger   *slog.Logger
}

// HandlerOptions configures NewHandler; every field is required.
type HandlerOptions struct {
	// Consumer names the handler in the inbox; use the consumer group, the service's name.
	Consumer string
	Metrics  *Metrics
	Logger   *slog.Logger
}

// NewHandler returns a handler that changes orders in pool's database through store.
func NewHandler(pool *pgxpool.Pool, store *postgres.Store, opts HandlerOptions) (*Handler, error) {
	if opts.Consumer == "" || opts.Metrics == nil || opts.Logger == nil {
		return nil, errors.New("new saga handler: Consumer, Metrics and Logger are required")
	}
	return &Handler{pool: pool, store: store, consumer: opts.Consumer, metrics: opts.Metrics, logger: opts.Logger}, nil
}

// Handle applies one event from the inventory or payments topic:
//
//	inventory.rejected  PENDING → REJECTED, with the payload's reason
//	payment.failed      PENDING → CANCELLED, with the payload's reason
//	payment.succeeded   PENDING → CONFIRMED, and order.confirmed is published; in any status,
//	                    the order is recorded as paid
//	payment.refunded    recorded as the order's refund
//	inventory.released  recorded as the order's restock
//	anything else       nothing (inventory.reserved, and types added after this code was written)
//
// An event for an order whose saga has already finished (say, a payment that arrives after the
// timeout cancelled the order) changes nothing but the record that the order was paid: the
// compensations of order.cancelled cover it, and the reconciler (reconcile.go) announces the
// cancellation again if the refund and the restock are not reported in time.
// Each event is recorded in the inbox, so a second delivery changes nothing either. A message
// that is not a valid event, or names an order that does not exist, is a kafka.Permanent error:
// no retry can fix it, so it goes to the dead-letter topic at once.
func (h *Handler) Handle(ctx context.Context, rec kafka.Record) error {
	env, err := events.Decode(rec.Value)
	if err != nil {
		return kafka.Permanent(err)
	}
	span := trace.SpanFromContext(ctx)
	span.SetAttributes(attribute.String("order.id", env.OrderID.String()))

	f, err := interpret(env)
	if err != nil {
		return kafka.Permanent(err)
	}

	var changed *order.Order
	duplicate, err := inbox.Handle(ctx, h.pool, h.consumer, env.ID.String(), func(tx pgx.Tx) error {
		switch {
		case f.compensation != "":
			return h.store.RecordCompensation(ctx, tx, env.OrderID, f.compensation)
		case f.event == "":
			return nil // not for us, but recorded, so a redelivery is recognised
		}
		var applyErr error
		changed, applyErr = h.apply(ctx, tx, env.OrderID, f.event, f.reason)
		return applyErr
	})
	switch {
	case errors.Is(err, order.ErrNotFound):
		return kafka.Permanent(fmt.Errorf("handle %s %s: %w", env.Type, env.ID, err))
	case err != nil:
		return fmt.Errorf("handle %s %s for order %s: %w", env.Type, env.ID, env.OrderID, err)
	case duplicate:
		h.logger.DebugContext(ctx, "event already processed", "event_id", env.ID.String(), "event_type", env.Type)
		return nil
	}
	if changed != nil {
		h.metrics.finished(ctx, f.event, *changed)
		h.logger.InfoContext(ctx, "order saga finished",
			"order_id", changed.ID.String(), "status", string(changed.Status), "reason", changed.Reason)
	}
	return nil
}

// apply moves the order to the state event leads to, inside tx, and publishes order.confirmed
// when the saga succeeded. It returns the changed order, or nil when the event is ignored.
func (h *Handler) apply(ctx context.Context, tx pgx.Tx, orderID uuid.UUID, event order.Event, reason string) (*order.Order, error) {
	o, err := h.store.Lock(ctx, tx, orderID)
	if err != nil {
		return nil, err
	}
	if event == order.PaymentSucceeded {
		// Whatever the saga makes of it, the customer paid: a cancellation owes a refund.
		if err := h.store.RecordPaid(ctx, tx, orderID); err != nil {
			return nil, err
		}
	}
	next, err := o.Status.Next(event)
	if errors.Is(err, order.ErrSagaFinished) {
		h.logger.DebugContext(ctx, "event ignored: the saga has already finished",
			"order_id", orderID.String(), "status", string(o.Status), "event", string(event))
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if o, err = h.store.SetStatus(ctx, tx, orderID, next, reason); err != nil {
		return nil, err
	}
	if next == order.Confirmed {
		msg, err := orderevents.Confirmed(o)
		if err != nil {
			return nil, err
		}
		if err := outbox.Add(ctx, tx, msg); err != nil {
			return nil, fmt.Errorf("order %s: %w", orderID, err)
		}
	}
	return &o, nil
}

// fact is what an event tells order-service: an outcome for the order's state machine, with the
// reason to record, or a compensation to record. Both are empty for events order-service has no
// part in.
type fact struct {
	event        order.Event
	reason       string
	compensation order.Compensation
}

// interpret turns an envelope into what it tells order-service. A payload that does not decode
// is an error wrapping events.ErrMalformed.
func interpret(env events.Envelope) (fact, error) {
	switch env.Type {
	case events.InventoryRejected:
		p, err := events.DecodePayload[events.InventoryRejectedPayload](env)
		if err != nil {
			return fact{}, err
		}
		return fact{event: order.InventoryRejected, reason: reasonOr(p.Reason, fallbackRejectedReason)}, nil
	case events.PaymentFailed:
		p, err := events.DecodePayload[events.PaymentFailedPayload](env)
		if err != nil {
			return fact{}, err
		}
		return fact{event: order.PaymentFailed, reason: reasonOr(p.Reason, fallbackFailedReason)}, nil
	case events.PaymentSucceeded:
		if _, err := events.DecodePayload[events.PaymentSucceededPayload](env); err != nil {
			return fact{}, err
		}
		return fact{event: order.PaymentSucceeded}, nil
	case events.PaymentRefunded:
		if _, err := events.DecodePayload[events.PaymentRefundedPayload](env); err != nil {
			return fact{}, err
		}
		return fact{compensation: order.Refunded}, nil
	case events.InventoryReleased:
		if _, err := events.DecodePayload[events.InventoryReleasedPayload](env); err != nil {
			return fact{}, err
		}
		return fact{compensation: order.Released}, nil
	}
	return fact{}, nil
}

func reasonOr(reason, fallback string) string {
	if reason == "" {
		return fallback
	}
	return reason
}
