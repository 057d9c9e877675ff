package events

import (
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
)

// Message is an event ready to be published: the envelope encoded as JSON, with the topic, the key
// and the headers' event ID and type beside it. outbox.Add stores it in the same transaction as the
// change it announces; nothing else needs to know how an event becomes bytes.
type Message struct {
	// ID identifies the event for consumers' deduplication (the "event-id" header). The zero UUID
	// means "generate one" to outbox.Add; NewMessage always sets it to the envelope's ID.
	ID uuid.UUID
	// Topic is the Kafka topic, and Key the message key: events with the same key (the saga uses
	// the order ID) land on the same partition and are consumed in order.
	Topic string
	Key   string
	// Type names the event, such as "order.created"; it travels in the "event-type" header.
	Type string
	// Payload is the message value: the JSON envelope.
	Payload []byte
}

// NewMessage is the one way tracecart turns an event into a message: a new envelope around
// payload, on the event type's topic, keyed by the order so that all of one order's events stay in
// order on their topic.
func NewMessage(eventType string, orderID uuid.UUID, payload any) (Message, error) {
	return newMessage(eventType, orderID, orderID, payload)
}

// NewUserMessage builds a message about a user rather than an order (user.registered): the
// envelope has no order_id, and the key is the user's ID.
func NewUserMessage(eventType string, userID uuid.UUID, payload any) (Message, error) {
	return newMessage(eventType, uuid.Nil, userID, payload)
}

func newMessage(eventType string, orderID, key uuid.UUID, payload any) (Message, error) {
	topic, err := TopicOf(eventType)
	if err != nil {
		return Message{}, err
	}
	env, err := New(eventType, orderID, payload)
	if err != nil {
		return Message{}, err
	}
	value, err := json.Marshal(env)
	if err != nil {
		return Message{}, fmt.Errorf("encode %s envelope: %w", eventType, err)
	}
	return Message{ID: env.ID, Topic: topic, Key: key.String(), Type: eventType, Payload: value}, nil
}
