// Package faults is user-service's demo faults: the scenario flags (shared/featureflag,
// infra/flags/demo.flagd.json) that make the payment step misbehave on purpose, so a learner can
// watch what the saga does about it (docs/walkthroughs). With every flag off nothing here changes
// anything. Each flag is evaluated with the context of the saga's "handle <event>" span, so the
// feature_flag.evaluation event lands on the span the fault changed.
package faults

import (
	"context"
	"hash/fnv"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/shared/featureflag"
	"github.com/tracecart/tracecart/user-service/internal/app"
)

// The flag keys, as in infra/flags/demo.flagd.json.
const (
	// FlagPaymentDeclineShare is the share (0..1) of orders whose payment is declined.
	FlagPaymentDeclineShare = "paymentDeclineShare"
	// FlagSagaDropEvent makes the payment step acknowledge inventory.reserved without acting on it.
	FlagSagaDropEvent = "sagaDropEvent"
	// FlagPoisonMessage makes the refund handler fail permanently on order.cancelled, a simulated
	// handler bug, so the event is dead-lettered.
	FlagPoisonMessage = "poisonMessage"
)

// Scenarios answers the fault questions from the flags. Its zero value (no flags) says no to
// every one.
type Scenarios struct{ flags *featureflag.Flags }

// New returns the faults that flags switch on; nil flags switch on none.
func New(flags *featureflag.Flags) Scenarios { return Scenarios{flags: flags} }

var _ app.Declines = Scenarios{}

// Declined reports whether the payment of orderID is declined: true for the flag's share of
// orders. The order's ID decides, not chance, so a redelivered reservation gets the same answer.
func (s Scenarios) Declined(ctx context.Context, orderID uuid.UUID) bool {
	share := s.flags.Float(ctx, FlagPaymentDeclineShare, 0)
	return share > 0 && Bucket(orderID) < share
}

// DropEvent reports whether the event in hand is to be dropped: acknowledged, recorded in the
// inbox, and not acted on, as a consumer with a bug in its routing would.
func (s Scenarios) DropEvent(ctx context.Context) bool {
	return s.flags.Bool(ctx, FlagSagaDropEvent)
}

// Poisoned reports whether the event in hand is one the handler cannot process.
func (s Scenarios) Poisoned(ctx context.Context) bool {
	return s.flags.Bool(ctx, FlagPoisonMessage)
}

// Bucket maps an order ID to a number in [0, 1), the same one every time: FNV-1a of its bytes,
// scaled. Order IDs are random, so the buckets are spread evenly.
func Bucket(orderID uuid.UUID) float64 {
	h := fnv.New64a()
	_, _ = h.Write(orderID[:])
	return float64(h.Sum64()>>11) / (1 << 53)
}
