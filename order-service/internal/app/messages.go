// Package orderevents builds the outbox messages order-service publishes: order.created,
// order.confirmed and order.cancelled, one function each. The HTTP side (placing and
// cancelling orders) and the saga side (confirmations and timeouts) both write these events, so
// their payloads are defined once, here, from the contract in shared/events.
package orderevents

import (
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/order-service/internal/domain/order"
	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/outbox"
)

// Created announces a new PENDING order; product-service reserves its lines.
func Created(o order.Order) (outbox.Message, error) {
	lines := make([]events.Line, 0, len(o.Lines))
	for _, l := range o.Lines {
		lines = append(lines, events.Line{ProductID: l.ProductID, Quantity: l.Quantity, UnitPriceCents: l.UnitPriceCents})
	}
	return message(events.OrderCreated, o.ID, events.OrderCreatedPayload{
		UserID: o.UserID, Lines: lines, TotalCents: o.TotalCents,
	})
}

// Confirmed announces that the saga of o succeeded; product-service turns the reservation
// into a sale.
func Confirmed(o order.Order) (outbox.Message, error) {
	return message(events.OrderConfirmed, o.ID, events.OrderConfirmedPayload{UserID: o.UserID})
}

// Cancelled announces that o ended CANCELLED by its owner or by the saga timeout (o.Reason
// says which); the other services compensate.
func Cancelled(o order.Order) (outbox.Message, error) {
	return message(events.OrderCancelled, o.ID, events.OrderCancelledPayload{UserID: o.UserID, Reason: o.Reason})
}

// message wraps payload in a new envelope and makes it an outbox message keyed by the order,
// so that all of one order's events stay in order on their topic.
func message(eventType string, orderID uuid.UUID, payload any) (outbox.Message, error) {
	env, err := events.New(eventType, orderID, payload)
	if err != nil {
		return outbox.Message{}, err
	}
	topic, err := events.TopicOf(eventType)
	if err != nil {
		return outbox.Message{}, err
	}
	value, err := json.Marshal(env)
	if err != nil {
		return outbox.Message{}, fmt.Errorf("encode %s envelope: %w", eventType, err)
	}
	return outbox.Message{ID: env.ID, Topic: topic, Key: orderID.String(), Type: env.Type, Payload: value}, nil
}
