package kafka_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/tracecart/tracecart/shared/kafka"
	"github.com/tracecart/tracecart/shared/testinfra"
)

// TestDeadLetterReplay dead-letters a message whose handler has a bug, lists it, and replays it
// twice after the fix. The listing must say what failed and where the message came from; the
// handler (idempotent by event ID, as tracecart's inbox makes every handler) must apply it once;
// and the replay must stay in the message's trace.
func TestDeadLetterReplay(t *testing.T) {
	brokers := []string{testinfra.Kafka(t)}
	tel := newTelemetry(t)
	topic := newTopic(t, brokers, 1)
	group := testinfra.UniqueName(t, "group")

	var buggy atomic.Bool
	buggy.Store(true)
	var mu sync.Mutex
	applied := map[string]int{} // effects by event ID, as the inbox records them
	startConsumer(t, brokers, tel.consumerOptions(kafka.ConsumerOptions{
		GroupID: group,
		Topics:  []string{topic},
		Handler: func(ctx context.Context, rec kafka.Record) error {
			if buggy.Load() {
				return kafka.Permanent(errors.New("decode order.cancelled: unknown reason \"fraud\""))
			}
			mu.Lock()
			defer mu.Unlock()
			applied[rec.Headers[kafka.HeaderEventID]]++
			return nil
		},
	}))
	producer := newProducer(t, brokers, tel.producerOptions())
	err := producer.Publish(t.Context(), kafka.Record{
		Topic: topic, Key: "order-1", Value: []byte(`{"type":"order.cancelled"}`),
		Headers: map[string]string{kafka.HeaderEventID: "ev-1", "event-type": "order.cancelled"},
	})
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	eventually(t, func() bool { return tel.sum(t, kafka.MetricDeadLettered) == 1 }, "the message to be dead-lettered")

	letters, err := kafka.ReadDeadLetters(t.Context(), brokers, group+".dlq")
	if err != nil || len(letters) != 1 {
		t.Fatalf("ReadDeadLetters = %d letters, %v; want 1", len(letters), err)
	}
	dl := letters[0]
	if dl.OriginalTopic != topic || dl.ConsumerGroup != group || dl.Attempts != 1 ||
		dl.Error != `decode order.cancelled: unknown reason "fraud"` || dl.Record.Key != "order-1" ||
		dl.Record.Headers[kafka.HeaderEventID] != "ev-1" || dl.Record.Headers["event-type"] != "order.cancelled" {
		t.Errorf("dead letter = %+v, want where it came from, the error and the original key and headers", dl)
	}

	buggy.Store(false) // the fix is deployed
	for range 2 {
		if err := producer.Replay(t.Context(), dl); err != nil {
			t.Fatalf("Replay: %v", err)
		}
	}
	processes := tel.waitSpans(t, "process "+topic, trace.SpanKindConsumer, 3)
	mu.Lock()
	got := applied["ev-1"]
	mu.Unlock()
	if got != 2 {
		t.Errorf("handler saw the replayed event %d times, want 2 (one per replay; its inbox makes that one effect)", got)
	}
	original := processes[0].SpanContext.TraceID()
	replaySpan := tel.waitSpans(t, "replay "+topic, trace.SpanKindInternal, 2)[0]
	for _, p := range processes[1:] {
		if p.SpanContext.TraceID() != original {
			t.Errorf("replayed message processed in trace %s, want the original trace %s", p.SpanContext.TraceID(), original)
		}
	}
	if replaySpan.SpanContext.TraceID() != original {
		t.Errorf("replay span in trace %s, want the original trace %s", replaySpan.SpanContext.TraceID(), original)
	}

	if err := producer.Replay(t.Context(), kafka.DeadLetter{Topic: group + ".dlq"}); !errors.Is(err, kafka.ErrNotDeadLetter) {
		t.Errorf("Replay of a message without dlq headers = %v, want ErrNotDeadLetter", err)
	}
}
