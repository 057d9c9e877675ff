// Package dbtest gives order-service's integration tests a real, migrated database of their
// own, and small helpers to look inside it. It is imported by tests only.
package dbtest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tracecart/tracecart/order-service/migrations"
	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/inbox"
	"github.com/tracecart/tracecart/shared/outbox"
	"github.com/tracecart/tracecart/shared/postgres"
	"github.com/tracecart/tracecart/shared/testinfra"
)

// New returns a pool on a new database with every migration order-service runs at start-up
// applied. The database is dropped when the test ends. The test binary's TestMain must call
// testinfra.Main.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	dsn := testinfra.Postgres(t) // starting the shared container is not part of the deadline below
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pool, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("open database: %v", err)
	}
	t.Cleanup(pool.Close)
	if err := postgres.Migrate(ctx, pool, migrations.Set, outbox.Migrations, inbox.Migrations); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return pool
}

// Count returns the result of a count(*) query.
func Count(t testing.TB, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// Rows counts the rows of the tables a request or an event may write to, so a test can check
// that a refused one wrote nothing.
type Rows struct{ Orders, Lines, Outbox, Processed int }

// CountRows counts the rows of every table order-service writes.
func CountRows(t testing.TB, pool *pgxpool.Pool) Rows {
	t.Helper()
	return Rows{
		Orders:    Count(t, pool, `SELECT count(*) FROM orders`),
		Lines:     Count(t, pool, `SELECT count(*) FROM order_lines`),
		Outbox:    Count(t, pool, `SELECT count(*) FROM outbox`),
		Processed: Count(t, pool, `SELECT count(*) FROM processed_events`),
	}
}

// Event is an outbox row decoded: the Kafka routing fields and the envelope inside.
type Event struct {
	Topic    string
	Key      string
	Envelope events.Envelope
}

// OutboxEvents returns the outbox's events of type eventType for order orderID, oldest first.
func OutboxEvents(t testing.TB, pool *pgxpool.Pool, orderID uuid.UUID, eventType string) []Event {
	t.Helper()
	rows, err := pool.Query(context.Background(),
		`SELECT topic, key, payload FROM outbox WHERE key = $1 AND headers->>'event-type' = $2 ORDER BY seq`,
		orderID.String(), eventType)
	if err != nil {
		t.Fatalf("read outbox: %v", err)
	}
	got, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Event, error) {
		var (
			e       Event
			payload []byte
		)
		if err := row.Scan(&e.Topic, &e.Key, &payload); err != nil {
			return e, err
		}
		return e, json.Unmarshal(payload, &e.Envelope)
	})
	if err != nil {
		t.Fatalf("read outbox: %v", err)
	}
	return got
}

// Payload decodes the payload of e into a T, failing the test if it does not decode.
func Payload[T any](t testing.TB, e Event) T {
	t.Helper()
	p, err := events.DecodePayload[T](e.Envelope)
	if err != nil {
		t.Fatalf("decode %s payload: %v", e.Envelope.Type, err)
	}
	return p
}
