// Package dbtest gives product-service's integration tests a real, migrated database of their
// own, so that the store, the HTTP API and the saga are tested against the schema the service
// runs with rather than against mocks. It is imported by tests only.
package dbtest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tracecart/tracecart/product-service/migrations"
	"github.com/tracecart/tracecart/shared/inbox"
	"github.com/tracecart/tracecart/shared/outbox"
	"github.com/tracecart/tracecart/shared/postgres"
	"github.com/tracecart/tracecart/shared/testinfra"
)

// New returns a pool on a new database of the shared test Postgres server (testinfra.Postgres),
// migrated exactly as the service migrates its own at start-up. The pool is closed and the
// database dropped when the test ends. maxConns of 0 keeps postgres.DefaultMaxConns.
func New(t testing.TB, maxConns int32) *pgxpool.Pool {
	t.Helper()
	dsn := testinfra.Postgres(t) // starting the shared container is not part of the deadline below
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var opts []postgres.Option
	if maxConns > 0 {
		opts = append(opts, postgres.WithMaxConns(maxConns))
	}
	pool, err := postgres.Open(ctx, dsn, opts...)
	if err != nil {
		t.Fatalf("dbtest: open: %v", err)
	}
	t.Cleanup(pool.Close)
	if err := postgres.Migrate(ctx, pool, migrations.Set, outbox.Migrations, inbox.Migrations); err != nil {
		t.Fatalf("dbtest: migrate: %v", err)
	}
	return pool
}

// Count returns the result of a "SELECT count(*) ..." style query.
func Count(t testing.TB, pool *pgxpool.Pool, query string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("dbtest: %s: %v", query, err)
	}
	return n
}
