package telemetry

import (
	"context"
	"crypto/rand"

	"go.opentelemetry.io/otel/trace"
)

// Unsampled returns ctx under a parent span that is not sampled, so that the spans started
// under it (a parent-based sampler follows the parent) are not recorded. Background workers that
// poll, such as a saga timeout sweeper or a reconciler, run their idle database queries under it:
// one poll every few seconds on every instance would otherwise fill the trace store with traces
// of nothing. The work such a poll does find continues the trace it belongs to instead.
func Unsampled(ctx context.Context) context.Context {
	var traceID trace.TraceID
	var spanID trace.SpanID
	_, _ = rand.Read(traceID[:])
	_, _ = rand.Read(spanID[:])
	return trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: traceID, SpanID: spanID, // TraceFlags zero: not sampled
	}))
}
