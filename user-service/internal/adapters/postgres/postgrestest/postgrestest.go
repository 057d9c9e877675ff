// Package postgrestest gives user-service's integration tests a real database with its schema
// (shared/postgres/pgtest) and the checks they share: a snapshot of every table's row count, and
// the money invariant. Only test code imports it.
package postgrestest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tracecart/tracecart/shared/postgres"
	"github.com/tracecart/tracecart/shared/postgres/pgtest"
	"github.com/tracecart/tracecart/user-service/migrations"
)

// Open returns a pool on a new database with user-service's schema, the outbox and the inbox,
// closed when the test ends. It allows enough connections for the tests that race many
// requests or events.
func Open(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return pgtest.New(t, migrations.Set, postgres.WithMaxConns(60))
}

// Rows counts the rows of every table a request or an event may write, so a test can prove
// that a refused one wrote nothing.
func Rows(t testing.TB, pool *pgxpool.Pool) map[string]int64 {
	t.Helper()
	counts := map[string]int64{}
	for _, table := range []string{"users", "wallet_transactions", "payments", "outbox", "processed_events"} {
		counts[table] = int64(pgtest.Count(t, pool, "SELECT count(*) FROM "+table))
	}
	// Money moves without adding rows only if there is a bug; include it in the snapshot.
	counts["sum(balance_cents)"] = int64(pgtest.Count(t, pool, "SELECT coalesce(sum(balance_cents), 0) FROM users"))
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
		t.Fatalf("postgrestest: money invariant: %v", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var initial, balance, topups, debits, refunds, paid int64
		if err := rows.Scan(&id, &initial, &balance, &topups, &debits, &refunds, &paid); err != nil {
			t.Fatalf("postgrestest: money invariant: %v", err)
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
		t.Fatalf("postgrestest: money invariant: %v", err)
	}
}
