// Package sagatest is the conformance suite of the saga consumer kit, in the manner of
// Watermill's tests.TestPubSub: every service runs it against its own consumer, wired to its own
// real database, so the properties every consumer must have are written once and checked
// everywhere:
//
//   - a duplicate delivery has one effect, and the second delivery's span says it was a duplicate;
//   - two deliveries of one event at the same moment still have one effect;
//   - a malformed message, and an event of a routed type whose payload does not fit it, are
//     permanent errors (dead-lettered) that write nothing;
//   - an event of a type the service does not handle is recorded and skipped;
//   - an unknown envelope version is a permanent error;
//   - the trace goes on: the consumer's span is a child of the delivery's, and the events the use
//     case emits carry the same trace.
//
// A service's test calls Run with a setup function returning a Subject (see its fields).
package sagatest

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/kafka"
	"github.com/tracecart/tracecart/shared/postgres/pgtest"
	"github.com/tracecart/tracecart/shared/sagakit"
	"github.com/tracecart/tracecart/shared/telemetry"
)

// Telemetry is what setup must build the consumer with, so the suite can see its spans.
type Telemetry struct {
	TracerProvider trace.TracerProvider
	MeterProvider  *sdkmetric.MeterProvider
}

// Subject is one service's consumer and what the suite needs to observe it.
type Subject struct {
	// Consumer is the service's saga consumer, built as the service's run builds it but with the
	// Telemetry the suite passed to setup.
	Consumer *sagakit.Consumer
	// DB is the service's database: the suite reads processed_events and the outbox.
	DB *pgxpool.Pool
	// Event returns a new event of a routed type, with whatever it needs arranged (the order it
	// is about exists, the wallet can pay), whose handling emits at least one event through the
	// outbox keyed by the event's order.
	Event func(t *testing.T) events.Envelope
	// Effects returns how many times ev's effect shows in the service's own state (a status
	// changed, a wallet debited, stock taken): 0 before it is handled, 1 after, and still 1 after
	// any number of duplicates.
	Effects func(t *testing.T, ev events.Envelope) int
}

// Run runs the suite. setup is called once per test, each with fresh telemetry.
func Run(t *testing.T, setup func(t *testing.T, tel Telemetry) Subject) {
	tests := []struct {
		name string
		run  func(t *testing.T, s Subject, spans *tracetest.SpanRecorder, tp trace.TracerProvider)
	}{
		{"DuplicateHasOneEffect", duplicateHasOneEffect},
		{"ConcurrentDuplicatesHaveOneEffect", concurrentDuplicatesHaveOneEffect},
		{"MalformedIsDeadLettered", malformedIsDeadLettered},
		{"UnknownTypeIsSkippedWithoutATrace", unknownTypeIsSkipped},
		{"UnknownVersionIsDeadLettered", unknownVersionIsDeadLettered},
		{"TraceContinues", traceContinues},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spans := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
			mp := sdkmetric.NewMeterProvider()
			t.Cleanup(func() { _ = tp.Shutdown(context.Background()); _ = mp.Shutdown(context.Background()) })
			tt.run(t, setup(t, Telemetry{TracerProvider: tp, MeterProvider: mp}), spans, tp)
		})
	}
}

func duplicateHasOneEffect(t *testing.T, s Subject, spans *tracetest.SpanRecorder, _ trace.TracerProvider) {
	ev := s.Event(t)
	if n := s.Effects(t, ev); n != 0 {
		t.Fatalf("before handling, Effects = %d, want 0", n)
	}
	deliver(t, s, ev)
	emitted := len(pgtest.OutboxEvents(t, s.DB, ev.OrderID.String()))
	if emitted == 0 {
		t.Fatalf("handling %s emitted nothing; the Subject's Event must emit an event", ev.Type)
	}
	if !recorded(t, s, ev) {
		t.Fatalf("%s was handled but not recorded in the inbox", ev.Type)
	}
	for range 2 {
		deliver(t, s, ev)
	}
	if n := s.Effects(t, ev); n != 1 {
		t.Errorf("after three deliveries, Effects = %d, want 1", n)
	}
	if n := len(pgtest.OutboxEvents(t, s.DB, ev.OrderID.String())); n != emitted {
		t.Errorf("duplicates emitted more events: %d, first delivery %d", n, emitted)
	}
	handled := handleSpans(spans, ev)
	if len(handled) != 3 {
		t.Fatalf("%d %q spans, want one per delivery (3)", len(handled), "handle "+ev.Type)
	}
	for i, span := range handled {
		dup, _ := attr(span, "event.duplicate")
		if want := i > 0; dup.AsBool() != want {
			t.Errorf("delivery %d: event.duplicate = %v, want %v", i+1, dup.AsBool(), want)
		}
	}
}

func concurrentDuplicatesHaveOneEffect(t *testing.T, s Subject, _ *tracetest.SpanRecorder, _ trace.TracerProvider) {
	ev := s.Event(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = s.Consumer.Handle(t.Context(), record(t, ev)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("delivery %d: %v", i+1, err)
		}
	}
	if n := s.Effects(t, ev); n != 1 {
		t.Errorf("after four concurrent deliveries, Effects = %d, want 1", n)
	}
}

func malformedIsDeadLettered(t *testing.T, s Subject, _ *tracetest.SpanRecorder, _ trace.TracerProvider) {
	ev := s.Event(t)
	notAnEvent := kafka.Record{Topic: s.Consumer.Topics()[0], Value: []byte(`{"id": 42`)}
	if err := s.Consumer.Handle(t.Context(), notAnEvent); !kafka.IsPermanent(err) {
		t.Errorf("a message that is not JSON: err = %v, want a permanent error", err)
	}
	wrongShape := ev
	wrongShape.Payload = json.RawMessage(`["not", "an", "object"]`)
	if err := s.Consumer.Handle(t.Context(), record(t, wrongShape)); !kafka.IsPermanent(err) {
		t.Errorf("%s with a payload of the wrong shape: err = %v, want a permanent error", ev.Type, err)
	}
	if recorded(t, s, wrongShape) {
		t.Error("the malformed event was recorded in the inbox; a replay after a fix would be skipped")
	}
	if n := s.Effects(t, ev); n != 0 {
		t.Errorf("the malformed event had an effect (Effects = %d)", n)
	}
	if n := len(pgtest.OutboxEvents(t, s.DB, ev.OrderID.String())); n != 0 {
		t.Errorf("the malformed event emitted %d events", n)
	}
}

// unknownTypeIsSkipped: a type the consumer has no route for costs nothing: no inbox row (no
// transaction at all), no span, no effect.
func unknownTypeIsSkipped(t *testing.T, s Subject, spans *tracetest.SpanRecorder, _ trace.TracerProvider) {
	ev := s.Event(t)
	ev.Type = "test.added-after-this-code-was-written"
	if err := s.Consumer.Handle(t.Context(), record(t, ev)); err != nil {
		t.Fatalf("an unknown event type: %v, want it skipped", err)
	}
	if recorded(t, s, ev) {
		t.Error("the unknown event type was recorded in the inbox: a transaction for nothing")
	}
	if n := len(handleSpans(spans, ev)); n != 0 {
		t.Errorf("the unknown event type has %d handle spans, want none", n)
	}
	if n := len(pgtest.OutboxEvents(t, s.DB, ev.OrderID.String())); n != 0 {
		t.Errorf("the unknown event type emitted %d events", n)
	}
}

func unknownVersionIsDeadLettered(t *testing.T, s Subject, _ *tracetest.SpanRecorder, _ trace.TracerProvider) {
	ev := s.Event(t)
	ev.Version = events.Version + 1
	if err := s.Consumer.Handle(t.Context(), record(t, ev)); !kafka.IsPermanent(err) {
		t.Errorf("version %d: err = %v, want a permanent error", ev.Version, err)
	}
	if n := s.Effects(t, ev); n != 0 {
		t.Errorf("an event of an unknown version had an effect (Effects = %d)", n)
	}
}

func traceContinues(t *testing.T, s Subject, spans *tracetest.SpanRecorder, tp trace.TracerProvider) {
	ev := s.Event(t)
	ctx, delivery := tp.Tracer("sagatest").Start(t.Context(), "process "+s.Consumer.Topics()[0])
	if err := s.Consumer.Handle(ctx, record(t, ev)); err != nil {
		t.Fatal(err)
	}
	delivery.End()

	handled := handleSpans(spans, ev)
	if len(handled) != 1 {
		t.Fatalf("%d %q spans, want 1", len(handled), "handle "+ev.Type)
	}
	if got, want := handled[0].Parent().SpanID(), delivery.SpanContext().SpanID(); got != want {
		t.Errorf("the consumer's span has parent %s, want the delivery's span %s", got, want)
	}
	for _, e := range pgtest.OutboxEvents(t, s.DB, ev.OrderID.String()) {
		stored, ok := telemetry.Resume(t.Context(), propagation.MapCarrier(e.Headers))
		if !ok {
			t.Errorf("emitted %s carries no trace context", e.Envelope.Type)
			continue
		}
		if got, want := trace.SpanContextFromContext(stored).TraceID(), delivery.SpanContext().TraceID(); got != want {
			t.Errorf("emitted %s is in trace %s, want the delivery's trace %s", e.Envelope.Type, got, want)
		}
	}
}

// deliver hands ev to the consumer and fails the test on an error.
func deliver(t *testing.T, s Subject, ev events.Envelope) {
	t.Helper()
	if err := s.Consumer.Handle(t.Context(), record(t, ev)); err != nil {
		t.Fatalf("handle %s: %v", ev.Type, err)
	}
}

// record encodes ev as the Kafka record the relay would publish.
func record(t *testing.T, ev events.Envelope) kafka.Record {
	t.Helper()
	value, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	topic, err := events.TopicOf(ev.Type)
	if err != nil {
		topic = "unknown"
	}
	return kafka.Record{Topic: topic, Key: ev.OrderID.String(), Value: value, Headers: map[string]string{
		kafka.HeaderEventID: ev.ID.String(), kafka.HeaderEventType: ev.Type,
	}}
}

// recorded reports whether the consumer's inbox holds ev.
func recorded(t *testing.T, s Subject, ev events.Envelope) bool {
	t.Helper()
	return pgtest.Count(t, s.DB, `SELECT count(*) FROM processed_events WHERE consumer = $1 AND event_id = $2`,
		s.Consumer.Name(), ev.ID.String()) == 1
}

// handleSpans returns the consumer's spans for ev, in the order they ended.
func handleSpans(spans *tracetest.SpanRecorder, ev events.Envelope) []sdktrace.ReadOnlySpan {
	var got []sdktrace.ReadOnlySpan
	for _, span := range spans.Ended() {
		if id, ok := attr(span, "event.id"); ok && id.AsString() == ev.ID.String() && span.Name() == "handle "+ev.Type {
			got = append(got, span)
		}
	}
	return got
}

func attr(span sdktrace.ReadOnlySpan, key attribute.Key) (attribute.Value, bool) {
	for _, kv := range span.Attributes() {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// NewEvent builds an envelope of eventType about order orderID with payload, for a Subject's
// Event function.
func NewEvent(t *testing.T, eventType string, orderID uuid.UUID, payload any) events.Envelope {
	t.Helper()
	env, err := events.New(eventType, orderID, payload)
	if err != nil {
		t.Fatal(err)
	}
	return env
}
