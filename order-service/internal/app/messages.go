package app

import (
	"github.com/tracecart/tracecart/order-service/internal/domain/order"
	"github.com/tracecart/tracecart/shared/events"
)

// The events order-service publishes, one function each, built with events.NewMessage from the
// contract in shared/events. Several use cases announce a cancellation (the customer's, the
// timeout's, the reconciler's repeat), so each payload is defined once, here.

// orderCreated announces a new PENDING order; product-service reserves its lines.
func orderCreated(o order.Order) (events.Message, error) {
	lines := make([]events.Line, 0, len(o.Lines))
	for _, l := range o.Lines {
		lines = append(lines, events.Line{ProductID: l.ProductID, Quantity: l.Quantity, UnitPriceCents: l.UnitPriceCents})
	}
	return events.NewMessage(events.OrderCreated, o.ID, events.OrderCreatedPayload{
		UserID: o.UserID, Lines: lines, TotalCents: o.TotalCents,
	})
}

// orderConfirmed announces that the saga of o succeeded; product-service turns the reservation
// into a sale.
func orderConfirmed(o order.Order) (events.Message, error) {
	return events.NewMessage(events.OrderConfirmed, o.ID, events.OrderConfirmedPayload{UserID: o.UserID})
}

// orderCancelled announces that o ended CANCELLED by its owner or by the saga timeout (o.Reason
// says which); the other services compensate.
func orderCancelled(o order.Order) (events.Message, error) {
	return events.NewMessage(events.OrderCancelled, o.ID, events.OrderCancelledPayload{UserID: o.UserID, Reason: o.Reason})
}
