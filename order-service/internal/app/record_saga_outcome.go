package app

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/order-service/internal/domain/order"
	"github.com/tracecart/tracecart/shared/aftercommit"
	"github.com/tracecart/tracecart/shared/events"
)

// RecordSagaOutcome records what the saga's other steps report about order orderID:
//
//	order.InventoryRejected  PENDING → REJECTED, with reason
//	order.PaymentFailed      PENDING → CANCELLED, with reason
//	order.PaymentSucceeded   PENDING → CONFIRMED, announced with order.confirmed; in any
//	                         status, the order is recorded as paid
//
// An outcome for an order whose saga has already finished (say, a payment that arrives after
// the timeout cancelled the order) changes nothing but the record that the order was paid: the
// compensations of order.cancelled cover it, and ReconcileCompensations announces the
// cancellation again if the refund and the restock are not reported in time. A missing order is
// an error wrapping order.ErrNotFound.
//
// Once the change has committed, the saga's outcome is counted and logged.
func (a *App) RecordSagaOutcome(ctx context.Context, orderID uuid.UUID, outcome order.Event, reason string) error {
	finished := false
	saved, err := a.orders.Update(ctx, orderID, func(o *order.Order) ([]events.Message, error) {
		if outcome == order.PaymentSucceeded {
			// Whatever the saga makes of it, the customer paid: a cancellation owes a refund.
			o.Paid = true
		}
		next, err := o.Status.Next(outcome)
		if errors.Is(err, order.ErrSagaFinished) {
			a.logger.DebugContext(ctx, "event ignored: the saga has already finished",
				"order_id", orderID.String(), "status", string(o.Status), "event", string(outcome))
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		o.Status, o.Reason, finished = next, reason, true
		if next != order.Confirmed {
			return nil, nil
		}
		confirmed, err := orderConfirmed(*o)
		if err != nil {
			return nil, err
		}
		return []events.Message{confirmed}, nil
	})
	if err != nil || !finished {
		return err
	}
	aftercommit.Do(ctx, func() {
		a.metrics.finished(ctx, outcome, saved)
		a.logger.InfoContext(ctx, "order saga finished",
			"order_id", saved.ID.String(), "status", string(saved.Status), "reason", saved.Reason)
	})
	return nil
}
