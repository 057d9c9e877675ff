package app_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/order-service/internal/adapters/postgres/postgrestest"
	"github.com/tracecart/tracecart/order-service/internal/domain/order"
	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/kafka"
	"github.com/tracecart/tracecart/shared/postgres/pgtest"
)

// TestOutcomes applies each event that ends a saga to a PENDING order.
//
// Over 60 lines: most of it is the table of cases.
func TestOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		eventType  string
		payload    any
		wantStatus order.Status
		wantReason string
		wantEvent  string // the event order-service publishes in reply, if any
		outcome    string
	}{
		{
			name:      "payment.succeeded confirms",
			eventType: events.PaymentSucceeded, payload: events.PaymentSucceededPayload{UserID: alice, AmountCents: 2400},
			wantStatus: order.Confirmed, wantEvent: events.OrderConfirmed, outcome: "confirmed",
		},
		{
			name:      "inventory.rejected rejects",
			eventType: events.InventoryRejected, payload: events.InventoryRejectedPayload{Reason: "out_of_stock", ProductID: mug},
			wantStatus: order.Rejected, wantReason: "out_of_stock", outcome: "rejected",
		},
		{
			name:      "payment.failed cancels",
			eventType: events.PaymentFailed, payload: events.PaymentFailedPayload{UserID: alice, Reason: "insufficient_funds"},
			wantStatus: order.Cancelled, wantReason: "insufficient_funds", outcome: "cancelled",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			o := e.newOrder()

			if err := e.handler.Handle(t.Context(), record(t, tt.eventType, o.ID, tt.payload)); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			got := e.get(o.ID)
			if got.Status != tt.wantStatus || got.Reason != tt.wantReason {
				t.Errorf("order is %s (%q), want %s (%q)", got.Status, got.Reason, tt.wantStatus, tt.wantReason)
			}
			if !got.UpdatedAt.After(o.UpdatedAt) {
				t.Errorf("updated_at did not move: %v", got.UpdatedAt)
			}
			rows := postgrestest.CountRows(t, e.pool)
			wantOutbox := 1 // order.created
			if tt.wantEvent != "" {
				wantOutbox++
			}
			if rows.Outbox != wantOutbox || rows.Processed != 1 {
				t.Errorf("rows = %+v, want %d outbox rows and the event recorded as processed", rows, wantOutbox)
			}
			if tt.wantEvent != "" {
				published := pgtest.OutboxEvents(t, e.pool, o.ID.String(), tt.wantEvent)
				if len(published) != 1 || published[0].Topic != events.TopicOrders {
					t.Fatalf("%s events = %+v, want one on the orders topic", tt.wantEvent, published)
				}
				if p := pgtest.Payload[events.OrderConfirmedPayload](t, published[0]); p.UserID != alice {
					t.Errorf("%s payload = %+v, want alice's", tt.wantEvent, p)
				}
			}
			counts, durations := e.outcomes()
			if !reflect.DeepEqual(counts, map[string]int64{tt.outcome: 1}) || durations != 1 {
				t.Errorf("saga metrics: outcomes %v with %d durations, want one %s", counts, durations, tt.outcome)
			}
		})
	}
}

func TestDuplicateDeliveryHasOneEffect(t *testing.T) {
	e := newEnv(t)
	o := e.newOrder()
	rec := record(t, events.PaymentSucceeded, o.ID, events.PaymentSucceededPayload{UserID: alice, AmountCents: 2400})

	for range 3 {
		if err := e.handler.Handle(t.Context(), rec); err != nil {
			t.Fatalf("Handle: %v", err)
		}
	}
	if n := len(pgtest.OutboxEvents(t, e.pool, o.ID.String(), events.OrderConfirmed)); n != 1 {
		t.Errorf("%d order.confirmed events after three deliveries, want 1", n)
	}
	if rows := postgrestest.CountRows(t, e.pool); rows.Processed != 1 {
		t.Errorf("processed events = %d, want 1", rows.Processed)
	}
	if counts, _ := e.outcomes(); counts["confirmed"] != 1 {
		t.Errorf("confirmed outcomes = %d, want 1", counts["confirmed"])
	}
}

// TestEventsAfterTheSagaFinishedAreIgnored covers a late or conflicting outcome, such as a
// payment that succeeds after the timeout cancelled the order: the order keeps its state,
// nothing is published, and the event counts as processed.
func TestEventsAfterTheSagaFinishedAreIgnored(t *testing.T) {
	tests := []struct {
		status    order.Status
		reason    string
		eventType string
		payload   any
	}{
		{order.Cancelled, "timeout", events.PaymentSucceeded, events.PaymentSucceededPayload{UserID: alice, AmountCents: 2400}},
		{order.Cancelled, "insufficient_funds", events.InventoryRejected, events.InventoryRejectedPayload{Reason: "out_of_stock"}},
		{order.Rejected, "out_of_stock", events.PaymentFailed, events.PaymentFailedPayload{UserID: alice, Reason: "insufficient_funds"}},
		{order.Rejected, "out_of_stock", events.PaymentSucceeded, events.PaymentSucceededPayload{UserID: alice}},
		{order.Confirmed, "", events.PaymentFailed, events.PaymentFailedPayload{UserID: alice, Reason: "insufficient_funds"}},
		{order.Confirmed, "", events.PaymentSucceeded, events.PaymentSucceededPayload{UserID: alice}},
	}
	e := newEnv(t)
	for _, tt := range tests {
		t.Run(string(tt.status)+"/"+tt.eventType, func(t *testing.T) {
			o := e.newOrder()
			e.setStatus(o.ID, tt.status, tt.reason)
			before := postgrestest.CountRows(t, e.pool)

			if err := e.handler.Handle(t.Context(), record(t, tt.eventType, o.ID, tt.payload)); err != nil {
				t.Fatalf("Handle = %v, want the event ignored without an error", err)
			}
			if got := e.get(o.ID); got.Status != tt.status || got.Reason != tt.reason {
				t.Errorf("order is %s (%q), want it left %s (%q)", got.Status, got.Reason, tt.status, tt.reason)
			}
			after := postgrestest.CountRows(t, e.pool)
			if after.Outbox != before.Outbox || after.Processed != before.Processed+1 {
				t.Errorf("rows went from %+v to %+v, want no event published and the event marked processed", before, after)
			}
		})
	}
	if counts, _ := e.outcomes(); len(counts) != 0 {
		t.Errorf("ignored events recorded saga outcomes %v", counts)
	}
}

// TestOtherEventTypesLeaveTheOrderAlone covers the events that do not move an order: the other
// steps of the saga and types a newer producer may add (the contract lets consumers ignore types
// they do not know), which have no route and are skipped without a transaction, and the
// compensations, which are routed and only recorded (see reconcile_test.go).
func TestOtherEventTypesLeaveTheOrderAlone(t *testing.T) {
	e := newEnv(t)
	o := e.newOrder()
	recs := []kafka.Record{
		record(t, events.InventoryReserved, o.ID, events.InventoryReservedPayload{UserID: alice, TotalCents: 2400}),
		record(t, events.InventoryReleased, o.ID, events.InventoryReleasedPayload{Reason: "payment_failed"}),
		record(t, events.PaymentRefunded, o.ID, events.PaymentRefundedPayload{UserID: alice, AmountCents: 2400}),
		{Value: []byte(`{"id":"` + uuid.NewString() + `","type":"payment.pending","version":1,"order_id":"` + o.ID.String() + `","payload":{}}`)},
	}
	for _, rec := range recs {
		if err := e.handler.Handle(t.Context(), rec); err != nil {
			t.Fatalf("Handle %s: %v", rec.Value, err)
		}
	}
	if got := e.get(o.ID); got.Status != order.Pending {
		t.Errorf("order is %s, want PENDING still", got.Status)
	}
	// Processed: the two compensations; inventory.reserved and payment.pending have no route.
	if rows := postgrestest.CountRows(t, e.pool); rows.Processed != 2 || rows.Outbox != 1 {
		t.Errorf("rows = %+v, want the 2 routed events processed and nothing published", rows)
	}
}

func TestMalformedEventsArePermanentErrors(t *testing.T) {
	e := newEnv(t)
	o := e.newOrder()
	valid := record(t, events.PaymentFailed, o.ID, events.PaymentFailedPayload{UserID: alice, Reason: "insufficient_funds"})
	tests := map[string]kafka.Record{
		"not JSON":        {Value: []byte("payment failed!")},
		"empty":           {Value: nil},
		"no ID":           {Value: []byte(`{"type":"payment.failed","version":1,"order_id":"` + o.ID.String() + `","payload":{}}`)},
		"no order ID":     {Value: []byte(`{"id":"` + uuid.NewString() + `","type":"payment.failed","version":1,"payload":{}}`)},
		"unknown version": {Value: []byte(`{"id":"` + uuid.NewString() + `","type":"payment.failed","version":2,"order_id":"` + o.ID.String() + `","payload":{}}`)},
		"no type":         {Value: []byte(`{"id":"` + uuid.NewString() + `","version":1,"order_id":"` + o.ID.String() + `","payload":{}}`)},
		"payload of the wrong shape": {Value: []byte(`{"id":"` + uuid.NewString() +
			`","type":"payment.failed","version":1,"order_id":"` + o.ID.String() + `","payload":{"reason":42}}`)},
		"unknown order": record(t, events.PaymentFailed, uuid.New(), events.PaymentFailedPayload{UserID: alice, Reason: "insufficient_funds"}),
	}
	before := postgrestest.CountRows(t, e.pool)
	for name, rec := range tests {
		t.Run(name, func(t *testing.T) {
			err := e.handler.Handle(context.Background(), rec)
			if !kafka.IsPermanent(err) {
				t.Errorf("Handle = %v, want a permanent error (straight to the dead-letter topic)", err)
			}
		})
	}
	if after := postgrestest.CountRows(t, e.pool); after != before {
		t.Errorf("rows went from %+v to %+v, want nothing written", before, after)
	}
	// The order is untouched and still takes a valid event.
	if err := e.handler.Handle(t.Context(), valid); err != nil {
		t.Fatal(err)
	}
	if got := e.get(o.ID); got.Status != order.Cancelled {
		t.Errorf("order is %s after a valid payment.failed, want CANCELLED", got.Status)
	}
}

// TestConcurrentEventsForOneOrder delivers two conflicting outcomes at once (as two partitions
// never would, but a redelivery after a rebalance could): the row lock makes one win and the
// other find the saga finished.
func TestConcurrentEventsForOneOrder(t *testing.T) {
	e := newEnv(t)
	o := e.newOrder()
	recs := []kafka.Record{
		record(t, events.PaymentSucceeded, o.ID, events.PaymentSucceededPayload{UserID: alice}),
		record(t, events.PaymentFailed, o.ID, events.PaymentFailedPayload{UserID: alice, Reason: "insufficient_funds"}),
	}
	errs := make(chan error, len(recs))
	for _, rec := range recs {
		go func() { errs <- e.handler.Handle(context.Background(), rec) }()
	}
	for range recs {
		if err := <-errs; err != nil {
			t.Fatalf("Handle: %v", err)
		}
	}
	got := e.get(o.ID)
	confirmed := len(pgtest.OutboxEvents(t, e.pool, o.ID.String(), events.OrderConfirmed))
	switch {
	case got.Status == order.Confirmed && confirmed == 1:
	case got.Status == order.Cancelled && confirmed == 0:
	default:
		t.Errorf("order is %s with %d order.confirmed events; want CONFIRMED with one, or CANCELLED with none", got.Status, confirmed)
	}
	if counts, _ := e.outcomes(); len(counts) != 1 {
		t.Errorf("outcomes %v, want exactly one", counts)
	}
}
