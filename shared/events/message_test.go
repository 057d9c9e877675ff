package events

import (
	"testing"

	"github.com/google/uuid"
)

func TestNewMessageRoundTrips(t *testing.T) {
	orderID := uuid.New()
	msg, err := NewMessage(PaymentRefunded, orderID, PaymentRefundedPayload{UserID: uuid.New(), AmountCents: 250})
	if err != nil {
		t.Fatal(err)
	}
	if msg.Topic != TopicPayments || msg.Key != orderID.String() || msg.Type != PaymentRefunded {
		t.Fatalf("message = topic %q key %q type %q, want payments, the order ID, payment.refunded", msg.Topic, msg.Key, msg.Type)
	}
	env, err := Decode(msg.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if env.ID != msg.ID || env.OrderID != orderID {
		t.Fatalf("envelope id %s order %s, want %s and %s", env.ID, env.OrderID, msg.ID, orderID)
	}
	p, err := DecodePayload[PaymentRefundedPayload](env)
	if err != nil || p.AmountCents != 250 {
		t.Fatalf("payload = %+v, %v", p, err)
	}
}

func TestNewMessageRefusesUnknownTypes(t *testing.T) {
	if _, err := NewMessage("order.teleported", uuid.New(), struct{}{}); err == nil {
		t.Fatal("NewMessage accepted an event type with no topic")
	}
}

func TestUserMessagesNeedNoOrder(t *testing.T) {
	userID := uuid.New()
	msg, err := NewUserMessage(UserRegistered, userID, UserRegisteredPayload{UserID: userID, Role: "customer"})
	if err != nil {
		t.Fatal(err)
	}
	if msg.Topic != TopicUsers || msg.Key != userID.String() {
		t.Fatalf("topic %q key %q, want users and the user ID", msg.Topic, msg.Key)
	}
	if _, err := Decode(msg.Payload); err != nil {
		t.Fatalf("Decode(user.registered) = %v", err)
	}
	// A saga event without its order is still malformed.
	saga, err := NewUserMessage(PaymentFailed, userID, PaymentFailedPayload{Reason: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(saga.Payload); err == nil {
		t.Fatal("Decode accepted payment.failed without order_id")
	}
}
