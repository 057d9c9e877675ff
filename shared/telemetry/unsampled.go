package telemetry

import (
	"context"
	"crypto/rand"

	"go.opentelemetry.io/otel/propagation"
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

// Resume returns ctx with the span context stored in carrier as its remote parent, so that a
// span started from it continues the stored trace. Background work that has no message to carry
// a trace context (a saga timeout, a reconciliation) resumes the trace saved with the row it
// works on: one order, one trace. ok is false when carrier holds no valid context (a row stored
// outside any trace); start the span with trace.WithNewRoot then. The carrier is read with W3C, the
// propagator Store and the outbox write it with.
func Resume(ctx context.Context, carrier propagation.TextMapCarrier) (resumed context.Context, ok bool) {
	sc := trace.SpanContextFromContext(W3C.Extract(ctx, carrier))
	if !sc.IsValid() {
		return ctx, false
	}
	return trace.ContextWithRemoteSpanContext(ctx, sc), true
}
