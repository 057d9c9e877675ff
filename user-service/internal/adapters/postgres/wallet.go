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
	"github.com/tracecart/tracecart/user-service/internal/domain/account"
	"github.com/tracecart/tracecart/user-service/internal/domain/wallet"
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

// UpdateWallet runs decide on a user's wallet and saves the result (see app.Wallets).
//
// The user's row lock serialises everything that changes this wallet, including a second
// request with the same Idempotency-Key racing this one: it waits here and then finds the key.
func (s *Store) UpdateWallet(ctx context.Context, userID uuid.UUID, idempotencyKey string,
	decide func(w *wallet.Wallet) ([]events.Message, error)) error {
	return postgres.Atomic(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		w := &wallet.Wallet{UserID: userID}
		err := tx.QueryRow(ctx, `SELECT balance_cents FROM users WHERE id = $1 FOR UPDATE`, userID).Scan(&w.BalanceCents)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("wallet of user %s: %w", userID, account.ErrNotFound)
		case err != nil:
			return fmt.Errorf("lock wallet of %s: %w", userID, err)
		}
		if idempotencyKey != "" {
			if w.Replay, err = topUpByKey(ctx, tx, userID, idempotencyKey); err != nil {
				return err
			}
		}
		msgs, err := decide(w)
		if err != nil {
			return err
		}
		if w.Added != nil {
			if err := saveBalance(ctx, tx, userID, w.BalanceCents); err != nil {
				return err
			}
			if err := insertLedger(ctx, tx, userID, *w.Added, idempotencyKey); err != nil {
				return err
			}
		}
		return outbox.Add(ctx, tx, msgs...)
	})
}

// topUpByKey returns the user's top-up made with idempotencyKey, or nil if there is none.
func topUpByKey(ctx context.Context, tx pgx.Tx, userID uuid.UUID, idempotencyKey string) (*wallet.Transaction, error) {
	t := wallet.Transaction{Kind: wallet.KindTopUp}
	err := tx.QueryRow(ctx, `
		SELECT id, amount_cents, balance_after_cents, created_at FROM wallet_transactions
		WHERE user_id = $1 AND idempotency_key = $2`, userID, idempotencyKey,
	).Scan(&t.ID, &t.AmountCents, &t.BalanceAfterCents, &t.At)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("look up idempotency key: %w", err)
	}
	return &t, nil
}

// saveBalance writes a wallet's new balance.
func saveBalance(ctx context.Context, tx pgx.Tx, userID uuid.UUID, balanceCents int64) error {
	// Queued for the commit (postgres.WriteLater): the user's row is locked and nothing reads it
	// back in this transaction.
	if err := postgres.WriteLater(ctx, tx, `UPDATE users SET balance_cents = $2 WHERE id = $1`, userID, balanceCents); err != nil {
		return fmt.Errorf("update balance of %s: %w", userID, err)
	}
	return nil
}

// insertLedger appends an entry to a wallet's ledger; idempotencyKey is the client's key of a
// top-up, "" for none.
func insertLedger(ctx context.Context, tx pgx.Tx, userID uuid.UUID, t wallet.Transaction, idempotencyKey string) error {
	var key, orderID any // NULL unless set
	if idempotencyKey != "" {
		key = idempotencyKey
	}
	if t.OrderID != uuid.Nil {
		orderID = t.OrderID
	}
	err := postgres.WriteLater(ctx, tx, `
		INSERT INTO wallet_transactions (id, user_id, kind, amount_cents, balance_after_cents, order_id, idempotency_key)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		t.ID, userID, t.Kind, t.AmountCents, t.BalanceAfterCents, orderID, key)
	if err != nil {
		return fmt.Errorf("record %s of %d for %s: %w", t.Kind, t.AmountCents, userID, err)
	}
	return nil
}
