package saga_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/postgres/pgtest"
	"github.com/tracecart/tracecart/shared/sagakit/sagatest"
	"github.com/tracecart/tracecart/user-service/internal/adapters/postgres/postgrestest"
)

// TestConformance runs the saga consumer kit's conformance suite against user-service's real
// consumer on a real database: whatever a delivery does twice, malformed or unknown, the payment
// step must take an order's money once.
func TestConformance(t *testing.T) {
	const (
		startCents = 10_000
		totalCents = 1_000
	)
	sagatest.Run(t, func(t *testing.T, tel sagatest.Telemetry) sagatest.Subject {
		pool := postgrestest.Open(t)
		f := &fixture{pool: pool}
		f.store, f.consumer = newConsumer(t, pool, tel.TracerProvider, tel.MeterProvider, nil)
		payers := map[uuid.UUID]uuid.UUID{} // order ID → the user its event asks to pay
		return sagatest.Subject{
			Consumer: f.consumer,
			DB:       pool,
			// An inventory.reserved for a user who can pay: it emits payment.succeeded.
			Event: func(t *testing.T) events.Envelope {
				orderID, userID := uuid.New(), f.user(t, startCents)
				payers[orderID] = userID
				return sagatest.NewEvent(t, events.InventoryReserved, orderID,
					events.InventoryReservedPayload{UserID: userID, TotalCents: totalCents})
			},
			// Read from the balance, not from the payment or ledger rows (which the schema
			// allows once per order): a double charge shows as 2.
			Effects: func(t *testing.T, ev events.Envelope) int {
				balance := pgtest.Count(t, pool, `SELECT balance_cents FROM users WHERE id = $1`, payers[ev.OrderID])
				return (startCents - balance) / totalCents
			},
		}
	})
}
