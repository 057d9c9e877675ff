// Package saga is user-service's part of the order saga, the payment step, as a table from the
// event types it acts on to the use cases they call:
//
//	inventory.reserved  →  app.Charge  (payment.succeeded, or payment.failed)
//	order.cancelled     →  app.Refund  (payment.refunded, or a tombstone for a late reservation)
//
// Everything else, the same way in every service, is shared/sagakit's: decoding the envelope, the
// inbox that makes a redelivered event change nothing, the transaction the use case's writes and
// its outbox rows join, the "handle <event type>" span and the events metric. Its topics follow
// from these routes (sagakit.Consumer.Topics).
//
// Two demo faults (faults.go) can wrap the routes while their scenario flags are on: dropping
// inventory.reserved, and failing order.cancelled as a handler bug would.
package saga

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/sagakit"
	"github.com/tracecart/tracecart/user-service/internal/app"
)

// Routes returns the payment step's routes, for sagakit.NewConsumer, with the demo faults f can
// switch on (adapters/faults; its zero value switches on none).
func Routes(a *app.App, f Faults) sagakit.Routes {
	return sagakit.Routes{
		events.InventoryReserved: dropWhenAsked(f, charge(a)),
		events.OrderCancelled:    poisonWhenAsked(f, refund(a)),
	}
}

// charge takes payment for a reserved order. A payload the step cannot act on (no user, no
// positive total) is malformed, so the kit dead-letters it instead of retrying.
func charge(a *app.App) sagakit.Handler {
	return func(ctx context.Context, env events.Envelope) error {
		p, err := events.DecodePayload[events.InventoryReservedPayload](env)
		if err != nil {
			return err
		}
		if p.UserID == uuid.Nil || p.TotalCents <= 0 {
			return fmt.Errorf("%w: %s needs a user_id and a positive total_cents", events.ErrMalformed, env.Type)
		}
		return a.Charge(ctx, env.OrderID, p.UserID, p.TotalCents)
	}
}

// refund gives a cancelled order's payment back, or leaves a tombstone for its late reservation.
func refund(a *app.App) sagakit.Handler {
	return func(ctx context.Context, env events.Envelope) error {
		p, err := events.DecodePayload[events.OrderCancelledPayload](env)
		if err != nil {
			return err
		}
		return a.Refund(ctx, env.OrderID, p.UserID)
	}
}
