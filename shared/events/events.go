// Package events is the contract of tracecart's order saga: the envelope every event travels
// in, the topics, the event types and their payloads. It holds data shapes only; what a service
// does with an event lives in that service. docs/events.md is the human-readable catalogue of
// the same contract and must change with this file.
//
// Every event is JSON in an Envelope, keyed by order ID (so one order's events on a topic stay
// in order), and published through the outbox, which also puts the event ID and type in the
// Kafka headers "event-id" and "event-type".
package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Topics of the saga. Each carries the events of one kind of fact.
const (
	TopicOrders    = "orders"
	TopicInventory = "inventory"
	TopicPayments  = "payments"
	// TopicUsers carries facts about accounts. It is not part of the order saga.
	TopicUsers = "users"
)

// Event types. The part before the dot names the topic's subject.
const (
	OrderCreated   = "order.created"   // order-service accepted an order; reserve its stock
	OrderConfirmed = "order.confirmed" // the saga succeeded; the reservation becomes a sale
	OrderCancelled = "order.cancelled" // the order ends cancelled: by its owner after confirmation, or by the saga timeout

	InventoryReserved = "inventory.reserved" // every line is reserved; take payment
	InventoryRejected = "inventory.rejected" // at least one line could not be reserved; nothing was
	InventoryReleased = "inventory.released" // a reservation was given back (compensation)

	PaymentSucceeded = "payment.succeeded" // the wallet was debited
	PaymentFailed    = "payment.failed"    // the wallet could not pay; release the stock
	PaymentRefunded  = "payment.refunded"  // a debit was given back (compensation)

	UserRegistered = "user.registered" // an account was created; not a saga event (docs/events.md)
)

// Topics are all the topics of the contract, which every service creates at start-up so that
// none depends on another having started first.
var Topics = []string{TopicOrders, TopicInventory, TopicPayments, TopicUsers}

// TopicOf returns the topic an event type is published on.
func TopicOf(eventType string) (string, error) {
	switch eventType {
	case OrderCreated, OrderConfirmed, OrderCancelled:
		return TopicOrders, nil
	case InventoryReserved, InventoryRejected, InventoryReleased:
		return TopicInventory, nil
	case PaymentSucceeded, PaymentFailed, PaymentRefunded:
		return TopicPayments, nil
	case UserRegistered:
		return TopicUsers, nil
	}
	return "", fmt.Errorf("unknown event type %q", eventType)
}

// Version is the envelope and payload schema version this code writes. A consumer rejects
// (dead-letters) a version it does not know rather than guess at its meaning.
const Version = 1

// Envelope wraps every event.
type Envelope struct {
	ID      uuid.UUID       `json:"id"`
	Type    string          `json:"type"`
	Version int             `json:"version"`
	Time    time.Time       `json:"time"`
	OrderID uuid.UUID       `json:"order_id,omitzero"` // absent only from events about users
	Payload json.RawMessage `json:"payload"`
}

// ErrMalformed is wrapped by every error Decode returns: the bytes are not an event this code
// understands, and retrying will not change that. Consumers dead-letter such messages.
var ErrMalformed = errors.New("malformed event")

// New builds an envelope with a fresh ID and the current time around payload.
func New(eventType string, orderID uuid.UUID, payload any) (Envelope, error) {
	raw, err := json.Marshal(payload)
	if err != nil {
		return Envelope{}, fmt.Errorf("encode %s payload: %w", eventType, err)
	}
	return Envelope{
		ID: uuid.New(), Type: eventType, Version: Version,
		Time: time.Now().UTC(), OrderID: orderID, Payload: raw,
	}, nil
}

// Decode parses an envelope and checks the fields every consumer relies on. It accepts event
// types it does not know; see the comment at its end.
func Decode(data []byte) (Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(data, &e); err != nil {
		return Envelope{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	switch {
	case e.ID == uuid.Nil:
		return Envelope{}, fmt.Errorf("%w: no id", ErrMalformed)
	case e.OrderID == uuid.Nil && isSaga(e.Type):
		return Envelope{}, fmt.Errorf("%w: no order_id", ErrMalformed)
	case e.Version != Version:
		return Envelope{}, fmt.Errorf("%w: version %d, this code reads %d", ErrMalformed, e.Version, Version)
	case e.Type == "":
		return Envelope{}, fmt.Errorf("%w: no type", ErrMalformed)
	case len(e.Payload) == 0:
		return Envelope{}, fmt.Errorf("%w: no payload", ErrMalformed)
	}
	// A type this code does not know is not malformed: a producer may add event types, and a
	// consumer ignores the ones it has no part in. An unknown version is different: it may change
	// the meaning of a type the consumer does handle.
	return e, nil
}

// isSaga reports whether eventType is one of the saga's events, which are all about an order.
func isSaga(eventType string) bool {
	topic, err := TopicOf(eventType)
	return err == nil && topic != TopicUsers
}

// DecodePayload parses an envelope's payload. Unknown fields are ignored, so a producer may add
// a field without a version bump; a field of the wrong type is malformed.
func DecodePayload[T any](e Envelope) (T, error) {
	var p T
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return p, fmt.Errorf("%w: %s payload: %v", ErrMalformed, e.Type, err)
	}
	return p, nil
}

// Line is one product and quantity of an order, priced when the order was placed.
type Line struct {
	ProductID      uuid.UUID `json:"product_id"`
	Quantity       int       `json:"quantity"`
	UnitPriceCents int64     `json:"unit_price_cents"`
}

// OrderCreatedPayload is the payload of order.created.
type OrderCreatedPayload struct {
	UserID     uuid.UUID `json:"user_id"`
	Lines      []Line    `json:"lines"`
	TotalCents int64     `json:"total_cents"`
}

// OrderConfirmedPayload is the payload of order.confirmed.
type OrderConfirmedPayload struct {
	UserID uuid.UUID `json:"user_id"`
}

// OrderCancelledPayload is the payload of order.cancelled. Each service compensates from its
// own records of the order (a reservation, a sale, a payment, or nothing yet), so the payload
// needs no more than who and why.
type OrderCancelledPayload struct {
	UserID uuid.UUID `json:"user_id"`
	Reason string    `json:"reason"` // "customer" or "timeout"
}

// InventoryReservedPayload is the payload of inventory.reserved. It carries what the payment
// step needs, so user-service never has to ask order-service.
type InventoryReservedPayload struct {
	UserID     uuid.UUID `json:"user_id"`
	TotalCents int64     `json:"total_cents"`
}

// InventoryRejectedPayload is the payload of inventory.rejected.
type InventoryRejectedPayload struct {
	Reason    string    `json:"reason"`
	ProductID uuid.UUID `json:"product_id,omitempty"`
}

// InventoryReleasedPayload is the payload of inventory.released.
type InventoryReleasedPayload struct {
	Reason string `json:"reason"`
}

// PaymentSucceededPayload is the payload of payment.succeeded.
type PaymentSucceededPayload struct {
	UserID      uuid.UUID `json:"user_id"`
	AmountCents int64     `json:"amount_cents"`
}

// PaymentFailedPayload is the payload of payment.failed.
type PaymentFailedPayload struct {
	UserID uuid.UUID `json:"user_id"`
	Reason string    `json:"reason"`
}

// PaymentRefundedPayload is the payload of payment.refunded.
type PaymentRefundedPayload struct {
	UserID      uuid.UUID `json:"user_id"`
	AmountCents int64     `json:"amount_cents"`
}

// UserRegisteredPayload is the payload of user.registered. It carries no personal data beyond the
// account's ID and role: a consumer that needs more asks user-service, which keeps one copy.
type UserRegisteredPayload struct {
	UserID uuid.UUID `json:"user_id"`
	Role   string    `json:"role"`
}
