package app

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/shared/events"
)

// ConfirmSale turns order orderID's reservation into a sale (order.confirmed): the reserved
// quantities, already off the shelf, count as sold. An order without a RESERVED reservation is
// left as it is.
func (a *App) ConfirmSale(ctx context.Context, orderID uuid.UUID) error {
	if err := a.settleOn(ctx, orderID, events.OrderConfirmed); err != nil {
		return fmt.Errorf("confirm sale of order %s: %w", orderID, err)
	}
	return nil
}
