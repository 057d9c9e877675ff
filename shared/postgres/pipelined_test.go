package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tracecart/tracecart/shared/postgres"
)

// requests counts what a transaction sent to the server, from the pool's spans: each statement
// sent on its own is a "query …" span, each pipeline a "batch start" span (the statements in it
// are its "batch query …" children and are not counted).
func requests(recorder *tracetest.SpanRecorder) (n int, names []string) {
	for _, s := range recorder.Ended() {
		if strings.HasPrefix(s.Name(), "query ") || s.Name() == "batch start" {
			n++
			names = append(names, s.Name())
		}
	}
	return n, names
}

// TestAtomicSendsBeginAndCommitWithOtherStatements: BEGIN travels with the first statement and
// COMMIT with the queued writes, so a read-then-write transaction is two requests, not four, and
// a transaction that sends nothing costs nothing.
func TestAtomicSendsBeginAndCommitWithOtherStatements(t *testing.T) {
	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	pool := openDB(t, postgres.WithTracerProvider(tp))
	// The pool traces statements made under a span only, as the services' always are.
	ctx, step := tp.Tracer("test").Start(t.Context(), "saga step")
	defer step.End()
	if _, err := pool.Exec(ctx, "CREATE TABLE stock (id int PRIMARY KEY, n int)"); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "INSERT INTO stock VALUES (1, 5)"); err != nil {
		t.Fatal(err)
	}
	decrement := func() error {
		return postgres.Atomic(ctx, pool, func(ctx context.Context, tx pgx.Tx) error {
			var n int
			if err := tx.QueryRow(ctx, "SELECT n FROM stock WHERE id = 1 FOR UPDATE").Scan(&n); err != nil {
				return err
			}
			return postgres.WriteLater(ctx, tx, "UPDATE stock SET n = $1 WHERE id = 1", n-1)
		})
	}
	// The first run prepares and caches the statements (a request more per new statement).
	if err := decrement(); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		fn   func() error
		want int
	}{
		{"read, then a queued write", decrement, 2},
		{"nothing sent", func() error {
			return postgres.Atomic(ctx, pool, func(context.Context, pgx.Tx) error { return nil })
		}, 0},
		{"only a read", func() error {
			return postgres.Atomic(ctx, pool, func(ctx context.Context, tx pgx.Tx) error {
				var n int
				return tx.QueryRow(ctx, "SELECT n FROM stock WHERE id = 1 FOR UPDATE").Scan(&n)
			})
		}, 2}, // BEGIN with the read, then COMMIT on its own
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := requests(recorder)
			if err := tt.fn(); err != nil {
				t.Fatal(err)
			}
			after, names := requests(recorder)
			if got := after - before; got != tt.want {
				t.Errorf("the transaction made %d requests, want %d: %v", got, tt.want, names[before:])
			}
		})
	}
	if got := count(t, pool, "SELECT n FROM stock WHERE id = 1"); got != 3 {
		t.Errorf("stock = %d after two decrements of 5, want 3", got)
	}
}

// TestAtomicFirstStatementOfEveryKind: whatever the first statement is (Exec, Query, QueryRow,
// SendBatch), it runs inside the transaction, its results read as with pgx's own transaction,
// and later statements see its effects.
func TestAtomicFirstStatementOfEveryKind(t *testing.T) {
	pool := openDB(t)
	ctx := t.Context()
	if _, err := pool.Exec(ctx, "CREATE TABLE kinds (name text PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "INSERT INTO kinds VALUES ('a'), ('b')"); err != nil {
		t.Fatal(err)
	}

	first := map[string]func(ctx context.Context, tx pgx.Tx) error{
		"Exec": func(ctx context.Context, tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, "INSERT INTO kinds VALUES ($1)", "exec")
			if err == nil && tag.RowsAffected() != 1 {
				t.Errorf("Exec affected %d rows, want 1", tag.RowsAffected())
			}
			return err
		},
		"Query": func(ctx context.Context, tx pgx.Tx) error {
			rows, err := tx.Query(ctx, "SELECT name FROM kinds ORDER BY name")
			if err != nil {
				return err
			}
			names, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err == nil && len(names) < 2 {
				t.Errorf("Query read %v, want at least a and b", names)
			}
			return err
		},
		"QueryRow with no row": func(ctx context.Context, tx pgx.Tx) error {
			var name string
			if err := tx.QueryRow(ctx, "SELECT name FROM kinds WHERE name = 'none'").Scan(&name); !errors.Is(err, pgx.ErrNoRows) {
				t.Errorf("QueryRow of no row = %v, want pgx.ErrNoRows", err)
			}
			return nil
		},
		"SendBatch": func(ctx context.Context, tx pgx.Tx) error {
			b := &pgx.Batch{}
			b.Queue("INSERT INTO kinds VALUES ($1)", "batch")
			var n int
			b.Queue("SELECT count(*) FROM kinds").QueryRow(func(row pgx.Row) error { return row.Scan(&n) })
			if err := tx.SendBatch(ctx, b).Close(); err != nil {
				return err
			}
			if n < 3 {
				t.Errorf("the batch's second statement counted %d rows, want its first insert among them", n)
			}
			return nil
		},
	}
	for name, fn := range first {
		t.Run(name, func(t *testing.T) {
			err := postgres.Atomic(ctx, pool, func(ctx context.Context, tx pgx.Tx) error {
				if err := fn(ctx, tx); err != nil {
					return err
				}
				// The transaction is open: the next statement sees the first one's effects, and
				// the server says a transaction block is in progress.
				var inBlock bool
				if err := tx.QueryRow(ctx, "SELECT now() = statement_timestamp()").Scan(&inBlock); err != nil {
					return err
				}
				if inBlock {
					t.Error("the second statement ran outside a transaction (now() = statement_timestamp())")
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := pool.Stat().AcquiredConns(); got != 0 {
				t.Errorf("%d connections still acquired after Atomic returned", got)
			}
		})
	}
	if got := count(t, pool, "SELECT count(*) FROM kinds WHERE name IN ('exec', 'batch')"); got != 2 {
		t.Errorf("%d of the two first-statement inserts committed", got)
	}
}

// TestAtomicFailures: a failing first statement, or a failure fn swallows, commits nothing and
// leaves the connection clean for the next transaction.
func TestAtomicFailures(t *testing.T) {
	pool := openDB(t, postgres.WithMaxConns(1)) // the next transaction gets the same connection
	ctx := t.Context()
	if _, err := pool.Exec(ctx, "CREATE TABLE fails (name text PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}

	err := postgres.Atomic(ctx, pool, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO no_such_table VALUES (1)")
		return err
	})
	if err == nil {
		t.Fatal("Atomic succeeded although its first statement failed")
	}

	err = postgres.Atomic(ctx, pool, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO fails VALUES ('before')"); err != nil {
			return err
		}
		_, _ = tx.Exec(ctx, "INSERT INTO fails VALUES ('before')") // a duplicate, error ignored
		return nil
	})
	if !errors.Is(err, pgx.ErrTxCommitRollback) {
		t.Errorf("Atomic after a swallowed failure = %v, want pgx.ErrTxCommitRollback", err)
	}

	if err := postgres.Atomic(ctx, pool, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO fails VALUES ('after')")
		return err
	}); err != nil {
		t.Fatalf("the transaction after the failures: %v", err)
	}
	if got := count(t, pool, "SELECT count(*) FROM fails"); got != 1 {
		t.Errorf("fails has %d rows, want only the one committed after the failures", got)
	}
}
