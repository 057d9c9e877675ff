package app

import (
	"context"
	"fmt"

	"github.com/tracecart/tracecart/order-service/internal/domain/order"
	"github.com/tracecart/tracecart/shared/aftercommit"
	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/lifecycle"
)

// RunTimeoutSweeper runs SweepTimeouts every Sweep.Interval until ctx is done, then returns
// nil. A failed sweep (the database unreachable) is logged and tried again at the next tick:
// the sweeper is a safety net and must outlive the outages it is there for.
func (a *App) RunTimeoutSweeper(ctx context.Context) error {
	return lifecycle.Every(ctx, a.sweep.Interval,
		func(ctx context.Context) error { _, err := a.SweepTimeouts(ctx); return err },
		func(ctx context.Context, err error) {
			a.logger.WarnContext(ctx, "sweep timed-out sagas", "error", err)
		})
}

// SweepTimeouts cancels every order whose saga has not finished within Sweep.Timeout, in
// batches, and returns how many it cancelled: a step of the saga may be down or have
// dead-lettered its event, and a customer must not wait forever. Each order is cancelled with
// reason "timeout" and an order.cancelled event, which makes product-service release the
// reservation and user-service refund a payment, if either happened.
//
// Any number of sweepers may run, one per instance of the service: each locks its batch with
// FOR UPDATE SKIP LOCKED, so no order is cancelled twice and none waits for another sweeper.
func (a *App) SweepTimeouts(ctx context.Context) (int, error) {
	return inBatches(ctx, a.sweep.BatchSize, a.sweepBatch)
}

// sweepBatch cancels one batch of timed-out orders in one unit of work. The cancellation
// continues the order's own trace, from the context stored when it was placed, and its
// order.cancelled event carries that trace on to the compensations in the other services: one
// order, one trace, to the last compensation. An order stored without a context gets a trace of
// its own.
func (a *App) sweepBatch(ctx context.Context) (int, error) {
	return a.inOrderTraces(ctx, "saga timeout",
		func(ctx context.Context) ([]Locked, error) {
			return a.orders.LockTimedOut(ctx, a.sweep.Timeout, a.sweep.BatchSize)
		},
		func(ctx context.Context, l Locked) error { return a.timeOut(ctx, l.Order) },
		"the sweep's transaction failed; the order stays PENDING until the next sweep")
}

// timeOut cancels the timed-out order o, which the sweep has locked, and announces it, in the
// order's trace (ctx). Each order's event is written with its own context, so each outbox row
// carries its own order's trace.
func (a *App) timeOut(ctx context.Context, o order.Order) error {
	saved, err := a.orders.Update(ctx, o.ID, func(o *order.Order) ([]events.Message, error) {
		next, err := o.Status.Next(order.TimedOut)
		if err != nil {
			return nil, fmt.Errorf("order %s: %w", o.ID, err) // LockTimedOut returned a non-PENDING order: a bug
		}
		o.Status, o.Reason = next, order.ReasonTimeout
		cancelled, err := orderCancelled(*o)
		if err != nil {
			return nil, err
		}
		return []events.Message{cancelled}, nil
	})
	if err != nil {
		return err
	}
	aftercommit.Do(ctx, func() {
		a.metrics.finished(ctx, order.TimedOut, saved)
		a.logger.InfoContext(ctx, "order saga timed out", "order_id", saved.ID.String(),
			"age", saved.UpdatedAt.Sub(saved.CreatedAt).String())
	})
	return nil
}
