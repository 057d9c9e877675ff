package saga

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/kafka"
	"github.com/tracecart/tracecart/shared/sagakit"
)

// Faults are the demo faults the routes can show (adapters/faults implements them from the
// scenario flags). Each is asked with the "handle <event>" span's context, so the flag's
// evaluation event lands on that span.
type Faults interface {
	// DropEvent: the saga-drop-event scenario (docs/walkthroughs/07-saga-timeout.md).
	DropEvent(ctx context.Context) bool
	// Poisoned: the poison-message scenario (docs/walkthroughs/05-poison-message.md).
	Poisoned(ctx context.Context) bool
}

// ErrSimulatedBug is the error of the poison-message demo fault: a handler that cannot process
// the event, which the consumer dead-letters. "Fixing the bug" is switching the flag off.
var ErrSimulatedBug = errors.New("simulated handler bug (scenario flag poisonMessage): this build cannot process the event")

// dropWhenAsked acknowledges the event without calling next while the fault is on: the kit
// records it in the inbox as handled, so nothing retries it, and the saga waits for an answer
// that never comes until order-service's saga timeout cancels the order.
func dropWhenAsked(f Faults, next sagakit.Handler) sagakit.Handler {
	return func(ctx context.Context, env events.Envelope) error {
		if f.DropEvent(ctx) {
			trace.SpanFromContext(ctx).SetAttributes(attribute.Bool("tracecart.fault.dropped", true))
			return nil
		}
		return next(ctx, env)
	}
}

// poisonWhenAsked fails every event permanently while the fault is on, so the consumer moves it
// to user-service.dlq and carries on with the next one.
func poisonWhenAsked(f Faults, next sagakit.Handler) sagakit.Handler {
	return func(ctx context.Context, env events.Envelope) error {
		if f.Poisoned(ctx) {
			return kafka.Permanent(ErrSimulatedBug)
		}
		return next(ctx, env)
	}
}
