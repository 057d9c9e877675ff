// Package saga is product-service's part of the order saga on Kafka: a table from the event
// types it acts on to the use cases that handle them (Routes), run by the shared saga consumer
// kit (shared/sagakit), which decodes each event, records it in the inbox in the same
// transaction as its effect, and traces and counts it. A route only translates: it decodes the
// payload, calls the use case, and says which of its errors no retry can fix.
package saga

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/product-service/internal/app"
	"github.com/tracecart/tracecart/product-service/internal/domain/inventory"
	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/sagakit"
)

// NewConsumer returns product-service's saga consumer: the kit configured by opts (the
// service's name, its inbox and its telemetry; bootstrap.Service.SagaOptions in production)
// with the routes to a's use cases.
func NewConsumer(opts sagakit.Options, a *app.App) (*sagakit.Consumer, error) {
	opts.Routes = Routes(a)
	return sagakit.NewConsumer(opts)
}

// Routes maps each event product-service acts on to its use case. The kit reads the topics
// these event types are published on; events of those topics that are not here (payment.succeeded,
// payment.refunded, ...) are recorded and skipped.
func Routes(a *app.App) sagakit.Routes {
	return sagakit.Routes{
		events.OrderCreated: reserveStock(a),
		events.OrderConfirmed: func(ctx context.Context, env events.Envelope) error {
			return settle[events.OrderConfirmedPayload](ctx, env, a.ConfirmSale)
		},
		events.PaymentFailed: func(ctx context.Context, env events.Envelope) error {
			return settle[events.PaymentFailedPayload](ctx, env, a.ReleaseStock)
		},
		events.OrderCancelled: func(ctx context.Context, env events.Envelope) error {
			return settle[events.OrderCancelledPayload](ctx, env, a.CancelReservation)
		},
	}
}

// reserveStock is the route of order.created. An order without a user, or with lines no stock
// could ever satisfy (none, no product, a quantity out of range), breaks the contract: it is
// malformed, not an order to reject.
func reserveStock(a *app.App) sagakit.Handler {
	return func(ctx context.Context, env events.Envelope) error {
		p, err := events.DecodePayload[events.OrderCreatedPayload](env)
		if err != nil {
			return err
		}
		if p.UserID == uuid.Nil {
			return fmt.Errorf("%w: order.created %s has no user_id", events.ErrMalformed, env.ID)
		}
		order := app.NewOrder{ID: env.OrderID, UserID: p.UserID, TotalCents: p.TotalCents}
		for _, l := range p.Lines {
			order.Lines = append(order.Lines, inventory.Line{ProductID: l.ProductID, Quantity: int64(l.Quantity)})
		}
		err = a.ReserveStock(ctx, order)
		if errors.Is(err, inventory.ErrInvalidLines) {
			return fmt.Errorf("%w: order.created %s: %w", events.ErrMalformed, env.ID, err)
		}
		return err
	}
}

// settle is the route of an event that settles a reservation: its payload, of type P, is
// checked (one of the wrong shape is malformed) but not needed, since the order's reservation
// says what to give back; then the use case runs for the event's order.
func settle[P any](ctx context.Context, env events.Envelope, useCase func(context.Context, uuid.UUID) error) error {
	if _, err := events.DecodePayload[P](env); err != nil {
		return err
	}
	return useCase(ctx, env.OrderID)
}
