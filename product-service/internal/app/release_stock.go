package app

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/shared/events"
)

// ReleaseStock gives order orderID's reserved stock back because its payment failed
// (payment.failed), and announces it with inventory.released: the saga's compensation. An order
// without a RESERVED reservation is left as it is.
func (a *App) ReleaseStock(ctx context.Context, orderID uuid.UUID) error {
	if err := a.settleOn(ctx, orderID, events.PaymentFailed); err != nil {
		return fmt.Errorf("release stock of order %s: %w", orderID, err)
	}
	return nil
}
