// Package inbox makes Kafka consumers idempotent. Kafka, like the outbox relay that feeds it,
// delivers every event at least once, so the same event can arrive twice: after a relay crash,
// a consumer restart before its offset was committed, or a rebalance. The inbox turns
// at-least-once delivery into exactly-once effects.
//
// It records, per consumer, the IDs of the events it has processed, in a processed_events table
// written in the same transaction as the event's effect. If the transaction commits, both the
// effect and the record are there; if it rolls back, neither is, and the redelivered event is
// applied then. A second delivery finds the record and changes nothing.
//
// The event ID is the "event-id" Kafka header that outbox.Add writes. A [Pruner] deletes rows older
// than the consumed topics' retention, since nothing can deliver such an event again (its doc says
// why).
package inbox

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracecart/tracecart/shared/postgres"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations creates the processed_events table. Pass it to postgres.Migrate together with the
// service's own migrations.
var Migrations = postgres.MigrationSet{Name: "inbox", FS: migrations}

// ErrNoEventID is returned for an event without an ID: it could not be deduplicated, so it is not
// processed at all. A consumer should treat it as a malformed message.
var ErrNoEventID = errors.New("event has no ID")

// Process records that consumer is processing the event eventID, as part of tx, and reports
// whether this is the first time. Apply the event's effect in tx only when first is true, and
// commit; when first is false the effect was already applied by an earlier, committed delivery.
//
// consumer names the effect, usually the consumer group: two consumers of the same event each
// process it once.
//
// If another transaction is processing the same event at this moment, Process waits for it: it
// returns first == false once that transaction commits, and true if it rolls back.
func Process(ctx context.Context, tx pgx.Tx, consumer, eventID string) (first bool, err error) {
	if eventID == "" {
		return false, ErrNoEventID
	}
	tag, err := tx.Exec(ctx,
		`INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
		consumer, eventID)
	if err != nil {
		return false, fmt.Errorf("record event %s as processed by %s: %w", eventID, consumer, err)
	}
	first = tag.RowsAffected() == 1
	if !first {
		// Make the skip visible in the trace: a duplicate that changes nothing is otherwise
		// indistinguishable from an event that legitimately had no effect.
		span := trace.SpanFromContext(ctx)
		span.SetAttributes(DuplicateAttribute.Bool(true))
		span.AddEvent("duplicate event skipped", trace.WithAttributes(
			attribute.String("messaging.consumer.group.name", consumer),
			attribute.String("messaging.message.id", eventID)))
	}
	return first, nil
}

// DuplicateAttribute is set to true on the span of a delivery the inbox recognised as already
// processed, so duplicates can be found and counted in the traces.
const DuplicateAttribute = attribute.Key("tracecart.inbox.duplicate")

// Inbox is the inbox of one database. Its Once method is what the saga consumer kit (package
// saga) needs from an inbox.
type Inbox struct {
	pool *pgxpool.Pool
}

// New returns the inbox kept in pool's database.
func New(pool *pgxpool.Pool) *Inbox { return &Inbox{pool: pool} }

// Once runs fn, the effect of the event eventID on consumer's state, exactly once however often
// the event is delivered. It records the event with Process and runs fn in one transaction
// (postgres.Atomic); ctx, as fn receives it, carries that transaction, so every database write fn
// makes through postgres.Atomic (a repository's Update, outbox rows) joins it, and fn needs no
// transaction type of its own. It returns duplicate == true, without running fn, if the event was
// processed before.
//
// If fn fails, the transaction rolls back: the event is not recorded, and a redelivery runs fn
// again. fn's error is returned as it is.
func (i *Inbox) Once(ctx context.Context, consumer, eventID string, fn func(ctx context.Context) error) (duplicate bool, err error) {
	err = postgres.Atomic(ctx, i.pool, func(ctx context.Context, tx pgx.Tx) error {
		first, err := Process(ctx, tx, consumer, eventID)
		if err != nil {
			return err
		}
		if !first {
			duplicate = true
			return nil
		}
		return fn(ctx)
	})
	if err != nil {
		return false, err
	}
	return duplicate, nil
}
