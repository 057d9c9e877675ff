package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tracecart/tracecart/shared/postgres"
	"github.com/tracecart/tracecart/user-service/internal/account"
	"github.com/tracecart/tracecart/user-service/internal/wallet"
)

// Wallet returns a user's balance and their latest transactions, newest first, at most limit
// of them. Both are read in one snapshot, so the list always explains the balance shown.
func (s *Store) Wallet(ctx context.Context, userID uuid.UUID, limit int) (balanceCents int64, txs []wallet.Transaction, err error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, nil, fmt.Errorf("read wallet of %s: %w", userID, err)
	}
	defer func() { _ = tx.Rollback(ctx) }() // read-only: nothing to commit

	err = tx.QueryRow(ctx, `SELECT balance_cents FROM users WHERE id = $1`, userID).Scan(&balanceCents)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, nil, fmt.Errorf("wallet of user %s: %w", userID, account.ErrNotFound)
	case err != nil:
		return 0, nil, fmt.Errorf("read balance of %s: %w", userID, err)
	}
	rows, err := tx.Query(ctx, `
		SELECT id, kind, amount_cents, order_id, created_at
		FROM wallet_transactions WHERE user_id = $1
		ORDER BY seq DESC LIMIT $2`, userID, limit)
	if err != nil {
		return 0, nil, fmt.Errorf("read transactions of %s: %w", userID, err)
	}
	txs, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (wallet.Transaction, error) {
		var (
			t       wallet.Transaction
			orderID *uuid.UUID
		)
		err := row.Scan(&t.ID, &t.Kind, &t.AmountCents, &orderID, &t.At)
		if orderID != nil {
			t.OrderID = *orderID
		}
		return t, err
	})
	if err != nil {
		return 0, nil, fmt.Errorf("read transactions of %s: %w", userID, err)
	}
	return balanceCents, txs, nil
}

// TopUp credits amountCents to a user's wallet. With a non-empty idempotencyKey, a repeated
// request with the same key for the same user credits nothing and gets the first answer again;
// the same key with another amount is wallet.ErrIdempotencyKeyReused.
func (s *Store) TopUp(ctx context.Context, userID uuid.UUID, amountCents int64, idempotencyKey string) (wallet.TopUpResult, error) {
	if err := wallet.ValidateTopUp(amountCents); err != nil {
		return wallet.TopUpResult{}, err
	}
	var result wallet.TopUpResult
	err := postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		// The row lock serialises everything that changes this wallet, including a second
		// request with the same key racing this one: it waits here and then finds the key.
		var balance int64
		err := tx.QueryRow(ctx, `SELECT balance_cents FROM users WHERE id = $1 FOR UPDATE`, userID).Scan(&balance)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("top up wallet of user %s: %w", userID, account.ErrNotFound)
		case err != nil:
			return fmt.Errorf("lock wallet of %s: %w", userID, err)
		}
		if idempotencyKey != "" {
			var prevAmount, prevBalance int64
			err := tx.QueryRow(ctx, `
				SELECT amount_cents, balance_after_cents FROM wallet_transactions
				WHERE user_id = $1 AND idempotency_key = $2`, userID, idempotencyKey,
			).Scan(&prevAmount, &prevBalance)
			switch {
			case err == nil && prevAmount != amountCents:
				return fmt.Errorf("%w: it credited %d, this request asks for %d", wallet.ErrIdempotencyKeyReused, prevAmount, amountCents)
			case err == nil:
				result = wallet.TopUpResult{BalanceCents: prevBalance, Replayed: true}
				return nil
			case !errors.Is(err, pgx.ErrNoRows):
				return fmt.Errorf("look up idempotency key: %w", err)
			}
		}
		balance += amountCents
		if _, err := tx.Exec(ctx, `UPDATE users SET balance_cents = $2 WHERE id = $1`, userID, balance); err != nil {
			return fmt.Errorf("credit wallet of %s: %w", userID, err)
		}
		var key *string
		if idempotencyKey != "" {
			key = &idempotencyKey
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO wallet_transactions (id, user_id, kind, amount_cents, balance_after_cents, idempotency_key)
			VALUES ($1, $2, 'topup', $3, $4, $5)`,
			uuid.New(), userID, amountCents, balance, key); err != nil {
			return fmt.Errorf("record top-up of %s: %w", userID, err)
		}
		result = wallet.TopUpResult{BalanceCents: balance}
		return nil
	})
	if err != nil {
		return wallet.TopUpResult{}, err
	}
	return result, nil
}
