package app

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/user-service/internal/domain/wallet"
)

// Charge is the payment step of the order saga, on inventory.reserved: it takes the order's
// total from the customer's wallet and announces payment.succeeded, or records why it cannot and
// announces payment.failed (insufficient_funds, unknown_user).
//
// An order is charged at most once: when it already has a payment (an earlier charge, or the
// tombstone of a cancellation that overtook the reservation), nothing changes and nothing is
// announced (wallet.DecideCharge).
//
// With the payment-declines demo fault on, the Declines port may decline the order instead
// (payment.failed, reason declined), which starts the saga's compensation.
func (a *App) Charge(ctx context.Context, orderID, userID uuid.UUID, amountCents int64) error {
	charge := (*wallet.OrderPayment).Charge
	if a.declines != nil && a.declines.Declined(ctx, orderID) {
		charge = (*wallet.OrderPayment).Decline
	}
	var decision wallet.ChargeDecision
	err := a.payments.UpdatePayment(ctx, orderID, userID, func(op *wallet.OrderPayment) ([]events.Message, error) {
		var err error
		if decision, err = charge(op, userID, amountCents); err != nil {
			return nil, fmt.Errorf("charge order %s: %w", orderID, err)
		}
		switch decision.Outcome {
		case wallet.ChargePay:
			return one(events.NewMessage(events.PaymentSucceeded, orderID,
				events.PaymentSucceededPayload{UserID: userID, AmountCents: amountCents}))
		case wallet.ChargeFail:
			return one(events.NewMessage(events.PaymentFailed, orderID,
				events.PaymentFailedPayload{UserID: userID, Reason: decision.Reason}))
		}
		return nil, nil // already charged, or cancelled before the reservation
	})
	if err != nil {
		return err
	}
	switch decision.Outcome {
	case wallet.ChargePay:
		a.countPayment(ctx, "succeeded", "")
	case wallet.ChargeFail:
		a.countPayment(ctx, "failed", decision.Reason)
	}
	return nil
}
