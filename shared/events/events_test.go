package events

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestNewThenDecodeRoundTrips(t *testing.T) {
	orderID := uuid.New()
	payload := OrderCreatedPayload{
		UserID:     uuid.New(),
		Lines:      []Line{{ProductID: uuid.New(), Quantity: 2, UnitPriceCents: 1200}},
		TotalCents: 2400,
	}
	env, err := New(OrderCreated, orderID, payload)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(data)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if got.ID != env.ID || got.Type != OrderCreated || got.OrderID != orderID || got.Version != Version {
		t.Errorf("decoded envelope %+v differs from %+v", got, env)
	}
	p, err := DecodePayload[OrderCreatedPayload](got)
	if err != nil {
		t.Fatal(err)
	}
	if p.TotalCents != 2400 || len(p.Lines) != 1 || p.Lines[0].Quantity != 2 || p.UserID != payload.UserID {
		t.Errorf("payload = %+v, want %+v", p, payload)
	}
}

func TestDecodeRejectsMalformedEvents(t *testing.T) {
	valid := map[string]any{
		"id": uuid.NewString(), "type": PaymentFailed, "version": Version,
		"time": "2026-11-21T10:00:00Z", "order_id": uuid.NewString(), "payload": map[string]any{"reason": "x"},
	}
	with := func(key string, value any) []byte {
		m := map[string]any{}
		for k, v := range valid {
			m[k] = v
		}
		if value == nil {
			delete(m, key)
		} else {
			m[key] = value
		}
		b, _ := json.Marshal(m)
		return b
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"not json", []byte("{not json"), "invalid character"},
		{"empty", []byte(""), "unexpected end"},
		{"no id", with("id", nil), "no id"},
		{"bad id", with("id", "not-a-uuid"), "invalid UUID"},
		{"no order id", with("order_id", nil), "no order_id"},
		{"unknown version", with("version", 2), "version 2"},
		{"no type", with("type", nil), "no type"},
		{"no payload", with("payload", nil), "no payload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.data)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode = %v, want an error wrapping ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
	if _, err := Decode(with("type", PaymentFailed)); err != nil {
		t.Fatalf("the valid event was rejected: %v", err)
	}
	if _, err := Decode(with("type", "order.shipped")); err != nil {
		t.Errorf("an event of a type added later was rejected: %v", err)
	}
}

func TestDecodePayloadRejectsWrongShapes(t *testing.T) {
	env := Envelope{Type: PaymentSucceeded, Payload: json.RawMessage(`{"amount_cents":"ten"}`)}
	if _, err := DecodePayload[PaymentSucceededPayload](env); !errors.Is(err, ErrMalformed) {
		t.Fatalf("DecodePayload = %v, want ErrMalformed", err)
	}
}

func TestEveryTypeHasATopic(t *testing.T) {
	want := map[string]string{
		OrderCreated: TopicOrders, OrderConfirmed: TopicOrders, OrderCancelled: TopicOrders,
		InventoryReserved: TopicInventory, InventoryRejected: TopicInventory, InventoryReleased: TopicInventory,
		PaymentSucceeded: TopicPayments, PaymentFailed: TopicPayments, PaymentRefunded: TopicPayments,
	}
	for typ, topic := range want {
		if got, err := TopicOf(typ); err != nil || got != topic {
			t.Errorf("TopicOf(%q) = %q, %v; want %q", typ, got, err, topic)
		}
	}
	if _, err := TopicOf("order.shipped"); err == nil {
		t.Error("TopicOf accepted an unknown type")
	}
}
