package sagakit_test

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/inbox"
	"github.com/tracecart/tracecart/shared/outbox"
	"github.com/tracecart/tracecart/shared/postgres"
	"github.com/tracecart/tracecart/shared/postgres/pgtest"
	"github.com/tracecart/tracecart/shared/sagakit"
	"github.com/tracecart/tracecart/shared/sagakit/sagatest"
	"github.com/tracecart/tracecart/shared/testinfra"
)

func TestMain(m *testing.M) { os.Exit(testinfra.Main(m)) }

// toy is the smallest service a saga consumer can be built for: on payment.succeeded it writes a
// row and announces order.confirmed. The row is not idempotent on its own (no key), so only the
// inbox keeps a duplicate from writing a second one: the suite run against it checks the kit, not
// the toy's care.
var toy = postgres.MigrationSet{Name: "toy", FS: fstest.MapFS{
	"001_paid.sql": {Data: []byte(`CREATE TABLE paid (order_id uuid NOT NULL, amount_cents bigint NOT NULL);`)},
}}

func recordPayment(pool *pgxpool.Pool) sagakit.Handler {
	return func(ctx context.Context, env events.Envelope) error {
		p, err := events.DecodePayload[events.PaymentSucceededPayload](env)
		if err != nil {
			return err
		}
		return postgres.Atomic(ctx, pool, func(ctx context.Context, tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO paid VALUES ($1, $2)`, env.OrderID, p.AmountCents); err != nil {
				return err
			}
			msg, err := events.NewMessage(events.OrderConfirmed, env.OrderID, events.OrderConfirmedPayload{UserID: p.UserID})
			if err != nil {
				return err
			}
			return outbox.Add(ctx, tx, msg)
		})
	}
}

func TestKitConforms(t *testing.T) {
	sagatest.Run(t, func(t *testing.T, tel sagatest.Telemetry) sagatest.Subject {
		pool := pgtest.New(t, toy)
		consumer, err := sagakit.NewConsumer(sagakit.Options{
			Name: "toy", Inbox: inbox.New(pool),
			Routes:         sagakit.Routes{events.PaymentSucceeded: recordPayment(pool)},
			TracerProvider: tel.TracerProvider, MeterProvider: tel.MeterProvider, Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			t.Fatal(err)
		}
		return sagatest.Subject{
			Consumer: consumer, DB: pool,
			Event: func(t *testing.T) events.Envelope {
				return sagatest.NewEvent(t, events.PaymentSucceeded, uuid.New(),
					events.PaymentSucceededPayload{UserID: uuid.New(), AmountCents: 500})
			},
			Effects: func(t *testing.T, ev events.Envelope) int {
				return pgtest.Count(t, pool, `SELECT count(*) FROM paid WHERE order_id = $1`, ev.OrderID)
			},
		}
	})
}

func TestTopicsComeFromTheRoutes(t *testing.T) {
	noop := func(context.Context, events.Envelope) error { return nil }
	opts := sagakit.Options{
		Name: "x", Inbox: inbox.New(nil),
		Routes:         sagakit.Routes{events.PaymentFailed: noop, events.OrderCreated: noop, events.PaymentRefunded: noop},
		TracerProvider: tracenoop.NewTracerProvider(), MeterProvider: metricnoop.NewMeterProvider(),
		Logger: slog.New(slog.DiscardHandler),
	}
	consumer, err := sagakit.NewConsumer(opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := consumer.Topics(); !slices.Equal(got, []string{events.TopicOrders, events.TopicPayments}) {
		t.Errorf("Topics() = %v, want [orders payments]", got)
	}
	opts.Routes = sagakit.Routes{"order.teleported": noop}
	if _, err := sagakit.NewConsumer(opts); err == nil {
		t.Error("NewConsumer accepted a route for an event type with no topic")
	}
}
