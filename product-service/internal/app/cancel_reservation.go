package app

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/shared/events"
)

// CancelReservation gives back what a cancelled order holds (order.cancelled): a reservation is
// released, a sale restocked, each announced with inventory.released. An order with no
// reservation yet (the cancellation overtook order.created) gets a tombstone, so that its late
// order.created reserves nothing.
func (a *App) CancelReservation(ctx context.Context, orderID uuid.UUID) error {
	if err := a.settleOn(ctx, orderID, events.OrderCancelled); err != nil {
		return fmt.Errorf("cancel reservation of order %s: %w", orderID, err)
	}
	return nil
}
