package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"testing/slogtest"

	"go.opentelemetry.io/otel/trace"
)

// TestTraceHandlerFollowsTheHandlerContract runs the standard library's conformance suite for
// slog.Handler implementations (groups, WithAttrs, empty attributes, ...) against traceHandler,
// once for records without a span and once with every record logged inside a span, which takes
// the path that replays groups on top of the IDs.
func TestTraceHandlerFollowsTheHandlerContract(t *testing.T) {
	span := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, 2, 3},
		SpanID:     trace.SpanID{4, 5, 6},
		TraceFlags: trace.FlagsSampled,
	})
	tests := []struct {
		name    string
		span    trace.SpanContext
		wantIDs bool
	}{
		{name: "without span"},
		{name: "with span", span: span, wantIDs: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buffers := map[*testing.T]*bytes.Buffer{} // each case's output, by the case's *testing.T
			slogtest.Run(t,
				func(t *testing.T) slog.Handler {
					buf := &bytes.Buffer{}
					buffers[t] = buf
					return withSpan{tt.span, newTraceHandler(slog.NewJSONHandler(buf, nil))}
				},
				func(t *testing.T) map[string]any {
					line := map[string]any{}
					if err := json.Unmarshal(buffers[t].Bytes(), &line); err != nil {
						t.Fatalf("log output is not one JSON object: %v\n%s", err, buffers[t])
					}
					_, hasTrace := line["trace_id"]
					_, hasSpan := line["span_id"]
					if hasTrace != tt.wantIDs || hasSpan != tt.wantIDs {
						t.Errorf("top-level trace_id, span_id present = %t, %t, want %t: %v", hasTrace, hasSpan, tt.wantIDs, line)
					}
					return line
				},
			)
		})
	}
}

// withSpan puts a span context into the context of every record before handing it to next, as
// if the code under test had logged with logger.InfoContext(ctx, ...) inside a span; slogtest
// itself logs with context.Background().
type withSpan struct {
	span trace.SpanContext
	next slog.Handler
}

func (h withSpan) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h withSpan) Handle(ctx context.Context, r slog.Record) error {
	return h.next.Handle(trace.ContextWithSpanContext(ctx, h.span), r)
}

func (h withSpan) WithAttrs(attrs []slog.Attr) slog.Handler {
	return withSpan{h.span, h.next.WithAttrs(attrs)}
}

func (h withSpan) WithGroup(name string) slog.Handler {
	return withSpan{h.span, h.next.WithGroup(name)}
}
