package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tracecart/tracecart/shared/aftercommit"
	"github.com/tracecart/tracecart/shared/postgres"
)

var errOutOfStock = errors.New("out of stock")

func TestInTx(t *testing.T) {
	pool := openDB(t)
	if _, err := pool.Exec(t.Context(), "CREATE TABLE items (name text)"); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		fnErr     error // what fn returns after its insert
		fnPanics  bool
		wantRows  int
		wantPanic bool
	}{
		{name: "nil commits", wantRows: 1},
		{name: "error rolls back and is returned as is", fnErr: errOutOfStock, wantRows: 0},
		{name: "panic rolls back and keeps panicking", fnPanics: true, wantRows: 0, wantPanic: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			if _, err := pool.Exec(ctx, "TRUNCATE items"); err != nil {
				t.Fatal(err)
			}

			var err error
			panicked := func() (panicked bool) {
				defer func() { panicked = recover() != nil }()
				err = postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
					if _, err := tx.Exec(ctx, "INSERT INTO items VALUES ('cup')"); err != nil {
						return err
					}
					if tt.fnPanics {
						panic("bug in fn")
					}
					return tt.fnErr
				})
				return false
			}()

			if panicked != tt.wantPanic {
				t.Errorf("panicked = %v, want %v", panicked, tt.wantPanic)
			}
			if !errors.Is(err, tt.fnErr) {
				t.Errorf("InTx error = %v, want %v", err, tt.fnErr)
			}
			if got := count(t, pool, "SELECT count(*) FROM items"); got != tt.wantRows {
				t.Errorf("items has %d rows, want %d", got, tt.wantRows)
			}
			if got := pool.Stat().AcquiredConns(); got != 0 {
				t.Errorf("%d connections still acquired after InTx returned", got)
			}
		})
	}
}

// TestAtomicJoinsTheOuterTransaction checks what the saga kit relies on: an Atomic inside another
// writes in the outer transaction, so an error in the outer one rolls back the inner one's writes,
// and aftercommit hooks run only after the outermost commit.
func TestAtomicJoinsTheOuterTransaction(t *testing.T) {
	pool := openDB(t)
	ctx := t.Context()
	if _, err := pool.Exec(ctx, "CREATE TABLE joined (name text)"); err != nil {
		t.Fatal(err)
	}
	insert := func(ctx context.Context, name string) error {
		return postgres.Atomic(ctx, pool, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO joined VALUES ($1)", name)
			aftercommit.Do(ctx, func() { t.Logf("committed %s", name) })
			return err
		})
	}

	hooks := 0
	err := postgres.Atomic(ctx, pool, func(ctx context.Context, _ pgx.Tx) error {
		if err := insert(ctx, "inner"); err != nil {
			return err
		}
		aftercommit.Do(ctx, func() { hooks++ })
		return errOutOfStock
	})
	if !errors.Is(err, errOutOfStock) {
		t.Fatalf("Atomic = %v, want %v", err, errOutOfStock)
	}
	if got := count(t, pool, "SELECT count(*) FROM joined"); got != 0 {
		t.Fatalf("the inner Atomic's row survived the outer rollback (%d rows)", got)
	}
	if hooks != 0 {
		t.Fatal("an after-commit hook ran after a rollback")
	}

	err = postgres.Atomic(ctx, pool, func(ctx context.Context, _ pgx.Tx) error {
		if err := insert(ctx, "inner"); err != nil {
			return err
		}
		aftercommit.Do(ctx, func() { hooks++ })
		if hooks != 0 {
			t.Error("an after-commit hook ran before the commit")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := count(t, pool, "SELECT count(*) FROM joined"); got != 1 || hooks != 1 {
		t.Fatalf("after commit: %d rows and %d hooks, want 1 and 1", got, hooks)
	}
}

// TestLaterWritesGoWithTheCommit: writes queued with Later are in the database once the
// outermost Atomic commits, queued from a joined Atomic too; a queued write that fails rolls the
// whole transaction back, the direct writes with it, and nothing runs after commit.
func TestLaterWritesGoWithTheCommit(t *testing.T) {
	pool := openDB(t)
	ctx := t.Context()
	if _, err := pool.Exec(ctx, "CREATE TABLE later (name text PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	if postgres.Later(ctx, "INSERT INTO later VALUES ('outside')") {
		t.Fatal("Later queued a write outside any transaction")
	}

	err := postgres.Atomic(ctx, pool, func(ctx context.Context, tx pgx.Tx) error {
		if !postgres.Later(ctx, "INSERT INTO later VALUES ($1)", "queued") {
			t.Fatal("Later refused inside Atomic")
		}
		batch := &pgx.Batch{}
		batch.Queue("INSERT INTO later VALUES ($1)", "batched")
		if err := postgres.SendLater(ctx, tx, batch); err != nil {
			t.Fatal(err)
		}
		if got := count(t, tx, "SELECT count(*) FROM later"); got != 0 {
			t.Errorf("a queued write was sent before the commit (%d rows)", got)
		}
		return postgres.Atomic(ctx, pool, func(ctx context.Context, _ pgx.Tx) error {
			postgres.Later(ctx, "INSERT INTO later VALUES ($1)", "joined")
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := count(t, pool, "SELECT count(*) FROM later"); got != 3 {
		t.Fatalf("%d rows after the commit, want the 3 queued", got)
	}

	hooks := 0
	err = postgres.Atomic(ctx, pool, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO later VALUES ('direct')"); err != nil {
			return err
		}
		postgres.Later(ctx, "INSERT INTO later VALUES ($1)", "queued") // a duplicate key
		aftercommit.Do(ctx, func() { hooks++ })
		return nil
	})
	if err == nil {
		t.Fatal("Atomic succeeded although a queued write violated the primary key")
	}
	if got := count(t, pool, "SELECT count(*) FROM later WHERE name = 'direct'"); got != 0 || hooks != 0 {
		t.Errorf("after the failed queued write: direct row %d, hooks %d; want the whole transaction undone", got, hooks)
	}
}
