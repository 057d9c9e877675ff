// Package order is order-service's domain: what an order is, the rules a new order must follow,
// and the state machine its saga drives. It is pure Go, with no HTTP, SQL or Kafka, so every
// rule can be read in one place and tested with a table.
package order

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"
)

// Limits of one order. They keep a single request small enough to price quickly (one call to
// product-service per line) and to reserve in one step.
const (
	MaxLines    = 20
	MaxQuantity = 100
)

// Errors of the domain. The HTTP edge maps each to a status; the saga ignores ErrSagaFinished.
var (
	// ErrInvalidOrder is wrapped by every error about an order request that breaks a rule, with
	// a detail saying which rule.
	ErrInvalidOrder = errors.New("invalid order")
	// ErrUnknownProduct means a line names a product the catalogue does not have.
	ErrUnknownProduct = errors.New("unknown product")
	// ErrCatalogUnavailable means prices cannot be fetched right now; the same request may
	// succeed later.
	ErrCatalogUnavailable = errors.New("the product catalogue is unavailable")
	// ErrNotFound means there is no such order, or none that the caller may see.
	ErrNotFound = errors.New("order not found")
	// ErrIdempotencyKeyReused means an idempotency key was sent again with a different request.
	ErrIdempotencyKeyReused = errors.New("the idempotency key was already used for a different request")
)

// Reasons recorded on orders that end without being confirmed by the saga, besides those the
// other services give in their events (such as "out_of_stock" or "insufficient_funds").
const (
	ReasonCustomer = "customer" // the owner cancelled a confirmed order
	ReasonTimeout  = "timeout"  // the saga did not finish in time
)

// Item is one requested line before pricing: a product and how many of it.
type Item struct {
	ProductID uuid.UUID
	Quantity  int
}

// Line is one line of an order, priced when the order was placed.
type Line struct {
	ProductID      uuid.UUID
	Quantity       int
	UnitPriceCents int64
}

// Order is a customer's order and where its saga stands.
type Order struct {
	ID     uuid.UUID
	UserID uuid.UUID
	Status Status
	// Reason says why an order ended REJECTED or CANCELLED; empty otherwise.
	Reason     string
	Lines      []Line
	TotalCents int64
	// Paid says that payment.succeeded arrived for the order, whatever its saga made of it (it
	// may have come after the timeout cancelled the order): a cancelled order that was paid is
	// owed a refund.
	Paid      bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// NewItems validates the requested lines and merges lines for the same product, keeping the
// order in which products first appear. The rules: 1 to MaxLines lines, each naming a product
// with a quantity from 1 to MaxQuantity, and no product ordered more than MaxQuantity times in
// total once duplicates are summed.
func NewItems(requested []Item) ([]Item, error) {
	if len(requested) == 0 {
		return nil, fmt.Errorf("%w: an order needs at least one line", ErrInvalidOrder)
	}
	if len(requested) > MaxLines {
		return nil, fmt.Errorf("%w: an order has at most %d lines, got %d", ErrInvalidOrder, MaxLines, len(requested))
	}
	items := make([]Item, 0, len(requested))
	index := make(map[uuid.UUID]int, len(requested))
	for i, r := range requested {
		switch {
		case r.ProductID == uuid.Nil:
			return nil, fmt.Errorf("%w: line %d: product_id is required", ErrInvalidOrder, i+1)
		case r.Quantity < 1 || r.Quantity > MaxQuantity:
			return nil, fmt.Errorf("%w: line %d: quantity must be between 1 and %d, got %d",
				ErrInvalidOrder, i+1, MaxQuantity, r.Quantity)
		}
		if j, seen := index[r.ProductID]; seen {
			items[j].Quantity += r.Quantity
			if items[j].Quantity > MaxQuantity {
				return nil, fmt.Errorf("%w: product %s: quantity must be at most %d in total, got %d",
					ErrInvalidOrder, r.ProductID, MaxQuantity, items[j].Quantity)
			}
			continue
		}
		index[r.ProductID] = len(items)
		items = append(items, r)
	}
	return items, nil
}

// New returns a PENDING order of items, priced with prices (cents per unit, by product). Every
// item must have a price: a missing one is ErrUnknownProduct. Timestamps are left for the store
// to set, so that every instance of the service uses the database's clock.
func New(id, userID uuid.UUID, items []Item, prices map[uuid.UUID]int64) (Order, error) {
	if len(items) == 0 {
		return Order{}, fmt.Errorf("%w: an order needs at least one line", ErrInvalidOrder)
	}
	o := Order{ID: id, UserID: userID, Status: Pending, Lines: make([]Line, 0, len(items))}
	for _, it := range items {
		price, ok := prices[it.ProductID]
		if !ok {
			return Order{}, fmt.Errorf("product %s: %w", it.ProductID, ErrUnknownProduct)
		}
		if price < 0 {
			return Order{}, fmt.Errorf("product %s has a negative price (%d cents)", it.ProductID, price)
		}
		// Overflow needs absurd prices, but money arithmetic that can overflow must say so.
		if price > math.MaxInt64/int64(it.Quantity) || o.TotalCents > math.MaxInt64-price*int64(it.Quantity) {
			return Order{}, fmt.Errorf("%w: the order total is too large", ErrInvalidOrder)
		}
		o.Lines = append(o.Lines, Line{ProductID: it.ProductID, Quantity: it.Quantity, UnitPriceCents: price})
		o.TotalCents += price * int64(it.Quantity)
	}
	return o, nil
}

// ProductIDs returns the products of items, in order; after NewItems, each appears once.
func ProductIDs(items []Item) []uuid.UUID {
	ids := make([]uuid.UUID, 0, len(items))
	for _, it := range items {
		ids = append(ids, it.ProductID)
	}
	return ids
}
