// Package outbox implements the transactional outbox: a service that changes its state and must
// tell the world about it writes the event into an outbox table in the same database transaction
// (Add), and a Relay publishes the table's rows to Kafka afterwards.
//
// Writing to Kafka directly from a request handler would either lose events (the transaction
// commits, the process dies before the write) or announce changes that never happened (the write
// succeeds, the transaction rolls back). With the outbox, an event exists if and only if its state
// change was committed, and the relay keeps trying until Kafka has it. Delivery is at-least-once:
// the relay publishes a row before it marks it published, so a crash in between publishes the row
// again, and consumers deduplicate on the "event-id" header (see package inbox).
//
// Each row also keeps the trace context of the transaction that wrote it, which the Kafka producer
// uses as the parent of its send span: the trace of an order goes on through Kafka instead of
// stopping at the table.
//
// A service applies the table's schema with the rest of its migrations, and runs one Relay:
//
//	own := postgres.MigrationSet{Name: "order-service", FS: migrations} // //go:embed migrations/*.sql
//	err := postgres.Migrate(ctx, pool, own, outbox.Migrations, inbox.Migrations)
//	...
//	relay := outbox.NewRelay(pool, producer, outbox.RelayOptions{})
//	g.Go(func() error { return relay.Run(ctx) }) // g: the errgroup of run's long-running parts
package outbox

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/propagation"

	"github.com/tracecart/tracecart/shared/aftercommit"
	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/kafka"
	"github.com/tracecart/tracecart/shared/postgres"
	"github.com/tracecart/tracecart/shared/telemetry"
	"github.com/tracecart/tracecart/shared/wakeup"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations creates the outbox table. Pass it to postgres.Migrate together with the service's own
// migrations.
var Migrations = postgres.MigrationSet{Name: "outbox", FS: migrations}

// wakeups tells the relays of this process that outbox rows were committed: Add signals after the
// commit of the transaction that wrote them, and every Relay.Run watches while it runs.
//
// Not Postgres's NOTIFY, which would also reach relays in other processes, because NOTIFY
// serialises commits server-wide (package wakeup). Every replica of a service runs its own relay,
// and a replica's writes wake its own relay, so a relay that can publish the rows is woken; rows
// nobody signalled (a replica that died between its commit and its publish) are found by the poll.
// Under load NOTIFY's lock was where the saga's commits queued: sampled, it had a waiter in a
// third of the samples (docs/performance-saga.md, "After, part 3").
var wakeups = wakeup.New[struct{}]()

// ErrInvalidMessage is returned by Add for a message without a topic or a type: such an event
// could never be routed or handled, so it is refused before it reaches the table.
var ErrInvalidMessage = errors.New("invalid outbox message")

// Message is an event to publish once the transaction that adds it commits. It is the events
// package's Message, built by events.NewMessage; the alias keeps this package's callers short.
type Message = events.Message

// Add writes msgs into the outbox as part of tx, the caller's transaction: they are published if and
// only if tx commits. Besides "event-id" and "event-type", each row's headers hold the trace
// context of ctx as W3C traceparent, tracestate and baggage (telemetry.W3C: the row is a stored wire format).
//
// Inside postgres.Atomic (ctx is the one Atomic gave), Add also wakes this process's relays once
// the transaction has committed, and not at all when it rolls back, so events are on their way
// within milliseconds of the commit. Otherwise the relays find the rows at their next poll.
func Add(ctx context.Context, tx pgx.Tx, msgs ...Message) error {
	if len(msgs) == 0 {
		return nil
	}
	batch := &pgx.Batch{}
	for i, m := range msgs {
		if m.Topic == "" || m.Type == "" {
			return fmt.Errorf("add message %d to the outbox: %w: topic and type are required", i, ErrInvalidMessage)
		}
		if m.ID == uuid.Nil {
			m.ID = uuid.New()
		}
		if m.Payload == nil {
			m.Payload = []byte{} // a nil slice would be stored as NULL
		}
		headers := propagation.MapCarrier{}
		telemetry.W3C.Inject(ctx, headers)
		headers[kafka.HeaderEventID] = m.ID.String()
		headers[kafka.HeaderEventType] = m.Type

		batch.Queue(
			`INSERT INTO outbox (id, topic, key, payload, headers) VALUES ($1, $2, $3, $4, $5)`,
			m.ID, m.Topic, m.Key, m.Payload, map[string]string(headers),
		)
	}

	// Inside postgres.Atomic the rows go with the transaction's other queued writes, in the one
	// round trip before its commit; otherwise they are sent now, as one batch.
	if err := postgres.SendLater(ctx, tx, batch); err != nil {
		return fmt.Errorf("add %d messages to the outbox: %w", len(msgs), err)
	}
	aftercommit.Do(ctx, func() { wakeups.Signal(struct{}{}) })
	return nil
}
