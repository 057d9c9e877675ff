package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pipelinedTx is the transaction Atomic hands to its function. It behaves as the pgx.Tx that
// pool.Begin returns, with two round trips fewer:
//
//   - BEGIN is not sent on its own: it travels in one pipeline with the transaction's first
//     statement (for a saga step, the inbox insert; for the outbox relay, its claim);
//   - COMMIT travels in one pipeline with the writes queued by Later, and a transaction that
//     sent nothing sends nothing at all.
//
// A saga step was BEGIN, the inbox insert, its reads, the queued writes and COMMIT, each a round
// trip that waits for a CPU on both sides on a busy machine (docs/performance-saga.md, "After,
// part 3"). Postgres makes this safe: a BEGIN inside a pipeline opens a transaction block that
// stays open after the pipeline's Sync, and a statement that fails inside the block makes the
// server skip the rest of the pipeline, COMMIT included, so a failed queued write can never be
// committed.
//
// Nested transactions (Begin), large objects and CopyFrom are not supported: tracecart uses none
// of them, and a caller that tries gets an error (or, for LargeObjects, whose type pgx does not
// let other packages build, an object that fails on first use).
type pipelinedTx struct {
	conn  *pgxpool.Conn
	later *pgx.Batch // writes queued by Later and SendLater, sent with COMMIT
	begun bool       // BEGIN has been sent
	done  bool       // committed or rolled back, and the connection released
}

var _ pgx.Tx = (*pipelinedTx)(nil)

// errNested is what Begin answers: a savepoint is not something tracecart needs.
var errNested = errors.New("postgres: nested transactions (savepoints) are not supported in Atomic")

// withBegin returns the queries of b, preceded by BEGIN if it has not been sent yet, and marks the
// transaction begun: from here on, whatever happens to the pipeline, Rollback must end it.
func (t *pipelinedTx) withBegin(queries ...*pgx.QueuedQuery) *pgx.Batch {
	b := &pgx.Batch{}
	if !t.begun {
		b.Queue("BEGIN")
		t.begun = true
	}
	b.QueuedQueries = append(b.QueuedQueries, queries...)
	return b
}

// sendFirst sends the first statement of the transaction together with BEGIN and returns the
// results with BEGIN's already read.
func (t *pipelinedTx) sendFirst(ctx context.Context, sql string, args []any) (pgx.BatchResults, error) {
	br := t.conn.SendBatch(ctx, t.withBegin(&pgx.QueuedQuery{SQL: sql, Arguments: args}))
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return nil, fmt.Errorf("begin transaction: %w", err)
	}
	return br, nil
}

func (t *pipelinedTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if t.done {
		return pgconn.CommandTag{}, pgx.ErrTxClosed
	}
	if t.begun {
		return t.conn.Exec(ctx, sql, args...)
	}
	br, err := t.sendFirst(ctx, sql, args)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

func (t *pipelinedTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if t.done {
		return nil, pgx.ErrTxClosed
	}
	if t.begun {
		return t.conn.Query(ctx, sql, args...)
	}
	br, err := t.sendFirst(ctx, sql, args)
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return nil, err
	}
	return &pipelinedRows{Rows: rows, results: br}, nil
}

func (t *pipelinedTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := t.Query(ctx, sql, args...)
	return &pipelinedRow{rows: rows, err: err}
}

func (t *pipelinedTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if t.done {
		return pgx.FailedBatchResults(b, pgx.ErrTxClosed)
	}
	if t.begun {
		return t.conn.SendBatch(ctx, b)
	}
	br := t.conn.SendBatch(ctx, t.withBegin(b.QueuedQueries...))
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return pgx.FailedBatchResults(b, fmt.Errorf("begin transaction: %w", err))
	}
	return br
}

// Commit sends the queued writes and COMMIT in one pipeline (with BEGIN in front when nothing was
// sent before them) and releases the connection.
func (t *pipelinedTx) Commit(ctx context.Context) error {
	if t.done {
		return pgx.ErrTxClosed
	}
	if !t.begun && t.later.Len() == 0 {
		t.release()
		return nil // nothing was read or written: there is nothing to commit
	}
	queued := t.later.QueuedQueries
	b := t.withBegin(queued...)
	b.Queue("COMMIT")
	br := t.conn.SendBatch(ctx, b)
	err := readCommit(br, b.Len()-len(queued)-1, queued)
	if cerr := br.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("commit transaction: %w", cerr)
	}
	if err != nil {
		// A queued write failed (the server then skipped COMMIT) or the connection broke: end
		// the transaction, or leave the connection for the pool to discard.
		_ = t.Rollback(ctx)
		return err
	}
	t.release()
	return nil
}

// readCommit reads the results of a commit pipeline: BEGIN's, if skip is 1, then the queued
// writes' (through their own callback when they have one, as pgx's Close would), then COMMIT's,
// whose tag says whether the server committed.
func readCommit(br pgx.BatchResults, skip int, queued []*pgx.QueuedQuery) error {
	for range skip {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("begin transaction: %w", err)
		}
	}
	for _, q := range queued {
		var err error
		if q.Fn != nil {
			err = q.Fn(br)
		} else {
			_, err = br.Exec()
		}
		if err != nil {
			return fmt.Errorf("write the transaction's queued statements: %w", err)
		}
	}
	tag, err := br.Exec()
	if err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	if tag.String() == "ROLLBACK" {
		// The transaction had failed before (an error fn swallowed), so the server rolled back.
		return fmt.Errorf("commit transaction: %w", pgx.ErrTxCommitRollback)
	}
	return nil
}

// Rollback ends the transaction, if anything was sent, and releases the connection. After Commit
// it is a no-op that answers pgx.ErrTxClosed, as pgx's own transactions do.
func (t *pipelinedTx) Rollback(ctx context.Context) error {
	if t.done {
		return pgx.ErrTxClosed
	}
	var err error
	if t.begun {
		_, err = t.conn.Exec(ctx, "ROLLBACK")
	}
	// A connection left inside a transaction (the ROLLBACK failed) is closed by the pool on
	// release rather than handed to the next caller.
	t.release()
	return err
}

func (t *pipelinedTx) release() {
	t.done = true
	t.conn.Release()
}

func (t *pipelinedTx) Begin(context.Context) (pgx.Tx, error) { return nil, errNested }

func (t *pipelinedTx) CopyFrom(context.Context, pgx.Identifier, []string, pgx.CopyFromSource) (int64, error) {
	return 0, errors.New("postgres: CopyFrom is not supported in Atomic")
}

func (t *pipelinedTx) LargeObjects() pgx.LargeObjects { return pgx.LargeObjects{} }

func (t *pipelinedTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	return t.conn.Conn().Prepare(ctx, name, sql)
}

func (t *pipelinedTx) Conn() *pgx.Conn { return t.conn.Conn() }

// pipelinedRows are the rows of a transaction's first statement: closing them also reads the end
// of the pipeline that carried BEGIN, so the connection is ready for the next statement.
type pipelinedRows struct {
	pgx.Rows
	results pgx.BatchResults
	err     error
}

func (r *pipelinedRows) Close() {
	if r.results == nil {
		return
	}
	r.Rows.Close()
	r.err = r.results.Close()
	r.results = nil
}

func (r *pipelinedRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

// pipelinedRow is QueryRow's answer, with pgx's semantics: Scan reads the first row, closes the
// rows, and answers pgx.ErrNoRows when there was none.
type pipelinedRow struct {
	rows pgx.Rows
	err  error
}

func (r *pipelinedRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}
