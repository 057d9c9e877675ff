package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tracecart/tracecart/shared/aftercommit"
)

// InTx runs fn in a transaction and commits it if fn returns nil. If fn returns an error, or
// panics, the transaction is rolled back, so a state change and the outbox rows that announce it
// are either both written or both not.
//
// fn's error is returned as it is, so callers can still match their own sentinels with errors.Is.
// Prefer Atomic in code that a larger unit of work may call.
func InTx(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	return Atomic(ctx, pool, func(_ context.Context, tx pgx.Tx) error { return fn(tx) })
}

// txKey is the context key of the transaction Atomic carries.
type txKey struct{}

// Atomic runs fn in a transaction, commits it if fn returns nil and rolls it back otherwise (a
// panic included). fn receives the transaction and a context that carries it.
//
// If ctx already carries a transaction, fn joins it instead of starting its own: the outermost
// Atomic commits. That is how a use case's writes and the outbox rows announcing them commit
// together with the inbox record of the event that caused them, although the use case knows
// nothing of transactions: the saga consumer kit opens the transaction for the inbox record, and
// the repositories the use case calls run their Atomic inside it. Work registered with
// aftercommit.Do inside fn runs after the outermost commit, and not at all after a rollback.
//
// Joining is only right for one pool: tracecart services have one database each.
func Atomic(ctx context.Context, pool *pgxpool.Pool, fn func(ctx context.Context, tx pgx.Tx) error) error {
	if tx, ok := ctx.Value(txKey{}).(pgx.Tx); ok {
		return fn(ctx, tx)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	// Rollback after a successful Commit is a no-op; on every other path, including a panic in
	// fn, it undoes whatever fn did. Its error adds nothing to the error that brought us here.
	defer func() { _ = tx.Rollback(ctx) }()

	inner, committed := aftercommit.Begin(context.WithValue(ctx, txKey{}, tx))
	if err := fn(inner, tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	committed()
	return nil
}
