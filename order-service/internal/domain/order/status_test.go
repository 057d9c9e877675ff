package order_test

import (
	"errors"
	"testing"
	"time"

	"github.com/tracecart/tracecart/order-service/internal/domain/order"
)

// TestNext walks every state × every event, so that a transition added or removed by mistake
// shows up as a failing row.
func TestNext(t *testing.T) {
	type outcome struct {
		to  order.Status
		err error // nil: the transition happens
	}
	tests := map[order.Status]map[order.Event]outcome{
		order.Pending: {
			order.InventoryRejected: {to: order.Rejected},
			order.PaymentFailed:     {to: order.Cancelled},
			order.PaymentSucceeded:  {to: order.Confirmed},
			order.TimedOut:          {to: order.Cancelled},
			order.CustomerCancelled: {err: order.ErrSagaNotFinished},
		},
		order.Confirmed: {
			order.InventoryRejected: {err: order.ErrSagaFinished},
			order.PaymentFailed:     {err: order.ErrSagaFinished},
			order.PaymentSucceeded:  {err: order.ErrSagaFinished},
			order.TimedOut:          {err: order.ErrSagaFinished},
			order.CustomerCancelled: {to: order.Cancelled},
		},
		order.Rejected: {
			order.InventoryRejected: {err: order.ErrSagaFinished},
			order.PaymentFailed:     {err: order.ErrSagaFinished},
			order.PaymentSucceeded:  {err: order.ErrSagaFinished},
			order.TimedOut:          {err: order.ErrSagaFinished},
			order.CustomerCancelled: {err: order.ErrNotCancellable},
		},
		order.Cancelled: {
			order.InventoryRejected: {err: order.ErrSagaFinished},
			order.PaymentFailed:     {err: order.ErrSagaFinished},
			order.PaymentSucceeded:  {err: order.ErrSagaFinished},
			order.TimedOut:          {err: order.ErrSagaFinished},
			order.CustomerCancelled: {err: order.ErrNotCancellable},
		},
	}
	for _, from := range order.Statuses {
		for _, event := range order.Events {
			want, ok := tests[from][event]
			if !ok {
				t.Fatalf("the table has no row for %s × %s", from, event)
			}
			t.Run(string(from)+"/"+string(event), func(t *testing.T) {
				got, err := from.Next(event)
				if want.err != nil {
					if !errors.Is(err, want.err) {
						t.Fatalf("%s.Next(%s) error = %v, want %v", from, event, err, want.err)
					}
					if got != from {
						t.Errorf("%s.Next(%s) = %s with an error, want the status unchanged", from, event, got)
					}
					return
				}
				if err != nil || got != want.to {
					t.Fatalf("%s.Next(%s) = %s, %v; want %s", from, event, got, err, want.to)
				}
			})
		}
	}
}

func TestNextUnknownEvent(t *testing.T) {
	if _, err := order.Pending.Next("shipped"); err == nil {
		t.Fatal("Next accepted an unknown event")
	}
}

func TestTerminal(t *testing.T) {
	want := map[order.Status]bool{order.Pending: false, order.Confirmed: false, order.Rejected: true, order.Cancelled: true}
	for _, s := range order.Statuses {
		if got := s.Terminal(); got != want[s] {
			t.Errorf("%s.Terminal() = %v, want %v", s, got, want[s])
		}
		if !s.Valid() {
			t.Errorf("%s.Valid() = false", s)
		}
	}
	if order.Status("SHIPPED").Valid() {
		t.Error(`Status("SHIPPED").Valid() = true`)
	}
}

// TestTerminalStatesIgnoreEverything checks the property the saga relies on: once an order is
// terminal, no event changes it.
func TestTerminalStatesIgnoreEverything(t *testing.T) {
	for _, s := range order.Statuses {
		if !s.Terminal() {
			continue
		}
		for _, e := range order.Events {
			if got, err := s.Next(e); err == nil || got != s {
				t.Errorf("%s.Next(%s) = %s, %v; a terminal order must not move", s, e, got, err)
			}
		}
	}
}

func TestReannounceDelay(t *testing.T) {
	grace, ceiling := time.Minute, 5*time.Minute
	want := []time.Duration{time.Minute, time.Minute, 2 * time.Minute, 4 * time.Minute, 5 * time.Minute, 5 * time.Minute}
	for attempt, w := range want {
		if got := order.ReannounceDelay(grace, ceiling, attempt); got != w {
			t.Errorf("ReannounceDelay(attempt %d) = %s, want %s", attempt, got, w)
		}
	}
	if got := order.ReannounceDelay(grace, ceiling, 1000); got != ceiling {
		t.Errorf("ReannounceDelay(attempt 1000) = %s, want the ceiling", got)
	}
}
