package app

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracecart/tracecart/order-service/internal/domain/order"
	"github.com/tracecart/tracecart/shared/aftercommit"
	"github.com/tracecart/tracecart/shared/lifecycle"
)

// RunReconciler runs ReconcileCompensations every Reconcile.Interval until ctx is done, then
// returns nil. A failed round (the database unreachable) is logged and tried again at the next
// tick.
func (a *App) RunReconciler(ctx context.Context) error {
	return lifecycle.Every(ctx, a.reconcile.Interval,
		func(ctx context.Context) error { _, err := a.ReconcileCompensations(ctx); return err },
		func(ctx context.Context, err error) {
			a.logger.WarnContext(ctx, "reconcile cancelled orders owed a compensation", "error", err)
		})
}

// ReconcileCompensations completes the cancellations of paid orders, in batches, and returns
// how many it announced again.
//
// When an order that was paid (it was CONFIRMED, or payment.succeeded came after the saga
// timeout cancelled it) is cancelled, order.cancelled tells user-service to refund and
// product-service to restock, and each reports it with payment.refunded and
// inventory.released, which RecordCompensation records. If either report has not arrived
// Reconcile.Grace after the cancellation, the order.cancelled may have been lost on its way
// (dead-lettered by a consumer): the reconciler announces it again, a new event with the
// original cancellation's payload. That is safe because the other services compensate from
// their own records, and their state machines ignore a cancellation they have already applied.
// It tries Reconcile.MaxAttempts times, further and further apart, then gives up and leaves the
// order to the given-up gauge and its alert.
//
// Like the sweep, it works in batches locked with FOR UPDATE SKIP LOCKED, one unit of work per
// batch that writes the events to the outbox: any number of instances may run, and no order is
// announced twice in one round.
func (a *App) ReconcileCompensations(ctx context.Context) (int, error) {
	return inBatches(ctx, a.reconcile.BatchSize, a.reconcileBatch)
}

// reconcileBatch announces again the cancellations of one batch of orders, in one unit of
// work, each in its order's trace.
func (a *App) reconcileBatch(ctx context.Context) (int, error) {
	return a.inOrderTraces(ctx, "reconcile cancelled order",
		func(ctx context.Context) ([]Locked, error) {
			return a.orders.LockOwed(ctx, a.reconcile.Grace, a.reconcile.MaxAttempts, a.reconcile.BatchSize)
		},
		func(ctx context.Context, l Locked) error {
			attempt := l.Reannounced + 1
			trace.SpanFromContext(ctx).SetAttributes(attribute.Int("reconciliation.attempt", attempt))
			return a.reannounce(ctx, l.Order, attempt)
		},
		"the reconciliation's transaction failed; the order is tried again next round")
}

// reannounce announces the cancellation of o again, for the attempt-th time, in the order's
// trace (ctx), and schedules the next attempt.
func (a *App) reannounce(ctx context.Context, o order.Order, attempt int) error {
	// The original cancellation's payload: the order as it is, with the reason it was cancelled
	// for. A new event ID, so the inboxes downstream process it; their state machines make a
	// repeat harmless.
	cancelled, err := orderCancelled(o)
	if err != nil {
		return err
	}
	next := order.ReannounceDelay(a.reconcile.Grace, a.reconcile.MaxBackoff, attempt)
	if err := a.orders.MarkReannounced(ctx, o.ID, next, cancelled); err != nil {
		return err
	}
	aftercommit.Do(ctx, func() {
		a.metrics.healed.Add(ctx, 1, healedAttrs)
		log := a.logger.InfoContext
		if attempt == a.reconcile.MaxAttempts {
			log = a.logger.WarnContext // the last try: after it, only the alert
		}
		log(ctx, "cancellation of a paid order announced again: its refund or restock was not reported",
			"order_id", o.ID.String(), "reason", o.Reason, "attempt", attempt, "max_attempts", a.reconcile.MaxAttempts)
	})
	return nil
}
