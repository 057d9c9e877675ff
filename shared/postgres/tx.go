package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// InTx runs fn in a transaction and commits it if fn returns nil. If fn returns an error, or
// panics, the transaction is rolled back, so a state change and the outbox rows that announce it
// are either both written or both not.
//
// fn's error is returned as it is, so callers can still match their own sentinels with errors.Is.
func InTx(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	// Rollback after a successful Commit is a no-op; on every other path, including a panic in
	// fn, it undoes whatever fn did. Its error adds nothing to the error that brought us here.
	defer func() { _ = tx.Rollback(ctx) }()

	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	return nil
}
