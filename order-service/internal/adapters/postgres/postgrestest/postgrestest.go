// Package postgrestest gives order-service's integration tests a real, migrated database of
// their own (shared/postgres/pgtest with this service's migrations) and a count of the rows a
// request or an event may write. It is imported by tests only; the test binary's TestMain must
// call testinfra.Main.
package postgrestest

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tracecart/tracecart/order-service/migrations"
	"github.com/tracecart/tracecart/shared/postgres/pgtest"
)

// New returns a pool on a new database with every migration order-service runs at start-up
// applied. The database is dropped when the test ends.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return pgtest.New(t, migrations.Set)
}

// Rows counts the rows of the tables a request or an event may write to, so a test can check
// that a refused one wrote nothing.
type Rows struct{ Orders, Lines, Outbox, Processed int }

// CountRows counts the rows of every table order-service writes.
func CountRows(t testing.TB, pool *pgxpool.Pool) Rows {
	t.Helper()
	return Rows{
		Orders:    pgtest.Count(t, pool, `SELECT count(*) FROM orders`),
		Lines:     pgtest.Count(t, pool, `SELECT count(*) FROM order_lines`),
		Outbox:    pgtest.Count(t, pool, `SELECT count(*) FROM outbox`),
		Processed: pgtest.Count(t, pool, `SELECT count(*) FROM processed_events`),
	}
}
