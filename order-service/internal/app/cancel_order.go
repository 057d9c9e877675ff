package app

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/order-service/internal/domain/order"
	"github.com/tracecart/tracecart/shared/events"
)

// CancelOrder cancels userID's order id on its owner's request, which only a CONFIRMED order
// allows (see order.Status.Next), and announces it with order.cancelled, so that the other
// services give back the stock and the money. Someone else's order is an error wrapping
// order.ErrNotFound, exactly like a missing one. It returns the order as it now is, with its
// lines.
func (a *App) CancelOrder(ctx context.Context, userID, id uuid.UUID) (order.Order, error) {
	_, err := a.orders.Update(ctx, id, func(o *order.Order) ([]events.Message, error) {
		if o.UserID != userID {
			return nil, fmt.Errorf("order %s: %w", id, order.ErrNotFound)
		}
		next, err := o.Status.Next(order.CustomerCancelled)
		if err != nil {
			return nil, err
		}
		o.Status, o.Reason = next, order.ReasonCustomer
		cancelled, err := orderCancelled(*o)
		if err != nil {
			return nil, err
		}
		return []events.Message{cancelled}, nil
	})
	if err != nil {
		return order.Order{}, err
	}
	// A cancelled order is final, so reading it back (for its lines) sees what was saved.
	return a.orders.Get(ctx, userID, id)
}
