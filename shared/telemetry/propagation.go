package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
)

// W3C is the propagator tracecart writes and reads trace context with: W3C Trace Context and
// Baggage. Setup installs it for HTTP and Kafka headers; code that stores a trace context in a
// database row (the outbox, a reservation, an order) uses it directly, because a stored context is
// a wire format read back later, perhaps by another version of the service, and must not depend on
// how the process that reads it happens to be configured.
var W3C propagation.TextMapPropagator = propagation.NewCompositeTextMapPropagator(
	propagation.TraceContext{},
	propagation.Baggage{},
)

// Store returns the trace context of ctx as a map to keep with a row; Resume reads it back.
func Store(ctx context.Context) map[string]string {
	carrier := propagation.MapCarrier{}
	W3C.Inject(ctx, carrier)
	return carrier
}
