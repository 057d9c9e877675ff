package order

import (
	"errors"
	"fmt"
)

// Status is where an order's saga stands.
//
//	PENDING ──payment succeeded──▶ CONFIRMED ──customer cancels──▶ CANCELLED
//	   │ ├───inventory rejected──▶ REJECTED
//	   │ └───payment failed──────▶ CANCELLED
//	   └─────saga timed out──────▶ CANCELLED
//
// PENDING is the only state the saga's events act on. REJECTED and CANCELLED are terminal.
type Status string

// The states of an order, spelled as they appear in the API and the database.
const (
	Pending   Status = "PENDING"
	Confirmed Status = "CONFIRMED"
	Rejected  Status = "REJECTED"
	Cancelled Status = "CANCELLED"
)

// Statuses lists every status, for tests and validation.
var Statuses = []Status{Pending, Confirmed, Rejected, Cancelled}

// Terminal reports whether nothing can happen to an order in this status any more.
func (s Status) Terminal() bool { return s == Rejected || s == Cancelled }

// Valid reports whether s is one of the four statuses.
func (s Status) Valid() bool {
	switch s {
	case Pending, Confirmed, Rejected, Cancelled:
		return true
	}
	return false
}

// Event is something that happens to an order: an outcome reported by the saga, the saga's
// timeout, or its owner cancelling it.
type Event string

// The events of the state machine.
const (
	InventoryRejected Event = "inventory rejected" // product-service could not reserve every line
	PaymentFailed     Event = "payment failed"     // user-service could not take the payment
	PaymentSucceeded  Event = "payment succeeded"  // user-service took the payment: the saga succeeded
	TimedOut          Event = "timed out"          // the saga did not finish in time
	CustomerCancelled Event = "customer cancelled" // the owner asked to cancel
)

// Events lists every event, for tests.
var Events = []Event{InventoryRejected, PaymentFailed, PaymentSucceeded, TimedOut, CustomerCancelled}

// Errors of the state machine.
var (
	// ErrSagaFinished means a saga event (or the timeout) arrived for an order whose saga had
	// already finished. The saga handler ignores such events: with a timeout racing the other
	// services, a late outcome is normal, and the compensations of order.cancelled take care of
	// whatever that late outcome did elsewhere.
	ErrSagaFinished = errors.New("the saga of this order has already finished")
	// ErrSagaNotFinished refuses to cancel a PENDING order: the saga is still deciding, and
	// will cancel it itself if it fails or times out.
	ErrSagaNotFinished = errors.New("the saga has not finished; try again once the order is confirmed")
	// ErrNotCancellable refuses to cancel an order that is already REJECTED or CANCELLED.
	ErrNotCancellable = errors.New("the order has already ended")
)

// Next returns the status an order in status s moves to when e happens, or an error saying
// why e does not apply.
func (s Status) Next(e Event) (Status, error) {
	switch e {
	case InventoryRejected, PaymentFailed, PaymentSucceeded, TimedOut:
		if s != Pending {
			return s, fmt.Errorf("%s on a %s order: %w", e, s, ErrSagaFinished)
		}
		switch e {
		case InventoryRejected:
			return Rejected, nil
		case PaymentSucceeded:
			return Confirmed, nil
		default: // PaymentFailed, TimedOut
			return Cancelled, nil
		}
	case CustomerCancelled:
		switch s {
		case Confirmed:
			return Cancelled, nil
		case Pending:
			return s, fmt.Errorf("cancel a %s order: %w", s, ErrSagaNotFinished)
		default:
			return s, fmt.Errorf("cancel a %s order: %w", s, ErrNotCancellable)
		}
	}
	return s, fmt.Errorf("unknown order event %q", e)
}
