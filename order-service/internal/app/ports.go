package app

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/order-service/internal/domain/order"
	"github.com/tracecart/tracecart/shared/events"
)

// Orders is the order repository the use cases work through; in production it is
// adapters/postgres.Store. It knows no transaction type: a method that changes an order takes a
// closure that decides, and writes the order and the events the closure returns in one
// transaction. Every method joins the unit of work ctx carries (Atomic, or the saga consumer's
// inbox transaction) instead of starting its own.
type Orders interface {
	// Atomic runs fn as one unit of work: whatever the repository does with the context fn
	// receives commits together, or not at all. Batch use cases (the sweep, the reconciliation)
	// lock a batch of orders and change them inside one Atomic.
	Atomic(ctx context.Context, fn func(ctx context.Context) error) error

	// Create stores o, a new PENDING order, with its lines and msgs, and returns it with the
	// database's timestamps. With an idempotency key (key != ""), an order the user already
	// placed with that key is returned instead, and nothing is written, when requestHash
	// matches the one stored with it; an error wrapping order.ErrIdempotencyKeyReused when it
	// does not.
	Create(ctx context.Context, o order.Order, key string, requestHash []byte, msgs ...events.Message) (order.Order, error)
	// FindByIdempotencyKey returns the user's order placed with key and its request's hash, or
	// an error wrapping order.ErrNotFound.
	FindByIdempotencyKey(ctx context.Context, userID uuid.UUID, key string) (order.Order, []byte, error)
	// Get returns userID's order id with its lines; someone else's order is order.ErrNotFound.
	Get(ctx context.Context, userID, id uuid.UUID) (order.Order, error)
	// List returns a page of userID's orders, newest first, and how many there are in all.
	List(ctx context.Context, userID uuid.UUID, limit, offset int) ([]order.Order, int, error)
	// Status returns the status of any order, or an error wrapping order.ErrNotFound.
	Status(ctx context.Context, id uuid.UUID) (order.Status, error)

	// Update loads order id (without its lines) and locks it, runs decide on it, then saves
	// what decide changed (status, reason, paid) and writes the events decide returned to the
	// outbox. It returns the order as saved. A missing order is an error wrapping
	// order.ErrNotFound; an error from decide is returned as it is, and nothing is written.
	Update(ctx context.Context, id uuid.UUID, decide func(o *order.Order) ([]events.Message, error)) (order.Order, error)
	// RecordCompensation records that another service reported compensation c for order id;
	// the first report's time is kept. An order this service does not have is not an error.
	RecordCompensation(ctx context.Context, id uuid.UUID, c order.Compensation) error

	// LockTimedOut locks up to limit orders PENDING for longer than timeout, oldest first,
	// skipping orders another transaction holds. Call it inside Atomic.
	LockTimedOut(ctx context.Context, timeout time.Duration, limit int) ([]Locked, error)
	// LockOwed locks up to limit cancelled, paid orders still owed a refund or a restock whose
	// next announcement is due (see adapters/postgres), announced again fewer than maxAttempts
	// times, oldest first, skipping orders another transaction holds. Call it inside Atomic.
	LockOwed(ctx context.Context, grace time.Duration, maxAttempts, limit int) ([]Locked, error)
	// MarkReannounced writes msgs (order.cancelled again) to the outbox and records that order
	// id was announced again, the next announcement being due after next.
	MarkReannounced(ctx context.Context, id uuid.UUID, next time.Duration, msgs ...events.Message) error

	// PendingStats returns how many orders are PENDING and the age of the oldest.
	PendingStats(ctx context.Context) (count int64, oldest time.Duration, err error)
	// OwedStats returns how many paid, cancelled orders are owed a compensation for longer than
	// grace (stuck), and how many of those have been announced again maxAttempts times (given up).
	OwedStats(ctx context.Context, grace time.Duration, maxAttempts int) (stuck, givenUp int64, err error)
}

// Locked is an order a batch use case has locked, without its lines, with the trace context
// stored when it was placed, which the work on it continues.
type Locked struct {
	Order        order.Order
	TraceContext map[string]string
	// Reannounced is how often order.cancelled has been announced again (LockOwed only).
	Reannounced int
}

// Catalog prices products; in production it is adapters/productservice.Client.
type Catalog interface {
	// Prices returns the unit price in cents of each product, or an error wrapping
	// order.ErrUnknownProduct or order.ErrCatalogUnavailable.
	Prices(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]int64, error)
}

// OrderChanges tells that an order changed; in production it is adapters/postgres.Store, which
// knows of the changes made in this process only (WaitForOrder reads again every so often for
// the others).
type OrderChanges interface {
	// Watch returns a channel that receives a value after order id changes (several changes
	// may show as one), and the function that stops watching.
	Watch(id uuid.UUID) (changed <-chan struct{}, stop func())
}
