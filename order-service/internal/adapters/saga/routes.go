// Package saga is order-service's saga consumer: a table from the event types order-service
// acts on to the use case each one calls. The kit (shared/sagakit) does the rest for every
// event, the same way in every service: decode the envelope, a span "handle <type>", the inbox
// record in the same transaction as the use case's writes, the metrics. The topics the
// consumer reads follow from these routes.
package saga

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/order-service/internal/app"
	"github.com/tracecart/tracecart/order-service/internal/domain/order"
	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/kafka"
	"github.com/tracecart/tracecart/shared/sagakit"
)

// Reasons recorded when an event's payload gives none; the contract says it always should.
const (
	fallbackRejectedReason = "inventory_rejected"
	fallbackFailedReason   = "payment_failed"
)

// Routes maps each event order-service acts on to its use case:
//
//	inventory.rejected  RecordSagaOutcome: PENDING → REJECTED, with the payload's reason
//	payment.failed      RecordSagaOutcome: PENDING → CANCELLED, with the payload's reason
//	payment.succeeded   RecordSagaOutcome: PENDING → CONFIRMED and order.confirmed; paid
//	payment.refunded    RecordCompensation: the order's refund
//	inventory.released  RecordCompensation: the order's restock
//
// Every other type on these topics (inventory.reserved, types added later) is recorded and
// skipped by the kit. An event naming an order that does not exist is a permanent error: no
// retry can fix it, so it goes to the dead-letter topic at once.
func Routes(a *app.App) sagakit.Routes {
	return sagakit.Routes{
		events.InventoryRejected: func(ctx context.Context, env events.Envelope) error {
			p, err := events.DecodePayload[events.InventoryRejectedPayload](env)
			if err != nil {
				return err
			}
			return outcome(ctx, a, env.OrderID, order.InventoryRejected, reasonOr(p.Reason, fallbackRejectedReason))
		},
		events.PaymentFailed: func(ctx context.Context, env events.Envelope) error {
			p, err := events.DecodePayload[events.PaymentFailedPayload](env)
			if err != nil {
				return err
			}
			return outcome(ctx, a, env.OrderID, order.PaymentFailed, reasonOr(p.Reason, fallbackFailedReason))
		},
		events.PaymentSucceeded: func(ctx context.Context, env events.Envelope) error {
			if _, err := events.DecodePayload[events.PaymentSucceededPayload](env); err != nil {
				return err
			}
			return outcome(ctx, a, env.OrderID, order.PaymentSucceeded, "")
		},
		events.PaymentRefunded: func(ctx context.Context, env events.Envelope) error {
			if _, err := events.DecodePayload[events.PaymentRefundedPayload](env); err != nil {
				return err
			}
			return a.RecordCompensation(ctx, env.OrderID, order.Refunded)
		},
		events.InventoryReleased: func(ctx context.Context, env events.Envelope) error {
			if _, err := events.DecodePayload[events.InventoryReleasedPayload](env); err != nil {
				return err
			}
			return a.RecordCompensation(ctx, env.OrderID, order.Released)
		},
	}
}

// outcome calls RecordSagaOutcome and makes "no such order" permanent.
func outcome(ctx context.Context, a *app.App, orderID uuid.UUID, e order.Event, reason string) error {
	err := a.RecordSagaOutcome(ctx, orderID, e, reason)
	if errors.Is(err, order.ErrNotFound) {
		return kafka.Permanent(err)
	}
	return err
}

func reasonOr(reason, fallback string) string {
	if reason == "" {
		return fallback
	}
	return reason
}
