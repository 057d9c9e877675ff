package app

import (
	"context"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/order-service/internal/domain/order"
)

// RecordCompensation records that another service reported compensation c for order orderID:
// payment.refunded (user-service gave the money back) or inventory.released (product-service
// gave the stock back). Once both are recorded for a paid, cancelled order, nothing is owed and
// ReconcileCompensations leaves it alone. The first report's time is kept; a report about an
// order this service does not have changes nothing.
func (a *App) RecordCompensation(ctx context.Context, orderID uuid.UUID, c order.Compensation) error {
	return a.orders.RecordCompensation(ctx, orderID, c)
}
