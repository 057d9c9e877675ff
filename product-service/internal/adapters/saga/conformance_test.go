package saga_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/product-service/internal/domain/catalog"
	"github.com/tracecart/tracecart/product-service/migrations"
	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/postgres/pgtest"
	"github.com/tracecart/tracecart/shared/sagakit/sagatest"
)

// TestConformance runs the saga kit's conformance suite against product-service's consumer, wired
// as run wires it to a real database. Its event is an order.created for a product in stock,
// which emits inventory.reserved; its effect is the stock taken, so a reservation made twice
// would show as 2.
func TestConformance(t *testing.T) {
	sagatest.Run(t, func(t *testing.T, tel sagatest.Telemetry) sagatest.Subject {
		pool := pgtest.New(t, migrations.Set)
		_, consumer := wire(t, pool, tel.TracerProvider, tel.MeterProvider)
		const initialStock = 100 // the socks' stock in the demo catalogue
		return sagatest.Subject{
			Consumer: consumer,
			DB:       pool,
			Event: func(t *testing.T) events.Envelope {
				return sagatest.NewEvent(t, events.OrderCreated, uuid.New(), events.OrderCreatedPayload{
					UserID: uuid.New(), TotalCents: 900,
					Lines: []events.Line{{ProductID: catalog.SpanSocksID, Quantity: 1, UnitPriceCents: 900}},
				})
			},
			// Each Subject has a database of its own and each test one order, so the socks
			// taken from the shelf are that order's effect, once per reservation.
			Effects: func(t *testing.T, _ events.Envelope) int {
				return initialStock - pgtest.Count(t, pool, `SELECT stock FROM products WHERE id = $1`, catalog.SpanSocksID)
			},
		}
	})
}
