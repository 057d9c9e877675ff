package app

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/product-service/internal/domain/catalog"
	"github.com/tracecart/tracecart/product-service/internal/domain/inventory"
	"github.com/tracecart/tracecart/shared/events"
)

// The ports: what the use cases need from the world, each as small as they need it. The
// postgres adapter implements Products and Reservations, the orderservice adapter implements
// OrderStatuses. None of them shows a transaction: a repository's Update runs its closure in
// one, and joins the transaction of the saga event being handled when there is one (see
// postgres.Atomic in shared).

// Products is the catalogue's store. The catalogue announces nothing, so its Update takes a
// closure without events.
type Products interface {
	// List returns one page of the products matching f, which is valid, and how many match.
	List(ctx context.Context, f catalog.Filter) (catalog.Page, error)
	// Get returns product id, or an error wrapping catalog.ErrNotFound.
	Get(ctx context.Context, id uuid.UUID) (catalog.Product, error)
	// Create stores a new product.
	Create(ctx context.Context, p catalog.Product) error
	// Update loads and locks product id, runs fn on it and saves its details and stock, all in
	// one transaction; nothing is saved if fn fails. A missing product is an error wrapping
	// catalog.ErrNotFound.
	Update(ctx context.Context, id uuid.UUID, fn func(p *catalog.Product) error) error
	// Seed inserts the products that are not stored yet and reports how many it inserted.
	Seed(ctx context.Context, products []catalog.Product) (inserted int, err error)
}

// Reservation is one order's reservation as a use case sees it while Reservations.Update holds
// it locked. The use case changes it to say what happens; the repository saves what changed.
type Reservation struct {
	OrderID uuid.UUID
	// Status is inventory.StatusNone while the order has no reservation; a use case that sets
	// another status creates one.
	Status inventory.Status
	// Lines are what the reservation holds (set once, when it is created).
	Lines []inventory.Line
	// Reason says why a REJECTED reservation was refused.
	Reason string
	// Available is the available stock of the products Update was asked to lock, of those that
	// exist: what a reservation may take.
	Available map[uuid.UUID]int64
	// Changes are the stock changes the use case decided on, applied in order
	// (inventory.Effect.Changes gives them in lock order).
	Changes []inventory.StockChange
}

// Reservations is where reservations are kept, together with the stock counts they move.
type Reservations interface {
	// Update loads and locks order orderID's reservation, then locks the products and reads
	// their available stock (in ascending ID order, the one order every transaction locks
	// products in), runs fn, and saves the reservation, applies its Changes and writes the
	// events fn returns to the outbox, all in one transaction. Nothing is saved if fn fails.
	Update(ctx context.Context, orderID uuid.UUID, products []uuid.UUID,
		fn func(r *Reservation) ([]events.Message, error)) error
	// ClaimStuck returns up to limit reservations RESERVED for longer than age that no
	// reconciler claimed within lease, oldest first, and claims them.
	ClaimStuck(ctx context.Context, age, lease time.Duration, limit int) ([]StuckReservation, error)
	// CountStuck returns how many reservations have been RESERVED for longer than age.
	CountStuck(ctx context.Context, age time.Duration) (int64, error)
}

// StuckReservation is a reservation the reconciler claimed: its order, and the trace context
// stored with it (telemetry.Store), which its healing continues.
type StuckReservation struct {
	OrderID      uuid.UUID
	TraceContext map[string]string
}

// OrderStatuses tells how an order's saga stands; in production it is order-service's internal
// status route (package orderservice).
type OrderStatuses interface {
	Status(ctx context.Context, orderID uuid.UUID) (inventory.OrderStatus, error)
}
