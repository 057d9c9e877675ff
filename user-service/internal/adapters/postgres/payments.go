package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/outbox"
	"github.com/tracecart/tracecart/shared/postgres"
	"github.com/tracecart/tracecart/user-service/internal/domain/wallet"
)

// ErrPaymentRace means another transaction recorded a payment for the same order between this
// one's check and its insert (an order.cancelled and an inventory.reserved for one order,
// handled at the same moment). The transaction must roll back; the consumer's retry then sees
// the other's row and decides again.
var ErrPaymentRace = errors.New("concurrent payment for the same order")

// UpdatePayment runs decide on the order's payment and payer's wallet and saves the result (see
// app.Payments).
//
// The order's payment row and then the payer's wallet row are locked FOR UPDATE before decide
// runs, so concurrent charges against one wallet are applied one at a time.
func (s *Store) UpdatePayment(ctx context.Context, orderID, userID uuid.UUID,
	decide func(op *wallet.OrderPayment) ([]events.Message, error)) error {
	return postgres.Atomic(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		prior, err := lockPayment(ctx, tx, orderID)
		if err != nil {
			return err
		}
		op := &wallet.OrderPayment{OrderID: orderID}
		payer := userID
		if prior != nil {
			payer = prior.UserID // the money of a paid order goes back to whoever paid it
			copied := *prior     // decide changes op.Payment; prior stays as loaded
			op.Payment = &copied
		}
		if op.Payer, err = lockWallet(ctx, tx, payer); err != nil {
			return err
		}
		msgs, err := decide(op)
		if err != nil {
			return err
		}
		if err := savePayment(ctx, tx, prior, op.Payment); err != nil {
			return err
		}
		if op.Added != nil {
			if err := saveBalance(ctx, tx, payer, op.Payer.BalanceCents); err != nil {
				return err
			}
			if err := insertLedger(ctx, tx, payer, *op.Added, ""); err != nil {
				return err
			}
		}
		return outbox.Add(ctx, tx, msgs...)
	})
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

// lockWallet returns a user's balance, locked until tx ends; Found is false for an unknown user.
func lockWallet(ctx context.Context, tx pgx.Tx, userID uuid.UUID) (wallet.Account, error) {
	var acct wallet.Account
	err := tx.QueryRow(ctx, `SELECT balance_cents FROM users WHERE id = $1 FOR UPDATE`, userID).Scan(&acct.BalanceCents)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return wallet.Account{}, nil
	case err != nil:
		return wallet.Account{}, fmt.Errorf("lock wallet of %s: %w", userID, err)
	}
	acct.Found = true
	return acct, nil
}

// savePayment writes the payment as decided: inserted if the order had none (prior), its new
// status if it changed, nothing otherwise.
func savePayment(ctx context.Context, tx pgx.Tx, prior, p *wallet.Payment) error {
	switch {
	case p == nil:
		return nil
	case prior == nil:
		return insertPayment(ctx, tx, *p)
	case p.Status != prior.Status:
		if _, err := tx.Exec(ctx, `
			UPDATE payments SET status = $2, updated_at = now() WHERE order_id = $1`, p.OrderID, p.Status); err != nil {
			return fmt.Errorf("mark payment of order %s %s: %w", p.OrderID, p.Status, err)
		}
	}
	return nil
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
