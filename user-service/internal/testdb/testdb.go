// Package testdb gives user-service's integration tests a real, migrated Postgres database
// of their own (testinfra.Postgres), and the queries they use to check what was written.
// Only test code imports it.
package testdb

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tracecart/tracecart/shared/inbox"
	"github.com/tracecart/tracecart/shared/outbox"
	"github.com/tracecart/tracecart/shared/postgres"
	"github.com/tracecart/tracecart/shared/testinfra"
	"github.com/tracecart/tracecart/user-service/migrations"
)

// Open returns a pool on a new database with user-service's schema, the outbox and the inbox,
// closed when the test ends.
func Open(t testing.TB) *pgxpool.Pool {
	t.Helper()
	dsn := testinfra.Postgres(t) // starting the shared container is not part of the deadline below
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := postgres.Open(ctx, dsn, postgres.WithMaxConns(60))
	if err != nil {
		t.Fatalf("testdb: open: %v", err)
	}
	t.Cleanup(pool.Close)
	if err := postgres.Migrate(ctx, pool, migrations.Set, outbox.Migrations, inbox.Migrations); err != nil {
		t.Fatalf("testdb: migrate: %v", err)
	}
	return pool
}

// Count runs a query returning one number, such as SELECT count(*).
func Count(t testing.TB, pool *pgxpool.Pool, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("testdb: %s: %v", query, err)
	}
	return n
}

// Rows counts the rows of every table a request or an event may write, so a test can prove
// that a refused one wrote nothing.
func Rows(t testing.TB, pool *pgxpool.Pool) map[string]int64 {
	t.Helper()
	counts := map[string]int64{}
	for _, table := range []string{"users", "wallet_transactions", "payments", "outbox", "processed_events"} {
		counts[table] = Count(t, pool, "SELECT count(*) FROM "+table)
	}
	// Money moves without adding rows only if there is a bug; include it in the snapshot.
	counts["sum(balance_cents)"] = Count(t, pool, "SELECT coalesce(sum(balance_cents), 0) FROM users")
	return counts
}

// CheckMoneyInvariant fails the test unless, for every user, the balance is explained by the
// ledger and the ledger by the payments:
//
//	initial + top-ups - debits + refunds = balance
//	debits - refunds = sum of PAID (not refunded) payments
//
// which together are the saga's invariant: initial + top-ups = balance + paid totals.
func CheckMoneyInvariant(t testing.TB, pool *pgxpool.Pool) {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT u.id::text, u.initial_balance_cents, u.balance_cents,
		       coalesce((SELECT sum(amount_cents) FROM wallet_transactions WHERE user_id = u.id AND kind = 'topup'), 0),
		       coalesce((SELECT sum(amount_cents) FROM wallet_transactions WHERE user_id = u.id AND kind = 'debit'), 0),
		       coalesce((SELECT sum(amount_cents) FROM wallet_transactions WHERE user_id = u.id AND kind = 'refund'), 0),
		       coalesce((SELECT sum(amount_cents) FROM payments WHERE user_id = u.id AND status = 'PAID'), 0)
		FROM users u`)
	if err != nil {
		t.Fatalf("testdb: money invariant: %v", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var initial, balance, topups, debits, refunds, paid int64
		if err := rows.Scan(&id, &initial, &balance, &topups, &debits, &refunds, &paid); err != nil {
			t.Fatalf("testdb: money invariant: %v", err)
		}
		if initial+topups-debits+refunds != balance {
			t.Errorf("user %s: initial %d + top-ups %d - debits %d + refunds %d != balance %d",
				id, initial, topups, debits, refunds, balance)
		}
		if debits-refunds != paid {
			t.Errorf("user %s: debits %d - refunds %d != PAID payments %d", id, debits, refunds, paid)
		}
		if initial+topups != balance+paid {
			t.Errorf("user %s: initial %d + top-ups %d != balance %d + paid %d", id, initial, topups, balance, paid)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("testdb: money invariant: %v", err)
	}
}
