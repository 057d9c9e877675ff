package saga_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/order-service/internal/adapters/postgres"
	"github.com/tracecart/tracecart/order-service/internal/adapters/postgres/postgrestest"
	"github.com/tracecart/tracecart/order-service/internal/adapters/saga"
	"github.com/tracecart/tracecart/order-service/internal/app"
	"github.com/tracecart/tracecart/order-service/internal/domain/order"
	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/inbox"
	"github.com/tracecart/tracecart/shared/postgres/pgtest"
	"github.com/tracecart/tracecart/shared/sagakit"
	"github.com/tracecart/tracecart/shared/sagakit/sagatest"
	"github.com/tracecart/tracecart/shared/testinfra"
)

func TestMain(m *testing.M) { os.Exit(testinfra.Main(m)) }

var (
	alice = uuid.MustParse("00000000-0000-4000-8000-00000000a11c")
	mug   = uuid.MustParse("00000000-0000-4000-8000-000000000101")
)

// TestConsumerConformance runs the saga kit's conformance suite against order-service's
// consumer, wired as run wires it, on a real database. Its event is a payment.succeeded for a
// PENDING order, which confirms the order and emits order.confirmed.
func TestConsumerConformance(t *testing.T) {
	sagatest.Run(t, func(t *testing.T, tel sagatest.Telemetry) sagatest.Subject {
		pool := postgrestest.New(t)
		store := postgres.NewStore(pool)
		logger := slog.New(slog.DiscardHandler)
		orders, err := app.New(app.Options{
			Orders: store, Catalog: noCatalog{},
			Sweep:          app.SweepOptions{Timeout: time.Minute, Interval: time.Minute},
			Reconcile:      app.ReconcileOptions{Grace: time.Minute, MaxBackoff: time.Minute, Interval: time.Minute},
			TracerProvider: tel.TracerProvider, MeterProvider: tel.MeterProvider, Logger: logger,
		})
		if err != nil {
			t.Fatal(err)
		}
		consumer, err := sagakit.NewConsumer(sagakit.Options{
			Name: "order-service", Inbox: inbox.New(pool), Routes: saga.Routes(orders),
			TracerProvider: tel.TracerProvider, MeterProvider: tel.MeterProvider, Logger: logger,
		})
		if err != nil {
			t.Fatal(err)
		}
		return sagatest.Subject{
			Consumer: consumer,
			DB:       pool,
			Event: func(t *testing.T) events.Envelope {
				o, err := order.New(uuid.New(), alice, []order.Item{{ProductID: mug, Quantity: 2}}, map[uuid.UUID]int64{mug: 1200})
				if err != nil {
					t.Fatal(err)
				}
				// Stored without its order.created: the suite counts the events this event emits.
				if _, err := store.Create(t.Context(), o, "", nil); err != nil {
					t.Fatal(err)
				}
				return sagatest.NewEvent(t, events.PaymentSucceeded, o.ID,
					events.PaymentSucceededPayload{UserID: alice, AmountCents: o.TotalCents})
			},
			Effects: func(t *testing.T, ev events.Envelope) int {
				return pgtest.Count(t, pool, `SELECT count(*) FROM orders
					WHERE id = $1 AND status = 'CONFIRMED' AND paid_at IS NOT NULL`, ev.OrderID)
			},
		}
	})
}

// noCatalog is a catalogue the saga never asks: only placing an order prices it.
type noCatalog struct{}

func (noCatalog) Prices(context.Context, []uuid.UUID) (map[uuid.UUID]int64, error) {
	panic("the saga consumer priced a product")
}
