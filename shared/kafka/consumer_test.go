package kafka_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracecart/tracecart/shared/kafka"
	"github.com/tracecart/tracecart/shared/testinfra"
)

// TestPoisonMessageIsDeadLetteredAndDoesNotBlock publishes a message the handler cannot process and
// then a good one with the same key, so both are on one partition, in that order. The poison
// message must end up on the dead-letter topic, unchanged and with the error attached, and the good
// one must still be processed.
func TestPoisonMessageIsDeadLetteredAndDoesNotBlock(t *testing.T) {
	tests := []struct {
		name         string
		handle       func() error // what the handler does with the poison message
		wantErr      string       // the dlq-error header
		wantAttempts int
	}{
		{
			name:    "permanent error skips the retries",
			handle:  func() error { return kafka.Permanent(errors.New("decode order.created: unexpected end of JSON input")) },
			wantErr: "decode order.created: unexpected end of JSON input", wantAttempts: 1,
		},
		{
			name:    "a panic is permanent",
			handle:  func() error { var m map[string]int; m["boom"]++; return nil },
			wantErr: "handler panicked: assignment to entry in nil map", wantAttempts: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			brokers := []string{testinfra.Kafka(t)}
			tel := newTelemetry(t)
			topic := newTopic(t, brokers, 3)
			group := testinfra.UniqueName(t, "group")

			var seen collector
			startConsumer(t, brokers, tel.consumerOptions(kafka.ConsumerOptions{
				GroupID: group,
				Topics:  []string{topic},
				Backoff: fastRetries,
				Handler: func(ctx context.Context, rec kafka.Record) error {
					seen.add(rec)
					if string(rec.Value) == "poison" {
						return tt.handle()
					}
					return nil
				},
			}))

			err := newProducer(t, brokers, tel.producerOptions()).Publish(t.Context(),
				kafka.Record{Topic: topic, Key: "order-1", Value: []byte("poison"), Headers: map[string]string{kafka.HeaderEventID: "bad-1"}},
				kafka.Record{Topic: topic, Key: "order-1", Value: []byte("good")},
			)
			if err != nil {
				t.Fatalf("Publish: %v", err)
			}

			eventually(t, func() bool { return seen.has("good") }, "the message after the poison one to be handled")
			if got := seen.count("poison"); got != tt.wantAttempts {
				t.Errorf("handler ran %d times for the poison message, want %d", got, tt.wantAttempts)
			}

			dead := readPartition(t, brokers, group+".dlq", 0, 1)[0]
			if string(dead.Key) != "order-1" || string(dead.Value) != "poison" {
				t.Errorf("dead letter has key %q and value %q, want the original order-1 and poison", dead.Key, dead.Value)
			}
			poison := seen.first()
			for key, want := range map[string]string{
				kafka.HeaderEventID:              "bad-1",
				kafka.HeaderDLQError:             tt.wantErr,
				kafka.HeaderDLQOriginalTopic:     topic,
				kafka.HeaderDLQOriginalPartition: strconv.Itoa(poison.Partition),
				kafka.HeaderDLQOriginalOffset:    strconv.FormatInt(poison.Offset, 10),
				kafka.HeaderDLQConsumerGroup:     group,
				kafka.HeaderDLQAttempts:          strconv.Itoa(tt.wantAttempts),
			} {
				if got := header(dead, key); got != want {
					t.Errorf("dead letter header %s = %q, want %q", key, got, want)
				}
			}

			// The failed process span records every attempt, and the dead-letter send is its child.
			process := tel.waitSpans(t, "process "+topic, trace.SpanKindConsumer, 2)[0]
			if process.Status.Code != codes.Error {
				t.Errorf("poison message's process span has status %v, want Error", process.Status.Code)
			}
			if n := len(process.Events); n != tt.wantAttempts {
				t.Errorf("poison message's process span has %d events, want one per attempt (%d)", n, tt.wantAttempts)
			}
			send := tel.span(t, "send "+group+".dlq", trace.SpanKindProducer)
			if send.Parent.SpanID() != process.SpanContext.SpanID() {
				t.Errorf("dead-letter send span's parent = %s, want the failed process span %s", send.Parent.SpanID(), process.SpanContext.SpanID())
			}
			eventually(t, func() bool { return tel.sum(t, kafka.MetricDeadLettered) == 1 }, "one dead-lettered message to be counted")
		})
	}
}

// TestTransientFailureIsRetriedThenCommitted checks that a message whose handler fails twice and then
// succeeds is handled successfully exactly once, and that its offset is committed then: a new
// consumer in the same group does not see it again.
func TestTransientFailureIsRetriedThenCommitted(t *testing.T) {
	brokers := []string{testinfra.Kafka(t)}
	tel := newTelemetry(t)
	topic := newTopic(t, brokers, 1)
	group := testinfra.UniqueName(t, "group")
	producer := newProducer(t, brokers, tel.producerOptions())

	var calls, successes atomic.Int32
	first := startConsumer(t, brokers, tel.consumerOptions(kafka.ConsumerOptions{
		GroupID: group,
		Topics:  []string{topic},
		Backoff: fastRetries,
		Handler: func(ctx context.Context, rec kafka.Record) error {
			if calls.Add(1) <= 2 {
				return errors.New("update stock: deadlock detected")
			}
			successes.Add(1)
			return nil
		},
	}))
	if err := producer.Publish(t.Context(), kafka.Record{Topic: topic, Key: "order-1", Value: []byte("flaky")}); err != nil {
		t.Fatalf("Publish: %v", err)
	}

	process := tel.span(t, "process "+topic, trace.SpanKindConsumer) // ends after the commit
	if calls.Load() != 3 || successes.Load() != 1 {
		t.Errorf("handler ran %d times with %d successes, want 3 and 1", calls.Load(), successes.Load())
	}
	if process.Status.Code == codes.Error || len(process.Events) != 2 {
		t.Errorf("process span has status %v and %d events, want no error and the 2 failures", process.Status.Code, len(process.Events))
	}
	if err := first.stop(); err != nil {
		t.Fatalf("stop first consumer: %v", err)
	}

	var seen collector
	startConsumer(t, brokers, tel.consumerOptions(kafka.ConsumerOptions{
		GroupID: group,
		Topics:  []string{topic},
		Handler: func(ctx context.Context, rec kafka.Record) error { seen.add(rec); return nil },
	}))
	if err := producer.Publish(t.Context(), kafka.Record{Topic: topic, Key: "order-1", Value: []byte("marker")}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	eventually(t, func() bool { return seen.has("marker") }, "the second consumer to handle the marker")
	if got := seen.values(); !slices.Equal(got, []string{"marker"}) {
		t.Errorf("second consumer handled %q, want only the marker: the retried message was committed", got)
	}
	if tel.sum(t, kafka.MetricDeadLettered) != 0 {
		t.Error("a message that finally succeeded was dead-lettered")
	}
}

// TestTransientFaultHoldsItsPartitionUntilItClears is the consumer's error policy seen from outside.
// A handler fails with a transient error (the database is down) for several seconds, far longer
// than any bounded retry budget (the old policy dead-lettered after about one second). The message
// must not be dead-lettered, its effect must happen exactly once when the fault clears, the stall
// must be visible while it lasts (Stalled and the stall gauge), and a partition without a fault
// must go on meanwhile.
func TestTransientFaultHoldsItsPartitionUntilItClears(t *testing.T) {
	const faultFor = 5 * time.Second
	brokers := []string{testinfra.Kafka(t)}
	tel := newTelemetry(t)
	topic := newTopic(t, brokers, 2)
	group := testinfra.UniqueName(t, "group")

	var faulty atomic.Bool
	faulty.Store(true)
	var effects collector // records are added only when the handler succeeds
	consumer := startConsumer(t, brokers, tel.consumerOptions(kafka.ConsumerOptions{
		GroupID:        group,
		Topics:         []string{topic},
		Backoff:        kafka.Backoff{Initial: 50 * time.Millisecond, Max: 500 * time.Millisecond},
		StallThreshold: time.Second,
		Handler: func(ctx context.Context, rec kafka.Record) error {
			if string(rec.Value) == "needs-db" && faulty.Load() {
				return errors.New("debit wallet: dial tcp 10.0.0.5:5432: connect: connection refused")
			}
			effects.add(rec)
			return nil
		},
	})).consumer

	// The key decides the partition; the other keys spread over both partitions, so at least
	// one of them lands on the partition the fault does not hold.
	recs := []kafka.Record{{Topic: topic, Key: "order-stuck", Value: []byte("needs-db")}}
	for i := range 8 {
		recs = append(recs, kafka.Record{Topic: topic, Key: "order-" + strconv.Itoa(i), Value: []byte("other-" + strconv.Itoa(i))})
	}
	start := time.Now()
	if err := newProducer(t, brokers, tel.producerOptions()).Publish(t.Context(), recs...); err != nil {
		t.Fatalf("Publish: %v", err)
	}

	// While the fault lasts: the stall is reported, and the other partition is handled.
	eventually(t, func() bool { return consumer.Stalled(t.Context()) != nil }, "Stalled to report the held partition")
	if err := consumer.Stalled(t.Context()); !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Stalled = %q, want it to name the cause", err)
	}
	if tel.gauge(t, kafka.MetricConsumerStall) <= 0 {
		t.Errorf("%s = 0 while a partition is held back", kafka.MetricConsumerStall)
	}
	eventually(t, func() bool { return effects.partitions() > 0 }, "a partition without the fault to be handled")
	if effects.has("needs-db") {
		t.Fatal("the faulty message had an effect while its fault lasted")
	}

	time.Sleep(time.Until(start.Add(faultFor)))
	faulty.Store(false)
	eventually(t, func() bool { return effects.has("needs-db") }, "the held message to be handled once the fault cleared")
	eventually(t, func() bool { return effects.count("needs-db") == 1 && len(effects.values()) == len(recs) }, "every message once")
	if got := effects.count("needs-db"); got != 1 {
		t.Errorf("the held message had its effect %d times, want 1", got)
	}
	if n := tel.sum(t, kafka.MetricDeadLettered); n != 0 {
		t.Errorf("%d messages dead-lettered for a transient fault, want 0", n)
	}
	if tel.sum(t, kafka.MetricConsumerRetries) < 5 {
		t.Errorf("%s = %d, want the failed attempts counted", kafka.MetricConsumerRetries, tel.sum(t, kafka.MetricConsumerRetries))
	}
	if err := consumer.Stalled(t.Context()); err != nil {
		t.Errorf("Stalled after recovery = %v, want nil", err)
	}
	if got := tel.gauge(t, kafka.MetricConsumerStall); got != 0 {
		t.Errorf("%s = %v after recovery, want 0", kafka.MetricConsumerStall, got)
	}
}

// TestUnsettledMessageIsRedeliveredAfterRestart stops a consumer while it waits to retry a failing
// message. A new consumer in the same group must get that message again (at-least-once) and not
// the one before it, which had been committed.
func TestUnsettledMessageIsRedeliveredAfterRestart(t *testing.T) {
	brokers := []string{testinfra.Kafka(t)}
	tel := newTelemetry(t)
	topic := newTopic(t, brokers, 1)
	group := testinfra.UniqueName(t, "group")

	err := newProducer(t, brokers, tel.producerOptions()).Publish(t.Context(),
		kafka.Record{Topic: topic, Key: "order-1", Value: []byte("m1")},
		kafka.Record{Topic: topic, Key: "order-1", Value: []byte("m2")},
		kafka.Record{Topic: topic, Key: "order-1", Value: []byte("m3")},
	)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}

	var firstSeen collector
	first := startConsumer(t, brokers, tel.consumerOptions(kafka.ConsumerOptions{
		GroupID: group,
		Topics:  []string{topic},
		Backoff: kafka.Backoff{Initial: time.Hour, Max: time.Hour}, // m2 waits for a retry until the stop
		Handler: func(ctx context.Context, rec kafka.Record) error {
			firstSeen.add(rec)
			if string(rec.Value) == "m2" {
				return errors.New("charge wallet: payment provider unavailable")
			}
			return nil
		},
	}))
	eventually(t, func() bool { return firstSeen.has("m2") }, "the first consumer to fail on m2")
	if err := first.stop(); err != nil { // Run must return promptly from the backoff, with nil
		t.Fatalf("stop first consumer: %v", err)
	}

	var secondSeen collector
	startConsumer(t, brokers, tel.consumerOptions(kafka.ConsumerOptions{
		GroupID: group,
		Topics:  []string{topic},
		Handler: func(ctx context.Context, rec kafka.Record) error { secondSeen.add(rec); return nil },
	}))
	eventually(t, func() bool { return secondSeen.has("m3") }, "the second consumer to reach m3")
	if got := secondSeen.values(); !slices.Equal(got, []string{"m2", "m3"}) {
		t.Errorf("second consumer handled %q, want m2 (never settled) and m3, and not m1 (committed)", got)
	}
}

// TestShutdownFinishesMessageInHand cancels Run while the handler is busy. The handler's context
// must stay usable, Run must return nil once the handler is done, and the message must be
// committed so that the next consumer of the group starts after it.
func TestShutdownFinishesMessageInHand(t *testing.T) {
	brokers := []string{testinfra.Kafka(t)}
	tel := newTelemetry(t)
	topic := newTopic(t, brokers, 1)
	group := testinfra.UniqueName(t, "group")

	err := newProducer(t, brokers, tel.producerOptions()).Publish(t.Context(),
		kafka.Record{Topic: topic, Key: "order-1", Value: []byte("m1")},
		kafka.Record{Topic: topic, Key: "order-1", Value: []byte("m2")},
	)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}

	inHand, release := make(chan struct{}), make(chan struct{})
	handlerCtxErr := make(chan error, 1)
	first := startConsumer(t, brokers, tel.consumerOptions(kafka.ConsumerOptions{
		GroupID: group,
		Topics:  []string{topic},
		Handler: func(ctx context.Context, rec kafka.Record) error {
			if string(rec.Value) == "m1" {
				close(inHand)
				<-release
				handlerCtxErr <- ctx.Err()
			}
			return nil
		},
	}))

	select {
	case <-inHand:
	case <-time.After(waitTimeout):
		t.Fatal("timed out waiting for the handler to get m1")
	}
	first.cancel()
	close(release)
	if err := first.stop(); err != nil {
		t.Fatalf("stop first consumer: %v", err)
	}
	if err := <-handlerCtxErr; err != nil {
		t.Errorf("handler's context was cancelled by the shutdown (%v); the message in hand must be finished", err)
	}

	var seen collector
	startConsumer(t, brokers, tel.consumerOptions(kafka.ConsumerOptions{
		GroupID: group,
		Topics:  []string{topic},
		Handler: func(ctx context.Context, rec kafka.Record) error { seen.add(rec); return nil },
	}))
	eventually(t, func() bool { return seen.has("m2") }, "the second consumer to handle m2")
	if got := seen.values(); !slices.Equal(got, []string{"m2"}) {
		t.Errorf("second consumer handled %q, want only m2: m1 was finished and committed at shutdown", got)
	}
}

// TestRunReportsInvalidOptions checks that a misconfigured consumer fails at Run with a clear error
// instead of panicking in kafka-go.
func TestRunReportsInvalidOptions(t *testing.T) {
	c := kafka.NewConsumer([]string{"127.0.0.1:1"}, kafka.ConsumerOptions{GroupID: "g", Handler: func(context.Context, kafka.Record) error { return nil }})
	defer c.Close()
	if err := c.Run(t.Context()); !errors.Is(err, kafka.ErrInvalidOptions) {
		t.Errorf("Run without topics = %v, want ErrInvalidOptions", err)
	}
}

// TestDeadLetterCounterStartsAtZeroPerTopic: the DeadLetters alert is an increase() of this
// counter, which sees a service's first dead letter only if the series existed, at zero, before.
func TestDeadLetterCounterStartsAtZeroPerTopic(t *testing.T) {
	brokers := []string{testinfra.Kafka(t)}
	tel := newTelemetry(t)
	topics := []string{newTopic(t, brokers, 1), newTopic(t, brokers, 1)}
	startConsumer(t, brokers, tel.consumerOptions(kafka.ConsumerOptions{
		GroupID: testinfra.UniqueName(t, "group"), Topics: topics, Backoff: fastRetries,
		Handler: func(context.Context, kafka.Record) error { return nil },
	}))
	eventually(t, func() bool {
		var rm metricdata.ResourceMetrics
		if err := tel.metrics.Collect(t.Context(), &rm); err != nil {
			t.Fatalf("collect metrics: %v", err)
		}
		zero := map[string]bool{}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if data, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == kafka.MetricDeadLettered {
					for _, dp := range data.DataPoints {
						topic, _ := dp.Attributes.Value("messaging.destination.name")
						zero[topic.AsString()] = dp.Value == 0
					}
				}
			}
		}
		return zero[topics[0]] && zero[topics[1]]
	}, "a zero dead-letter series for each of the consumer's topics")
}
