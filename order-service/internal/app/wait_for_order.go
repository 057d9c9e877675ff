package app

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/order-service/internal/domain/order"
)

// DefaultRecheck is how often WaitForOrder reads the order again while it waits, unless
// Options.Recheck says otherwise. A change made in this process wakes it at once; the reads are
// for changes made by another replica, which this one is not told of.
const DefaultRecheck = 250 * time.Millisecond

// WaitForOrder returns userID's order id as soon as seen(order) is false, that is as soon as it
// differs from what the caller has already seen, or as it is when wait has passed or ctx ends.
// It is a long poll: a client following an order's saga asks once and is answered when there
// is news, instead of asking again and again (docs/performance-saga.md, "After, part 3").
// Errors are GetOrder's.
func (a *App) WaitForOrder(ctx context.Context, userID, id uuid.UUID, seen func(order.Order) bool, wait time.Duration) (order.Order, error) {
	// Watch before the first read, so that a change between the read and the wait is not missed.
	var changed <-chan struct{}
	if a.changes != nil {
		ch, stop := a.changes.Watch(id)
		defer stop()
		changed = ch
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	recheck := time.NewTicker(a.recheck)
	defer recheck.Stop()
	for {
		o, err := a.orders.Get(ctx, userID, id)
		if err != nil || !seen(o) {
			return o, err
		}
		select {
		case <-ctx.Done():
			return o, nil
		case <-deadline.C:
			return o, nil
		case <-changed:
		case <-recheck.C:
		}
	}
}
