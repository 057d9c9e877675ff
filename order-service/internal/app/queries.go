package app

import (
	"context"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/order-service/internal/domain/order"
)

// The queries: reading orders changes nothing, so they go straight to the repository.

// GetOrder returns userID's order id. Someone else's order is an error wrapping
// order.ErrNotFound, exactly like a missing one, so that order IDs reveal nothing about other
// customers.
func (a *App) GetOrder(ctx context.Context, userID, id uuid.UUID) (order.Order, error) {
	return a.orders.Get(ctx, userID, id)
}

// ListOrders returns a page of userID's orders, newest first: at most limit of them after
// skipping offset, and how many orders the user has in all.
func (a *App) ListOrders(ctx context.Context, userID uuid.UUID, limit, offset int) ([]order.Order, int, error) {
	return a.orders.List(ctx, userID, limit, offset)
}

// OrderStatus returns the status of order id, whoever owns it, for other services that must
// know how an order's saga ended (product-service's reconciler asks before it settles a
// reservation left behind).
func (a *App) OrderStatus(ctx context.Context, id uuid.UUID) (order.Status, error) {
	return a.orders.Status(ctx, id)
}
