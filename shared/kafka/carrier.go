package kafka

import (
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/propagation"
)

// HeaderCarrier lets an OpenTelemetry propagator read and write the headers of a kafka-go message,
// which is how the W3C trace context ("traceparent") travels from producer to consumer.
//
// It is a named slice so that a message's headers can be used in place without copying:
//
//	propagator.Inject(ctx, (*kafka.HeaderCarrier)(&msg.Headers))
//
// Kafka header keys are case-sensitive and may repeat; Get returns the first value of a key and
// Set replaces every existing value, so a re-injected context never leaves a stale "traceparent"
// behind. For [Record.Headers], a plain map, use [propagation.MapCarrier] instead.
type HeaderCarrier []kafka.Header

var _ propagation.TextMapCarrier = (*HeaderCarrier)(nil)

// Get returns the value of the first header named key, or "" when there is none.
func (c *HeaderCarrier) Get(key string) string {
	for _, h := range *c {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// Set stores value under key, replacing any headers that already have that key.
func (c *HeaderCarrier) Set(key, value string) {
	// Build a new slice rather than editing in place: copies of a kafka.Message share the backing
	// array of their headers, and a write here must not show up in a copy held elsewhere.
	headers := make([]kafka.Header, 0, len(*c)+1)
	for _, h := range *c {
		if h.Key != key {
			headers = append(headers, h)
		}
	}
	*c = append(headers, kafka.Header{Key: key, Value: []byte(value)})
}

// Keys returns the header keys in order, each once.
func (c *HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(*c))
	seen := make(map[string]bool, len(*c))
	for _, h := range *c {
		if !seen[h.Key] {
			seen[h.Key] = true
			keys = append(keys, h.Key)
		}
	}
	return keys
}
