package kafka

import (
	"context"
	"slices"
	"testing"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

func headers(kv ...string) []kafka.Header {
	var hs []kafka.Header
	for i := 0; i < len(kv); i += 2 {
		hs = append(hs, kafka.Header{Key: kv[i], Value: []byte(kv[i+1])})
	}
	return hs
}

func TestHeaderCarrierGet(t *testing.T) {
	tests := []struct {
		name    string
		headers []kafka.Header
		key     string
		want    string
	}{
		{"missing", headers("a", "1"), "b", ""},
		{"present", headers("a", "1", "b", "2"), "b", "2"},
		{"first of repeated", headers("a", "1", "a", "2"), "a", "1"},
		{"case-sensitive", headers("Traceparent", "x"), "traceparent", ""},
		{"no headers", nil, "a", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := HeaderCarrier(tt.headers)
			if got := c.Get(tt.key); got != tt.want {
				t.Errorf("Get(%q) = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
}

func TestHeaderCarrierSet(t *testing.T) {
	tests := []struct {
		name     string
		headers  []kafka.Header
		key, val string
		want     []kafka.Header
	}{
		{"adds", headers("a", "1"), "b", "2", headers("a", "1", "b", "2")},
		{"replaces", headers("a", "1", "b", "2"), "a", "3", headers("b", "2", "a", "3")},
		{"replaces every copy", headers("a", "1", "a", "2"), "a", "3", headers("a", "3")},
		{"to empty", nil, "a", "1", headers("a", "1")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := HeaderCarrier(tt.headers)
			c.Set(tt.key, tt.val)
			if !slices.EqualFunc(c, tt.want, equalHeader) {
				t.Errorf("after Set(%q, %q): %s, want %s", tt.key, tt.val, c, tt.want)
			}
		})
	}
}

func TestHeaderCarrierSetLeavesSharedHeadersAlone(t *testing.T) {
	original := headers("traceparent", "old", "event-id", "e1")
	c := HeaderCarrier(original)
	c.Set("traceparent", "new")
	if got := string(original[0].Value); got != "old" {
		t.Errorf("Set changed the slice it was given: traceparent = %q", got)
	}
}

func TestHeaderCarrierKeys(t *testing.T) {
	c := HeaderCarrier(headers("b", "1", "a", "2", "b", "3"))
	if got, want := c.Keys(), []string{"b", "a"}; !slices.Equal(got, want) {
		t.Errorf("Keys() = %v, want %v", got, want)
	}
}

// TestHeaderCarrierRoundTrip checks the carrier with the propagator it exists for: a context
// injected into message headers, including over a stale one, comes back out unchanged.
func TestHeaderCarrierRoundTrip(t *testing.T) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, 2, 3},
		SpanID:     trace.SpanID{4, 5, 6},
		TraceFlags: trace.FlagsSampled,
	})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	prop := propagation.TraceContext{}

	msg := kafka.Message{Headers: headers("traceparent", "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01")}
	prop.Inject(ctx, (*HeaderCarrier)(&msg.Headers))
	got := trace.SpanContextFromContext(prop.Extract(context.Background(), (*HeaderCarrier)(&msg.Headers)))

	if got.TraceID() != sc.TraceID() || got.SpanID() != sc.SpanID() {
		t.Errorf("extracted %s/%s, want %s/%s", got.TraceID(), got.SpanID(), sc.TraceID(), sc.SpanID())
	}
	if n := len(msg.Headers); n != 1 {
		t.Errorf("%d headers after injecting over a stale traceparent, want 1", n)
	}
}

func equalHeader(a, b kafka.Header) bool { return a.Key == b.Key && string(a.Value) == string(b.Value) }
