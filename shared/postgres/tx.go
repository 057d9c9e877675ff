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
//
// Statements queued with Later inside fn are sent in one round trip with the COMMIT after fn
// returns; if one fails, the transaction is rolled back and Atomic returns its error. BEGIN is
// sent with fn's first statement, so a transaction costs no round trip of its own.
func Atomic(ctx context.Context, pool *pgxpool.Pool, fn func(ctx context.Context, tx pgx.Tx) error) error {
	if tx, ok := ctx.Value(txKey{}).(pgx.Tx); ok {
		return fn(ctx, tx)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	// BEGIN goes with the first statement and COMMIT with the queued writes (pipelinedTx).
	tx := &pipelinedTx{conn: conn, later: &pgx.Batch{}}
	// Rollback after a successful Commit is a no-op; on every other path, including a panic in
	// fn, it undoes whatever fn did. Its error adds nothing to the error that brought us here.
	defer func() { _ = tx.Rollback(ctx) }()

	inner, committed := aftercommit.Begin(context.WithValue(context.WithValue(ctx, txKey{}, pgx.Tx(tx)), laterKey{}, tx.later))
	if err := fn(inner, tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	committed()
	return nil
}

// laterKey is the context key of the statements Later queues for the transaction Atomic runs.
type laterKey struct{}

// Later queues a write to be sent with the other queued writes of the transaction that ctx
// carries, in one round trip together with Atomic's COMMIT, and reports whether it could:
// false means ctx carries no Atomic transaction, and the caller must run the statement itself.
//
// It is for writes whose result the code does not look at (no RETURNING, no row count): the
// rows a use case writes after it has decided, and the outbox rows that announce them. A saga
// step used to send each such write on its own and wait for its answer; on a busy machine every
// round trip costs a wait for the CPU on both sides (docs/performance-saga.md). An error from a
// queued statement (a constraint, say) surfaces from Atomic, which rolls everything back, so
// the all-or-nothing promise is the same; only the moment the error is seen changes. A read in
// the same transaction does not see a queued write: queue only what nothing reads back.
func Later(ctx context.Context, sql string, args ...any) bool {
	batch, ok := ctx.Value(laterKey{}).(*pgx.Batch)
	if !ok {
		return false
	}
	batch.Queue(sql, args...)
	return true
}

// WriteLater queues sql with Later when ctx carries an Atomic transaction, and otherwise runs it
// on tx at once. A repository's write helpers use it so that they work both inside Atomic (one
// round trip for all of a step's writes) and on their own.
func WriteLater(ctx context.Context, tx pgx.Tx, sql string, args ...any) error {
	if Later(ctx, sql, args...) {
		return nil
	}
	_, err := tx.Exec(ctx, sql, args...)
	return err
}

// SendLater is WriteLater for a batch: inside Atomic its statements join the transaction's
// queued writes, in order; otherwise the batch is sent on tx at once.
func SendLater(ctx context.Context, tx pgx.Tx, batch *pgx.Batch) error {
	if later, ok := ctx.Value(laterKey{}).(*pgx.Batch); ok {
		later.QueuedQueries = append(later.QueuedQueries, batch.QueuedQueries...)
		return nil
	}
	return tx.SendBatch(ctx, batch).Close()
}
