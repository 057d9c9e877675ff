package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tracecart/tracecart/shared/kafka"
	"github.com/tracecart/tracecart/shared/outbox"
	"github.com/tracecart/tracecart/shared/postgres"
	"github.com/tracecart/tracecart/shared/testinfra"
)

func TestRelayWakesOnCommit(t *testing.T) {
	e := newEnv(t)
	// Polling alone would take a minute: anything faster is the wake-up after the commit.
	e.startRelay(t, e.producer, outbox.RelayOptions{PollInterval: time.Minute})

	var want []outbox.Message
	for round := range 3 {
		msgs := e.messages(5)
		start := time.Now()
		e.add(t, msgs...)
		e.waitAllPublished(t)
		t.Logf("round %d: published %v after the commit", round, time.Since(start))
		want = append(want, msgs...)
	}

	// One partition, so the topic's order is the relay's order: the order the rows were added in.
	got := e.readTopic(t)
	if len(got) != len(want) {
		t.Fatalf("topic has %d messages, want %d", len(got), len(want))
	}
	for i, msg := range got {
		if id := header(msg, kafka.HeaderEventID); id != want[i].ID.String() {
			t.Errorf("message %d: event-id = %s, want %s", i, id, want[i].ID)
		}
		if string(msg.Key) != want[i].Key || string(msg.Value) != string(want[i].Payload) {
			t.Errorf("message %d: key/value = %s/%s, want %s/%s", i, msg.Key, msg.Value, want[i].Key, want[i].Payload)
		}
		if typ := header(msg, kafka.HeaderEventType); typ != want[i].Type {
			t.Errorf("message %d: event-type = %q, want %q", i, typ, want[i].Type)
		}
	}
}

// TestRelayPollsForRowsNobodyAnnounced: rows committed without a wake-up after the commit (here
// Add outside Atomic's context, whose wake-up comes before the commit; in production, a replica
// that died before publishing its rows) are published at the next poll.
func TestRelayPollsForRowsNobodyAnnounced(t *testing.T) {
	e := newEnv(t)
	e.startRelay(t, e.producer, outbox.RelayOptions{PollInterval: 200 * time.Millisecond})
	time.Sleep(100 * time.Millisecond) // let the start-up drain find nothing

	msgs := e.messages(3)
	err := postgres.InTx(t.Context(), e.pool, func(tx pgx.Tx) error {
		return outbox.Add(t.Context(), tx, msgs...) // not Atomic's context: no wake-up after commit
	})
	if err != nil {
		t.Fatal(err)
	}
	e.waitAllPublished(t)
	counts := e.deliveries(t)
	for _, m := range msgs {
		if counts[m.ID.String()] != 1 {
			t.Errorf("event %s published %d times, want 1", m.ID, counts[m.ID.String()])
		}
	}
}

// crashingPublisher kills its relay in the middle of a batch, as if the process died there: after
// Kafka acknowledged the batch (before the relay could mark its rows published) or before the
// batch reached Kafka at all.
type crashingPublisher struct {
	next         outbox.Publisher
	crash        context.CancelFunc
	publishFirst bool
	published    atomic.Int64
}

func (p *crashingPublisher) Publish(ctx context.Context, recs ...kafka.Record) error {
	if !p.publishFirst {
		p.crash()
		return ctx.Err()
	}
	if err := p.next.Publish(ctx, recs...); err != nil {
		return err
	}
	p.published.Add(int64(len(recs)))
	p.crash()
	return nil // the publish itself succeeded; the relay dies on its way to the UPDATE
}

func TestRelayCrashLosesNothing(t *testing.T) {
	tests := []struct {
		name         string
		publishFirst bool
	}{
		{name: "between publishing and marking", publishFirst: true},
		{name: "while publishing", publishFirst: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			msgs := e.messages(5)
			e.add(t, msgs...)

			ctx, crash := context.WithCancel(t.Context())
			crasher := &crashingPublisher{next: e.producer, crash: crash, publishFirst: tt.publishFirst}
			done := make(chan error, 1)
			go func() { done <- outbox.NewRelay(e.pool, crasher, outbox.RelayOptions{}).Run(ctx) }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("crashed relay's Run: %v", err)
				}
			case <-time.After(waitTimeout):
				t.Fatal("relay did not crash")
			}

			if tt.publishFirst && crasher.published.Load() != int64(len(msgs)) {
				t.Fatalf("the relay published %d events before crashing, want %d", crasher.published.Load(), len(msgs))
			}
			if got := e.count(t, "SELECT count(*) FROM outbox WHERE published_at IS NULL"); got != len(msgs) {
				t.Fatalf("%d rows unpublished after the crash, want all %d", got, len(msgs))
			}

			// A new instance of the service starts.
			e.startRelay(t, e.producer, outbox.RelayOptions{})
			e.waitAllPublished(t)

			counts := e.deliveries(t)
			for _, m := range msgs {
				if counts[m.ID.String()] < 1 {
					t.Errorf("event %s was lost", m.ID)
				}
			}
			t.Logf("deliveries per event: %v", counts)
		})
	}
}

// gatedPublisher lets a test hold a relay in the middle of its batch, with the batch's rows locked.
type gatedPublisher struct {
	next      outbox.Publisher
	before    func() // runs before each publish
	after     func() // runs after each successful publish
	published atomic.Int64
}

func (p *gatedPublisher) Publish(ctx context.Context, recs ...kafka.Record) error {
	p.before()
	if err := p.next.Publish(ctx, recs...); err != nil {
		return err
	}
	p.published.Add(int64(len(recs)))
	p.after()
	return nil
}

func TestConcurrentRelaysPublishEachEventOnce(t *testing.T) {
	e := newEnv(t)
	var msgs []outbox.Message
	for range 4 {
		batch := e.messages(5)
		e.add(t, batch...)
		msgs = append(msgs, batch...)
	}
	opts := outbox.RelayOptions{BatchSize: 5, PollInterval: time.Minute}

	// Relay A claims the first batch and holds it until relay B has published another one. If B
	// waited for A's locks instead of skipping them, neither would get anywhere.
	aHolds, bPublished := make(chan struct{}), make(chan struct{})
	var aOnce, bOnce sync.Once
	relayA := &gatedPublisher{next: e.producer, after: func() {}, before: func() {
		aOnce.Do(func() {
			close(aHolds)
			select {
			case <-bPublished:
			case <-time.After(waitTimeout):
				t.Error("relay B published nothing while relay A held its batch")
			}
		})
	}}
	relayB := &gatedPublisher{next: e.producer, before: func() {}, after: func() { bOnce.Do(func() { close(bPublished) }) }}

	e.startRelay(t, relayA, opts)
	select {
	case <-aHolds:
	case <-time.After(waitTimeout):
		t.Fatal("relay A did not claim a batch")
	}
	e.startRelay(t, relayB, opts)
	e.waitAllPublished(t)

	counts := e.deliveries(t)
	if len(counts) != len(msgs) {
		t.Errorf("%d distinct events on the topic, want %d", len(counts), len(msgs))
	}
	for _, m := range msgs {
		if counts[m.ID.String()] != 1 {
			t.Errorf("event %s published %d times, want once", m.ID, counts[m.ID.String()])
		}
	}
	t.Logf("relay A published %d events, relay B %d", relayA.published.Load(), relayB.published.Load())
}

// flakyPublisher fails while failing is set, as when Kafka is unreachable.
type flakyPublisher struct {
	next     outbox.Publisher
	failing  atomic.Bool
	attempts atomic.Int64
}

var errBrokerDown = errors.New("broker down")

func (p *flakyPublisher) Publish(ctx context.Context, recs ...kafka.Record) error {
	p.attempts.Add(1)
	if p.failing.Load() {
		return errBrokerDown
	}
	return p.next.Publish(ctx, recs...)
}

func TestRelayMetricsAndRetry(t *testing.T) {
	e := newEnv(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	flaky := &flakyPublisher{next: e.producer}
	flaky.failing.Store(true)

	msgs := e.messages(3)
	e.add(t, msgs...)
	e.startRelay(t, flaky, outbox.RelayOptions{PollInterval: 50 * time.Millisecond, MeterProvider: mp})
	eventually(t, "the relay retried after a failed publish", func() bool { return flaky.attempts.Load() >= 2 })

	m := collect(t, reader)
	if got := m.gaugeInt(outbox.MetricBacklog); got != int64(len(msgs)) {
		t.Errorf("%s = %d while Kafka is down, want %d", outbox.MetricBacklog, got, len(msgs))
	}
	if got := m.gaugeFloat(outbox.MetricOldestAge); got <= 0 {
		t.Errorf("%s = %v while Kafka is down, want > 0", outbox.MetricOldestAge, got)
	}

	flaky.failing.Store(false) // Kafka is back
	e.waitAllPublished(t)

	m = collect(t, reader)
	if got := m.gaugeInt(outbox.MetricBacklog); got != 0 {
		t.Errorf("%s = %d after publishing, want 0", outbox.MetricBacklog, got)
	}
	if got := m.gaugeFloat(outbox.MetricOldestAge); got != 0 {
		t.Errorf("%s = %v after publishing, want 0", outbox.MetricOldestAge, got)
	}
	// The relay counts after its commit, so the rows can be marked before the counter moves.
	eventually(t, fmt.Sprintf("%s{topic} = %d", outbox.MetricPublished, len(msgs)), func() bool {
		return collect(t, reader).sum(outbox.MetricPublished, attribute.String("messaging.destination.name", e.topic)) == int64(len(msgs))
	})
}

func TestRelayDeletesExpiredRows(t *testing.T) {
	e := newEnv(t)
	msgs := e.messages(2)
	e.add(t, msgs...)
	e.startRelay(t, e.producer, outbox.RelayOptions{PollInterval: 50 * time.Millisecond, Retention: time.Millisecond})

	eventually(t, "published rows are deleted", func() bool {
		return e.count(t, "SELECT count(*) FROM outbox") == 0
	})
	counts := e.deliveries(t)
	for _, m := range msgs {
		if counts[m.ID.String()] != 1 {
			t.Errorf("event %s published %d times before its row was deleted, want 1", m.ID, counts[m.ID.String()])
		}
	}
}

func TestRelayContinuesTheTrace(t *testing.T) {
	useTraceContext(t)
	e := newEnv(t)
	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	producer := kafka.NewProducer(e.brokers, kafka.ProducerOptions{TracerProvider: tp})
	t.Cleanup(func() { _ = producer.Close() })

	// The request that wrote the event has long ended when the relay publishes it.
	ctx, request := tp.Tracer("test").Start(t.Context(), "POST /orders")
	err := postgres.InTx(ctx, e.pool, func(tx pgx.Tx) error {
		return outbox.Add(ctx, tx, e.messages(1)...)
	})
	if err != nil {
		t.Fatalf("add: %v", err)
	}
	request.End()

	e.startRelay(t, producer, outbox.RelayOptions{})
	e.waitAllPublished(t)

	got := e.readTopic(t)
	if len(got) != 1 {
		t.Fatalf("topic has %d messages, want 1", len(got))
	}
	traceID := request.SpanContext().TraceID().String()
	if tp := header(got[0], "traceparent"); !strings.Contains(tp, traceID) {
		t.Errorf("message traceparent = %q, want one in the request's trace %s", tp, traceID)
	}
	var sendSpans int
	for _, span := range recorder.Ended() {
		if span.Parent().SpanID() == request.SpanContext().SpanID() {
			sendSpans++
		}
	}
	if sendSpans != 1 {
		t.Errorf("%d spans are children of the request span, want the producer's send span", sendSpans)
	}
}

// metrics is one collection of a ManualReader.
type metrics struct{ rm metricdata.ResourceMetrics }

func collect(t *testing.T, reader *sdkmetric.ManualReader) metrics {
	t.Helper()
	var m metrics
	if err := reader.Collect(t.Context(), &m.rm); err != nil {
		t.Fatalf("collect metrics: %v", err)
	}
	return m
}

func (m metrics) find(name string) metricdata.Aggregation {
	for _, sm := range m.rm.ScopeMetrics {
		for _, metric := range sm.Metrics {
			if metric.Name == name {
				return metric.Data
			}
		}
	}
	return nil
}

func (m metrics) gaugeInt(name string) int64 {
	if g, ok := m.find(name).(metricdata.Gauge[int64]); ok && len(g.DataPoints) == 1 {
		return g.DataPoints[0].Value
	}
	return -1
}

func (m metrics) gaugeFloat(name string) float64 {
	if g, ok := m.find(name).(metricdata.Gauge[float64]); ok && len(g.DataPoints) == 1 {
		return g.DataPoints[0].Value
	}
	return -1
}

func (m metrics) sum(name string, attr attribute.KeyValue) int64 {
	s, ok := m.find(name).(metricdata.Sum[int64])
	if !ok {
		return -1
	}
	var total int64
	for _, dp := range s.DataPoints {
		if v, ok := dp.Attributes.Value(attr.Key); ok && v == attr.Value {
			total += dp.Value
		}
	}
	return total
}

// TestRelayParksARowKafkaRefuses writes an event for a topic that does not exist between good
// events. Kafka refuses that one row for as long as the topic is missing; it must not hold back
// the events of other keys, must hold back the later events of its own key (order per key), must be
// counted as parked, and must be published, followed by its key's later events, once the topic
// exists.
func TestRelayParksARowKafkaRefuses(t *testing.T) {
	e := newEnv(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	missing := testinfra.UniqueName(t, "missing")

	msg := func(topic, key string, n int) outbox.Message {
		return outbox.Message{ID: uuid.New(), Topic: topic, Key: key, Type: "order.created", Payload: fmt.Appendf(nil, `{"n":%d}`, n)}
	}
	refused := msg(missing, "order-stuck", 0)
	behindIt := msg(e.topic, "order-stuck", 1)
	others := []outbox.Message{msg(e.topic, "order-a", 2), msg(e.topic, "order-b", 3)}
	e.add(t, append([]outbox.Message{refused, behindIt}, others...)...)

	e.startRelay(t, e.producer, outbox.RelayOptions{
		PollInterval: 50 * time.Millisecond, PublishTimeout: time.Second, MeterProvider: mp,
	})
	eventually(t, "the other keys' events are published past the refused row", func() bool {
		return e.count(t, "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL") == len(others)
	})
	// The relay parks the refused row only after the round in which the others went through (that
	// is what tells "Kafka refuses this row" from "Kafka is down"), so wait for the parking itself.
	eventually(t, "the refused row is parked", func() bool {
		return e.count(t, "SELECT count(*) FROM outbox WHERE id = $1 AND attempts > 0 AND retry_at IS NOT NULL", refused.ID) == 1
	})
	if got := collect(t, reader).gaugeInt(outbox.MetricParked); got != 1 {
		t.Errorf("%s = %d, want the refused row", outbox.MetricParked, got)
	}
	var lastError string
	if err := e.pool.QueryRow(t.Context(), `SELECT last_error FROM outbox WHERE id = $1`, refused.ID).Scan(&lastError); err != nil {
		t.Fatal(err)
	}
	if lastError == "" {
		t.Error("the parked row has no last_error for whoever investigates")
	}
	if got := e.deliveries(t)[behindIt.ID.String()]; got != 0 {
		t.Error("an event overtook the parked event of its own key")
	}

	// The cause is fixed: the parked row goes out at its next retry, then the one behind it.
	if err := kafka.EnsureTopics(t.Context(), e.brokers, kafka.TopicConfig{Name: missing, Partitions: 1}); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	deadline := time.Now().Add(15 * time.Second) // the first retry of a parked row is a second or two away
	for e.count(t, "SELECT count(*) FROM outbox WHERE published_at IS NULL") > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the parked row and the one behind it were not published once the topic existed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	var refusedAt, behindAt time.Time
	err := e.pool.QueryRow(t.Context(), `
		SELECT (SELECT published_at FROM outbox WHERE id = $1), (SELECT published_at FROM outbox WHERE id = $2)`,
		refused.ID, behindIt.ID).Scan(&refusedAt, &behindAt)
	if err != nil {
		t.Fatal(err)
	}
	if behindAt.Before(refusedAt) {
		t.Errorf("the event behind the parked one was published at %v, before it (%v)", behindAt, refusedAt)
	}
}

// TestPausedRelayPublishesNothingUntilResumed is the relay-paused scenario's mechanism: while
// Paused answers true the rows stay in the outbox (and the backlog gauges say so), and once it
// answers false they are all published.
func TestPausedRelayPublishesNothingUntilResumed(t *testing.T) {
	e := newEnv(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	counting := &flakyPublisher{next: e.producer}
	var paused atomic.Bool
	paused.Store(true)
	var asked atomic.Int64
	e.startRelay(t, counting, outbox.RelayOptions{PollInterval: 20 * time.Millisecond, MeterProvider: mp,
		Paused: func(context.Context) bool { asked.Add(1); return paused.Load() }})

	msgs := e.messages(3)
	e.add(t, msgs...)
	// Many polls, each of which would have published the rows were the relay not paused.
	eventually(t, "the relay to ask whether it is paused a few times", func() bool { return asked.Load() >= 10 })
	if n := counting.attempts.Load(); n != 0 {
		t.Fatalf("a paused relay tried to publish %d times", n)
	}
	if got := collect(t, reader).gaugeInt(outbox.MetricBacklog); got != int64(len(msgs)) {
		t.Errorf("%s = %d while paused, want %d", outbox.MetricBacklog, got, len(msgs))
	}

	paused.Store(false)
	e.waitAllPublished(t)
	if got := len(e.readTopic(t)); got != len(msgs) {
		t.Errorf("topic has %d messages after resuming, want %d", got, len(msgs))
	}
}
