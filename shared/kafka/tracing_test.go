package kafka_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracecart/tracecart/shared/kafka"
	"github.com/tracecart/tracecart/shared/testinfra"
)

// TestTraceSurvivesRoundTrip is the reason this package exists: the consumer's span continues the
// producer's trace, as the child of the send span, so one trace follows an order across Kafka.
func TestTraceSurvivesRoundTrip(t *testing.T) {
	brokers := []string{testinfra.Kafka(t)}
	tel := newTelemetry(t)
	topic := newTopic(t, brokers, 3)
	group := testinfra.UniqueName(t, "group")

	handled := make(chan trace.SpanContext, 1)
	startConsumer(t, brokers, tel.consumerOptions(kafka.ConsumerOptions{
		GroupID: group,
		Topics:  []string{topic},
		Handler: func(ctx context.Context, rec kafka.Record) error {
			handled <- trace.SpanContextFromContext(ctx)
			return nil
		},
	}))

	ctx, request := tel.tracer.Tracer("test").Start(t.Context(), "POST /orders")
	err := newProducer(t, brokers, tel.producerOptions()).Publish(ctx, kafka.Record{
		Topic:   topic,
		Key:     "order-1",
		Value:   []byte(`{"orderId":"order-1"}`),
		Headers: map[string]string{kafka.HeaderEventID: "event-1"},
	})
	request.End()
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}

	var handlerSpan trace.SpanContext
	select {
	case handlerSpan = <-handled:
	case <-t.Context().Done():
		t.Fatal("test ended before the handler ran")
	}

	send := tel.span(t, "send "+topic, trace.SpanKindProducer)
	process := tel.span(t, "process "+topic, trace.SpanKindConsumer)

	if send.Parent.SpanID() != request.SpanContext().SpanID() {
		t.Errorf("send span's parent = %s, want the request span %s", send.Parent.SpanID(), request.SpanContext().SpanID())
	}
	if process.SpanContext.TraceID() != send.SpanContext.TraceID() {
		t.Errorf("process span is in trace %s, want the producer's trace %s", process.SpanContext.TraceID(), send.SpanContext.TraceID())
	}
	if process.Parent.SpanID() != send.SpanContext.SpanID() {
		t.Errorf("process span's parent = %s, want the send span %s", process.Parent.SpanID(), send.SpanContext.SpanID())
	}
	if handlerSpan.SpanID() != process.SpanContext.SpanID() {
		t.Errorf("handler's context carries span %s, want the process span %s", handlerSpan.SpanID(), process.SpanContext.SpanID())
	}

	partition := attrValue(process.Attributes, semconv.MessagingDestinationPartitionIDKey)
	assertAttributes(t, "send", send.Attributes, map[attribute.Key]string{
		semconv.MessagingSystemKey:                 "kafka",
		semconv.MessagingOperationTypeKey:          "send",
		semconv.MessagingOperationNameKey:          "send",
		semconv.MessagingDestinationNameKey:        topic,
		semconv.MessagingKafkaMessageKeyKey:        "order-1",
		semconv.MessagingMessageIDKey:              "event-1",
		semconv.MessagingDestinationPartitionIDKey: partition, // learned from the writer's completion
	})
	assertAttributes(t, "process", process.Attributes, map[attribute.Key]string{
		semconv.MessagingSystemKey:            "kafka",
		semconv.MessagingOperationTypeKey:     "process",
		semconv.MessagingOperationNameKey:     "process",
		semconv.MessagingDestinationNameKey:   topic,
		semconv.MessagingConsumerGroupNameKey: group,
		semconv.MessagingKafkaMessageKeyKey:   "order-1",
		semconv.MessagingMessageIDKey:         "event-1",
		semconv.MessagingKafkaOffsetKey:       "0",
	})
	if partition == "" {
		t.Error("process span has no partition attribute")
	}

	eventually(t, func() bool { return tel.sum(t, "messaging.client.sent.messages") == 1 }, "one sent message to be counted")
	eventually(t, func() bool { return tel.sum(t, "messaging.client.consumed.messages") == 1 }, "one consumed message to be counted")
}

// TestPublishContinuesStoredTraceContext covers the outbox relay: it publishes from a background
// loop whose ctx has no span, and the trace context of the request that wrote the outbox row is in
// the record's headers. The send span must continue that trace, and the message must carry the
// send span's context, not the stored one.
func TestPublishContinuesStoredTraceContext(t *testing.T) {
	brokers := []string{testinfra.Kafka(t)}
	tel := newTelemetry(t)
	topic := newTopic(t, brokers, 1)

	_, request := tel.tracer.Tracer("test").Start(t.Context(), "POST /orders")
	request.End()
	stored := map[string]string{kafka.HeaderEventID: "event-2"}
	tel.propagator.Inject(trace.ContextWithSpan(t.Context(), request), propagation.MapCarrier(stored))

	err := newProducer(t, brokers, tel.producerOptions()).Publish(t.Context(), kafka.Record{
		Topic: topic, Key: "order-2", Value: []byte("{}"), Headers: stored,
	})
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}

	send := tel.span(t, "send "+topic, trace.SpanKindProducer)
	if send.SpanContext.TraceID() != request.SpanContext().TraceID() {
		t.Errorf("send span is in trace %s, want the stored trace %s", send.SpanContext.TraceID(), request.SpanContext().TraceID())
	}
	if send.Parent.SpanID() != request.SpanContext().SpanID() || !send.Parent.IsRemote() {
		t.Errorf("send span's parent = %s (remote %v), want the stored span %s", send.Parent.SpanID(), send.Parent.IsRemote(), request.SpanContext().SpanID())
	}

	msg := readPartition(t, brokers, topic, 0, 1)[0]
	carried := trace.SpanContextFromContext(tel.propagator.Extract(context.Background(), (*kafka.HeaderCarrier)(&msg.Headers)))
	if carried.SpanID() != send.SpanContext.SpanID() {
		t.Errorf("message carries span %s, want the send span %s", carried.SpanID(), send.SpanContext.SpanID())
	}
	if got := header(msg, kafka.HeaderEventID); got != "event-2" {
		t.Errorf("event-id header = %q, want event-2: the record's own headers must be kept", got)
	}
	if stored["traceparent"] == header(msg, "traceparent") {
		t.Error("the message carries the stored traceparent; want the send span's")
	}
}

// attrValue returns the value of key among attrs as a string, or "".
func attrValue(attrs []attribute.KeyValue, key attribute.Key) string {
	for _, a := range attrs {
		if a.Key == key {
			return a.Value.Emit()
		}
	}
	return ""
}

func assertAttributes(t *testing.T, span string, attrs []attribute.KeyValue, want map[attribute.Key]string) {
	t.Helper()
	for key, value := range want {
		if got := attrValue(attrs, key); got != value {
			t.Errorf("%s span: %s = %q, want %q", span, key, got, value)
		}
	}
}
