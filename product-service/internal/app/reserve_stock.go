package app

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/product-service/internal/domain/inventory"
	"github.com/tracecart/tracecart/shared/events"
)

// NewOrder is an order whose stock is to be reserved: what order.created says about it.
type NewOrder struct {
	ID         uuid.UUID
	UserID     uuid.UUID
	TotalCents int64
	// Lines are the order's lines as the customer sent them; the same product may appear on
	// several of them.
	Lines []inventory.Line
}

// outcomeSkipped is the reservations outcome of an order.created that found a reservation.
const outcomeSkipped = "skipped"

// ReserveStock reserves every line of a new order or none (order.created). With the order's
// products locked, it asks inventory.CheckStock, and either takes the stock and announces
// inventory.reserved, or records the refusal and announces inventory.rejected. An order that
// already has a reservation, or a tombstone because its cancellation overtook it, is left as it
// is. Lines that can never be reserved, whatever the stock, are an error wrapping
// inventory.ErrInvalidLines.
func (a *App) ReserveStock(ctx context.Context, order NewOrder) error {
	lines, err := inventory.MergeLines(order.Lines)
	if err != nil {
		return fmt.Errorf("reserve stock for order %s: %w", order.ID, err)
	}
	var outcome string
	err = a.reservations.Update(ctx, order.ID, inventory.ProductIDs(lines), func(r *Reservation) ([]events.Message, error) {
		if t := inventory.Next(r.Status, events.OrderCreated); t.Effect != inventory.EffectReserve {
			outcome = outcomeSkipped
			return nil, nil
		}
		r.Lines = lines
		if rejection := inventory.CheckStock(lines, r.Available); rejection != nil {
			outcome = rejection.Reason
			r.Status, r.Reason = inventory.StatusRejected, rejection.Reason
			msg, err := events.NewMessage(events.InventoryRejected, order.ID, events.InventoryRejectedPayload{
				Reason: rejection.Reason, ProductID: rejection.ProductID,
			})
			return []events.Message{msg}, err
		}
		outcome = "reserved"
		r.Status = inventory.StatusReserved
		r.Changes = inventory.EffectReserve.Changes(lines)
		msg, err := events.NewMessage(events.InventoryReserved, order.ID, events.InventoryReservedPayload{
			UserID: order.UserID, TotalCents: order.TotalCents,
		})
		return []events.Message{msg}, err
	})
	if err != nil {
		return fmt.Errorf("reserve stock for order %s: %w", order.ID, err)
	}
	countAfterCommit(ctx, a.reserved, "outcome", outcome)
	return nil
}
