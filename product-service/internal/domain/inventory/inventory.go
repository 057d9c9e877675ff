// Package inventory holds the rules of product-service's step in the order saga: how an order's
// lines are reserved (all of them or none), and how a reservation moves on as the saga's events
// arrive: confirmed into a sale, released when payment fails, restocked when a sale is
// cancelled, and remembered as a tombstone when a cancellation overtakes its order.
//
// It is pure: the use cases (package app) have what these functions need locked and loaded,
// ask them what to do, and save the answer in the same transaction that records the event as
// processed.
//
// Stock bookkeeping follows one invariant: a product's stock is what is still available, and its
// sold count what left for good, so once every order is settled the stock it started with equals
// stock + sold.
package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/shared/events"
)

// MaxLineQuantity bounds one line's quantity. It is the catalogue's stock limit: no product can
// ever have more available, so a larger line can only be a broken event.
const MaxLineQuantity = 1_000_000

// ErrInvalidLines means an order's lines cannot be reserved as they stand, whatever the stock:
// there are none, or one has no product or a quantity out of range. Such an order.created is a
// malformed event, not an order to reject.
var ErrInvalidLines = errors.New("invalid order lines")

// Line is a quantity of one product that an order wants.
type Line struct {
	ProductID uuid.UUID
	Quantity  int64
}

// MergeLines validates lines and sums those for the same product, so that an order asking for
// two mugs on one line and three on another reserves five, and is checked against the stock as
// five. The result keeps the order in which products first appear, which decides which product
// a rejection names.
func MergeLines(lines []Line) ([]Line, error) {
	if len(lines) == 0 {
		return nil, fmt.Errorf("%w: no lines", ErrInvalidLines)
	}
	merged := make([]Line, 0, len(lines))
	index := make(map[uuid.UUID]int, len(lines))
	for i, l := range lines {
		switch {
		case l.ProductID == uuid.Nil:
			return nil, fmt.Errorf("%w: line %d has no product_id", ErrInvalidLines, i+1)
		case l.Quantity < 1 || l.Quantity > MaxLineQuantity:
			return nil, fmt.Errorf("%w: line %d has quantity %d, want 1 to %d", ErrInvalidLines, i+1, l.Quantity, MaxLineQuantity)
		}
		if j, seen := index[l.ProductID]; seen {
			merged[j].Quantity += l.Quantity
			continue
		}
		index[l.ProductID] = len(merged)
		merged = append(merged, l)
	}
	return merged, nil
}

// ProductIDs returns the distinct products of lines in ascending order: the order in which a
// transaction must lock product rows, so that two transactions wanting the same products always
// queue for them instead of deadlocking.
func ProductIDs(lines []Line) []uuid.UUID {
	ids := make([]uuid.UUID, 0, len(lines))
	for _, l := range lines {
		ids = append(ids, l.ProductID)
	}
	slices.SortFunc(ids, compareIDs)
	return slices.Compact(ids)
}

// compareIDs orders UUIDs byte by byte, which is also how Postgres orders its uuid type, so
// "ORDER BY id" and this order agree.
func compareIDs(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) }

// Reasons for rejecting an order, as inventory.rejected carries them.
const (
	ReasonOutOfStock     = "out_of_stock"
	ReasonUnknownProduct = "unknown_product"
)

// Rejection says why an order's lines could not all be reserved, naming the first line, in the
// order's own order, that failed.
type Rejection struct {
	Reason    string
	ProductID uuid.UUID
}

// CheckStock applies the all-or-none rule to merged lines (see MergeLines): it returns nil when
// every line can be taken from available, which holds the available stock of every product that
// exists, and otherwise the first line's reason for failing. The caller must hold locks on the
// products from the moment it read available until it has taken the stock.
func CheckStock(lines []Line, available map[uuid.UUID]int64) *Rejection {
	for _, l := range lines {
		stock, exists := available[l.ProductID]
		switch {
		case !exists:
			return &Rejection{Reason: ReasonUnknownProduct, ProductID: l.ProductID}
		case stock < l.Quantity:
			return &Rejection{Reason: ReasonOutOfStock, ProductID: l.ProductID}
		}
	}
	return nil
}

// StockChange is what an effect does to one product's counts.
type StockChange struct {
	ProductID uuid.UUID
	// Stock and Sold are added to the product's available stock and sold count.
	Stock, Sold int64
}

// Changes returns what effect e does to the products of lines, in ProductIDs order (the order to
// lock and update them in). Effects that touch no stock return nil.
func (e Effect) Changes(lines []Line) []StockChange {
	var stock, sold int64 // the sign of each count's change per unit
	switch e {
	case EffectReserve:
		stock = -1 // taken off the shelf, but not sold yet
	case EffectSell:
		sold = +1 // the stock was taken at reservation
	case EffectRelease:
		stock = +1
	case EffectRestock:
		stock, sold = +1, -1
	default:
		return nil
	}
	changes := make([]StockChange, 0, len(lines))
	for _, l := range lines {
		changes = append(changes, StockChange{ProductID: l.ProductID, Stock: stock * l.Quantity, Sold: sold * l.Quantity})
	}
	slices.SortFunc(changes, func(a, b StockChange) int { return compareIDs(a.ProductID, b.ProductID) })
	return changes
}

// Status is where a reservation stands. StatusNone (no reservation at all) is not stored.
type Status string

// Reservation statuses. RESERVED and SOLD hold stock; the others are final.
const (
	StatusNone      Status = ""
	StatusReserved  Status = "RESERVED"  // the lines are taken from stock, waiting for payment
	StatusSold      Status = "SOLD"      // the order was confirmed
	StatusReleased  Status = "RELEASED"  // a reservation given back: payment failed, or cancelled before confirmation
	StatusRestocked Status = "RESTOCKED" // a sale given back: the confirmed order was cancelled
	StatusRejected  Status = "REJECTED"  // the lines could not all be reserved; nothing was taken
	StatusCancelled Status = "CANCELLED" // tombstone: cancelled before order.created arrived
)

// Effect is what the saga must do to the database for an event.
type Effect int

// Effects of the saga's events on a reservation and the stock.
const (
	// EffectNone: nothing changes (the event is still recorded as processed).
	EffectNone Effect = iota
	// EffectReserve: reserve every line or none (CheckStock), leaving RESERVED or REJECTED.
	EffectReserve
	// EffectSell: the reserved quantities become sold.
	EffectSell
	// EffectRelease: the reserved quantities go back to the available stock.
	EffectRelease
	// EffectRestock: the sold quantities go back to the available stock.
	EffectRestock
	// EffectTombstone: record the order as cancelled, with nothing reserved.
	EffectTombstone
)

// String names the effect in test names and logs.
func (e Effect) String() string {
	switch e {
	case EffectNone:
		return "none"
	case EffectReserve:
		return "reserve"
	case EffectSell:
		return "sell"
	case EffectRelease:
		return "release"
	case EffectRestock:
		return "restock"
	case EffectTombstone:
		return "tombstone"
	}
	return fmt.Sprintf("Effect(%d)", int(e))
}

// Reasons for giving stock back, as inventory.released carries them.
const (
	ReleasePaymentFailed  = "payment_failed"
	ReleaseOrderCancelled = "order_cancelled"
)

// Transition is the saga's answer to an event: the effect to apply, the status the reservation
// moves to, and, when stock is given back, the reason to announce in inventory.released.
type Transition struct {
	Effect Effect
	// To is the new status. For EffectReserve it is StatusReserved, which becomes StatusRejected
	// if CheckStock refuses the lines.
	To Status
	// ReleaseReason is set when the transition publishes inventory.released.
	ReleaseReason string
}

// Next returns what the event eventType (one of the events package's types) does to an order
// whose reservation is in status current (StatusNone if there is none). Events that do not apply
// in the current status, including every redelivery that got past the inbox, do nothing:
//
//	current \ event  order.created  order.confirmed  payment.failed    order.cancelled
//	none             reserve        -                -                 tombstone → CANCELLED
//	RESERVED         -              sell → SOLD      release → RELEASED release → RELEASED
//	SOLD             -              -                -                 restock → RESTOCKED
//	final statuses   -              -                -                 -
func Next(current Status, eventType string) Transition {
	switch {
	case eventType == events.OrderCreated && current == StatusNone:
		return Transition{Effect: EffectReserve, To: StatusReserved}
	case eventType == events.OrderConfirmed && current == StatusReserved:
		return Transition{Effect: EffectSell, To: StatusSold}
	case eventType == events.PaymentFailed && current == StatusReserved:
		return Transition{Effect: EffectRelease, To: StatusReleased, ReleaseReason: ReleasePaymentFailed}
	case eventType == events.OrderCancelled && current == StatusReserved:
		return Transition{Effect: EffectRelease, To: StatusReleased, ReleaseReason: ReleaseOrderCancelled}
	case eventType == events.OrderCancelled && current == StatusSold:
		return Transition{Effect: EffectRestock, To: StatusRestocked, ReleaseReason: ReleaseOrderCancelled}
	case eventType == events.OrderCancelled && current == StatusNone:
		return Transition{Effect: EffectTombstone, To: StatusCancelled}
	}
	return Transition{Effect: EffectNone, To: current}
}

// OrderStatus is order-service's status of an order, as its internal status route reports it:
// the source of truth the reconciler consults when the saga's events about a reservation never
// arrived.
type OrderStatus string

// The order statuses order-service reports.
const (
	OrderPending   OrderStatus = "PENDING"
	OrderConfirmed OrderStatus = "CONFIRMED"
	OrderRejected  OrderStatus = "REJECTED"
	OrderCancelled OrderStatus = "CANCELLED"
)

// Heal returns what to do with a reservation in status current that has waited too long for
// the saga's next event, given the order's status in order-service. It answers with the
// transition the lost event would have made, through Next, so a healed reservation ends exactly
// as if the event had arrived:
//
//	order \ reservation  RESERVED                    anything else
//	CONFIRMED            as order.confirmed: sell    -
//	CANCELLED, REJECTED  as order.cancelled: release -
//	PENDING, unknown     -                           -
//
// A CANCELLED order whose reservation is still RESERVED was cancelled by the saga timeout or
// by a failed payment, or confirmed and then cancelled with both events lost; in every case the
// stock goes back and nothing is sold. A REJECTED order never had stock reserved, so a RESERVED
// reservation for it can only be a bug; releasing it is the one safe answer. A PENDING order is
// order-service's business: its saga timeout will end it, and the next look will settle it.
// Any status other than RESERVED means an event has since arrived and settled the reservation.
func Heal(current Status, order OrderStatus) Transition {
	if current != StatusReserved {
		return Transition{Effect: EffectNone, To: current}
	}
	switch order {
	case OrderConfirmed:
		return Next(current, events.OrderConfirmed)
	case OrderCancelled, OrderRejected:
		return Next(current, events.OrderCancelled)
	}
	return Transition{Effect: EffectNone, To: current}
}
