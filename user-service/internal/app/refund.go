package app

import (
	"context"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/user-service/internal/domain/wallet"
)

// Refund is the payment step's compensation, on order.cancelled: a paid order's money goes back
// to whoever paid it (as recorded, whatever the event says) and payment.refunded announces it.
// When the cancellation overtakes the reservation, there is nothing to refund yet: Refund leaves
// a CANCELLED tombstone instead, so that the late inventory.reserved takes no money (see Charge).
// A failed or already refunded payment is left alone, so a cancellation announced twice refunds
// once.
func (a *App) Refund(ctx context.Context, orderID, userID uuid.UUID) error {
	var outcome wallet.CancelOutcome
	err := a.payments.UpdatePayment(ctx, orderID, userID, func(op *wallet.OrderPayment) ([]events.Message, error) {
		if outcome = op.Cancel(userID); outcome != wallet.CancelRefund {
			return nil, nil
		}
		return one(events.NewMessage(events.PaymentRefunded, orderID,
			events.PaymentRefundedPayload{UserID: op.Payment.UserID, AmountCents: op.Payment.AmountCents}))
	})
	if err != nil {
		return err
	}
	if outcome == wallet.CancelRefund {
		a.countPayment(ctx, "refunded", "")
	}
	return nil
}
