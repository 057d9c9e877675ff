// Package pgtest gives a service's integration tests a real database of their own, migrated
// exactly as the service migrates its own at start-up (its migrations, the outbox's and the
// inbox's), and small helpers to look inside it. It is imported by tests only; the test binary's
// TestMain must call testinfra.Main.
package pgtest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/inbox"
	"github.com/tracecart/tracecart/shared/outbox"
	"github.com/tracecart/tracecart/shared/postgres"
	"github.com/tracecart/tracecart/shared/testinfra"
)

// New returns a pool on a new database of the shared test Postgres server (testinfra.Postgres)
// with own, the outbox's and the inbox's migrations applied. The pool is closed and the database
// dropped when the test ends.
func New(t testing.TB, own postgres.MigrationSet, opts ...postgres.Option) *pgxpool.Pool {
	t.Helper()
	dsn := testinfra.Postgres(t) // starting the shared container is not part of the deadline below
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := postgres.Open(ctx, dsn, opts...)
	if err != nil {
		t.Fatalf("pgtest: open: %v", err)
	}
	t.Cleanup(pool.Close)
	if err := postgres.Migrate(ctx, pool, own, outbox.Migrations, inbox.Migrations); err != nil {
		t.Fatalf("pgtest: migrate: %v", err)
	}
	return pool
}

// Count returns the result of a "SELECT count(*) ..." style query.
func Count(t testing.TB, pool *pgxpool.Pool, query string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("pgtest: %s: %v", query, err)
	}
	return n
}

// Event is an outbox row decoded: the Kafka routing fields, the headers and the envelope inside.
type Event struct {
	Topic    string
	Key      string
	Headers  map[string]string
	Envelope events.Envelope
}

// OutboxEvents returns the outbox's events keyed by key (an order's or a user's ID), oldest
// first; with eventTypes, only events of those types.
func OutboxEvents(t testing.TB, pool *pgxpool.Pool, key string, eventTypes ...string) []Event {
	t.Helper()
	rows, err := pool.Query(context.Background(),
		`SELECT topic, key, headers, payload FROM outbox
		 WHERE key = $1 AND (coalesce(cardinality($2::text[]), 0) = 0 OR headers->>'event-type' = ANY($2))
		 ORDER BY seq`, key, eventTypes)
	if err != nil {
		t.Fatalf("pgtest: read outbox: %v", err)
	}
	got, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Event, error) {
		var (
			e       Event
			payload []byte
		)
		if err := row.Scan(&e.Topic, &e.Key, &e.Headers, &payload); err != nil {
			return e, err
		}
		return e, json.Unmarshal(payload, &e.Envelope)
	})
	if err != nil {
		t.Fatalf("pgtest: read outbox: %v", err)
	}
	return got
}

// Payload decodes the payload of e into a T, failing the test if it does not decode.
func Payload[T any](t testing.TB, e Event) T {
	t.Helper()
	p, err := events.DecodePayload[T](e.Envelope)
	if err != nil {
		t.Fatalf("pgtest: decode %s payload: %v", e.Envelope.Type, err)
	}
	return p
}
