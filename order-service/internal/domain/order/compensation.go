package order

import "time"

// Compensation is a compensation another service reports having made for an order, in answer
// to order.cancelled (or to payment.failed, for the stock).
type Compensation string

// The compensations order-service hears of.
const (
	Refunded Compensation = "refunded" // payment.refunded: user-service gave the payment back
	Released Compensation = "released" // inventory.released: product-service gave the stock back
)

// ReannounceDelay is how long to wait after the attempt-th announcement of a paid order's
// cancellation (attempt 0 is the original order.cancelled) before announcing it again, if its
// refund or its restock has still not been reported: grace for the first, then twice as long
// each time, up to ceiling. The doubling keeps a downstream service that is down for a while
// from being sent a stream of repeats; the ceiling keeps a long outage from pushing the next
// try out by hours.
func ReannounceDelay(grace, ceiling time.Duration, attempt int) time.Duration {
	d := grace
	for range max(attempt-1, 0) {
		if d >= ceiling {
			break
		}
		d *= 2
	}
	return min(d, ceiling)
}
