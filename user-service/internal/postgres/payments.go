package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tracecart/tracecart/user-service/internal/wallet"
)

// ErrPaymentRace means another transaction recorded a payment for the same order between this
// one's check and its insert (an order.cancelled and an inventory.reserved for one order,
// handled at the same moment). The transaction must roll back; the consumer's retry then sees
// the other's row and decides again.
var ErrPaymentRace = errors.New("concurrent payment for the same order")

// Charge applies the payment step of the saga to an order in tx, the caller's transaction
// (which also records the event in the inbox and the resulting event in the outbox), and
// returns what was decided so the caller can announce it.
//
// The order's payment row and then the user's wallet row are locked FOR UPDATE before deciding,
// so concurrent charges against one wallet are applied one at a time.
func (s *Store) Charge(ctx context.Context, tx pgx.Tx, orderID, userID uuid.UUID, amountCents int64) (wallet.ChargeDecision, error) {
	prior, err := lockPayment(ctx, tx, orderID)
	if err != nil {
		return wallet.ChargeDecision{}, err
	}
	acct := wallet.Account{}
	if prior == nil {
		err := tx.QueryRow(ctx, `SELECT balance_cents FROM users WHERE id = $1 FOR UPDATE`, userID).Scan(&acct.BalanceCents)
		switch {
		case err == nil:
			acct.Found = true
		case !errors.Is(err, pgx.ErrNoRows):
			return wallet.ChargeDecision{}, fmt.Errorf("lock wallet of %s: %w", userID, err)
		}
	}
	decision, err := wallet.DecideCharge(prior, acct, amountCents)
	if err != nil {
		return wallet.ChargeDecision{}, fmt.Errorf("charge order %s: %w", orderID, err)
	}

	switch decision.Outcome {
	case wallet.ChargePay:
		if err := insertPayment(ctx, tx, wallet.Payment{OrderID: orderID, UserID: userID, AmountCents: amountCents, Status: wallet.StatusPaid}); err != nil {
			return wallet.ChargeDecision{}, err
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET balance_cents = $2 WHERE id = $1`, userID, decision.NewBalanceCents); err != nil {
			return wallet.ChargeDecision{}, fmt.Errorf("debit wallet of %s: %w", userID, err)
		}
		if err := insertLedger(ctx, tx, userID, wallet.KindDebit, amountCents, decision.NewBalanceCents, orderID); err != nil {
			return wallet.ChargeDecision{}, err
		}
	case wallet.ChargeFail:
		err := insertPayment(ctx, tx, wallet.Payment{OrderID: orderID, UserID: userID, AmountCents: amountCents,
			Status: wallet.StatusFailed, Reason: decision.Reason})
		if err != nil {
			return wallet.ChargeDecision{}, err
		}
	}
	return decision, nil
}

// Cancel applies an order's cancellation to its payment in tx: a refund of a PAID payment, a
// tombstone when there is no payment yet, or nothing. It returns the decision and the payment
// it is about (for a refund: who gets how much back).
func (s *Store) Cancel(ctx context.Context, tx pgx.Tx, orderID, userID uuid.UUID) (wallet.CancelOutcome, wallet.Payment, error) {
	prior, err := lockPayment(ctx, tx, orderID)
	if err != nil {
		return 0, wallet.Payment{}, err
	}
	outcome := wallet.DecideCancel(prior)
	switch outcome {
	case wallet.CancelRefund:
		// The money goes back to whoever paid, as recorded, whatever the event says.
		var balance int64
		err := tx.QueryRow(ctx, `
			UPDATE users SET balance_cents = balance_cents + $2 WHERE id = $1 RETURNING balance_cents`,
			prior.UserID, prior.AmountCents).Scan(&balance)
		if err != nil {
			return 0, wallet.Payment{}, fmt.Errorf("refund order %s to %s: %w", orderID, prior.UserID, err)
		}
		if err := insertLedger(ctx, tx, prior.UserID, wallet.KindRefund, prior.AmountCents, balance, orderID); err != nil {
			return 0, wallet.Payment{}, err
		}
		if _, err := tx.Exec(ctx, `
			UPDATE payments SET status = 'REFUNDED', updated_at = now() WHERE order_id = $1`, orderID); err != nil {
			return 0, wallet.Payment{}, fmt.Errorf("mark payment of order %s refunded: %w", orderID, err)
		}
		prior.Status = wallet.StatusRefunded
		return outcome, *prior, nil
	case wallet.CancelTombstone:
		tombstone := wallet.Payment{OrderID: orderID, UserID: userID, Status: wallet.StatusCancelled}
		if err := insertPayment(ctx, tx, tombstone); err != nil {
			return 0, wallet.Payment{}, err
		}
		return outcome, tombstone, nil
	}
	return outcome, *prior, nil
}

// lockPayment returns the order's payment, locked until tx ends, or nil if there is none.
func lockPayment(ctx context.Context, tx pgx.Tx, orderID uuid.UUID) (*wallet.Payment, error) {
	p := wallet.Payment{OrderID: orderID}
	var reason *string
	err := tx.QueryRow(ctx, `
		SELECT user_id, amount_cents, status, reason FROM payments WHERE order_id = $1 FOR UPDATE`, orderID,
	).Scan(&p.UserID, &p.AmountCents, &p.Status, &reason)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("lock payment of order %s: %w", orderID, err)
	}
	if reason != nil {
		p.Reason = *reason
	}
	return &p, nil
}

// insertPayment records an order's payment. If another transaction inserted one for the same
// order since lockPayment looked, it returns ErrPaymentRace.
func insertPayment(ctx context.Context, tx pgx.Tx, p wallet.Payment) error {
	var reason *string
	if p.Reason != "" {
		reason = &p.Reason
	}
	tag, err := tx.Exec(ctx, `
		INSERT INTO payments (order_id, user_id, amount_cents, status, reason) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (order_id) DO NOTHING`,
		p.OrderID, p.UserID, p.AmountCents, p.Status, reason)
	if err != nil {
		return fmt.Errorf("record %s payment of order %s: %w", p.Status, p.OrderID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("record %s payment of order %s: %w", p.Status, p.OrderID, ErrPaymentRace)
	}
	return nil
}

// insertLedger appends a debit or refund to a wallet's ledger.
func insertLedger(ctx context.Context, tx pgx.Tx, userID uuid.UUID, kind wallet.Kind, amountCents, balanceAfter int64, orderID uuid.UUID) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO wallet_transactions (id, user_id, kind, amount_cents, balance_after_cents, order_id)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		uuid.New(), userID, kind, amountCents, balanceAfter, orderID)
	if err != nil {
		return fmt.Errorf("record %s of order %s: %w", kind, orderID, err)
	}
	return nil
}
