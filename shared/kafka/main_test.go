package kafka_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracecart/tracecart/shared/kafka"
	"github.com/tracecart/tracecart/shared/testinfra"
)

// TestMain removes the shared broker container once the package's tests are done.
func TestMain(m *testing.M) { os.Exit(testinfra.Main(m)) }

// waitTimeout bounds every wait for something to arrive through the broker.
const waitTimeout = 8 * time.Second

// fastRetries keeps the retry tests quick; production defaults are in ConsumerOptions.
var fastRetries = kafka.Backoff{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond}

// telemetry is an in-memory trace and metric pipeline for one test, and a logger that writes to the
// test's output.
type telemetry struct {
	spans      *tracetest.InMemoryExporter
	tracer     *sdktrace.TracerProvider
	metrics    *sdkmetric.ManualReader
	meter      *sdkmetric.MeterProvider
	propagator propagation.TextMapPropagator
	logger     *slog.Logger
}

func newTelemetry(t *testing.T) *telemetry {
	t.Helper()
	tel := &telemetry{
		spans:      tracetest.NewInMemoryExporter(),
		metrics:    sdkmetric.NewManualReader(),
		propagator: propagation.TraceContext{},
		logger:     slog.New(slog.NewTextHandler(t.Output(), nil)),
	}
	tel.tracer = sdktrace.NewTracerProvider(sdktrace.WithSyncer(tel.spans))
	tel.meter = sdkmetric.NewMeterProvider(sdkmetric.WithReader(tel.metrics))
	t.Cleanup(func() {
		_ = tel.tracer.Shutdown(context.Background())
		_ = tel.meter.Shutdown(context.Background())
	})
	return tel
}

// producerOptions and consumerOptions wire the test's telemetry into the package under test.
func (tel *telemetry) producerOptions() kafka.ProducerOptions {
	return kafka.ProducerOptions{Logger: tel.logger, TracerProvider: tel.tracer, MeterProvider: tel.meter, Propagator: tel.propagator}
}

func (tel *telemetry) consumerOptions(opts kafka.ConsumerOptions) kafka.ConsumerOptions {
	opts.Logger, opts.TracerProvider, opts.MeterProvider, opts.Propagator = tel.logger, tel.tracer, tel.meter, tel.propagator
	return opts
}

// span waits for the one ended span with the given name and kind.
func (tel *telemetry) span(t *testing.T, name string, kind trace.SpanKind) tracetest.SpanStub {
	t.Helper()
	found := tel.waitSpans(t, name, kind, 1)
	if len(found) != 1 {
		t.Fatalf("%d %s spans named %q, want 1", len(found), kind, name)
	}
	return found[0]
}

// waitSpans waits until at least n spans with the given name and kind have ended, and returns
// them all in the order they ended.
func (tel *telemetry) waitSpans(t *testing.T, name string, kind trace.SpanKind, n int) []tracetest.SpanStub {
	t.Helper()
	var found []tracetest.SpanStub
	eventually(t, func() bool {
		found = found[:0]
		for _, s := range tel.spans.GetSpans() {
			if s.Name == name && s.SpanKind == kind {
				found = append(found, s)
			}
		}
		return len(found) >= n
	}, "%d %s spans named %q", n, kind, name)
	return found
}

// sum returns the total of an Int64 counter over all its data points, or 0 when it was not recorded.
func (tel *telemetry) sum(t *testing.T, name string) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tel.metrics.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collect metrics: %v", err)
	}
	var total int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if data, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == name {
				for _, dp := range data.DataPoints {
					total += dp.Value
				}
			}
		}
	}
	return total
}

// gauge returns the largest value of a Float64 gauge over its data points, or 0 when it was not
// recorded.
func (tel *telemetry) gauge(t *testing.T, name string) float64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tel.metrics.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collect metrics: %v", err)
	}
	var largest float64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if data, ok := m.Data.(metricdata.Gauge[float64]); ok && m.Name == name {
				for _, dp := range data.DataPoints {
					largest = max(largest, dp.Value)
				}
			}
		}
	}
	return largest
}

// eventually polls cond until it holds or waitTimeout passes.
func eventually(t *testing.T, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for "+format, args...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newTopic creates a topic with a unique name for this test.
func newTopic(t *testing.T, brokers []string, partitions int) string {
	t.Helper()
	name := testinfra.UniqueName(t, "topic")
	if err := kafka.EnsureTopics(t.Context(), brokers, kafka.TopicConfig{Name: name, Partitions: partitions}); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	return name
}

// newProducer returns a producer that is closed when the test ends.
func newProducer(t *testing.T, brokers []string, opts kafka.ProducerOptions) *kafka.Producer {
	t.Helper()
	p := kafka.NewProducer(brokers, opts)
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close producer: %v", err)
		}
	})
	return p
}

// runningConsumer is a Consumer whose Run loop a test started.
type runningConsumer struct {
	consumer *kafka.Consumer
	cancel   context.CancelFunc
	done     chan error
	once     sync.Once
	err      error
}

// startConsumer runs a consumer until the test stops it or ends.
func startConsumer(t *testing.T, brokers []string, opts kafka.ConsumerOptions) *runningConsumer {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	rc := &runningConsumer{consumer: kafka.NewConsumer(brokers, opts), cancel: cancel, done: make(chan error, 1)}
	go func() { rc.done <- rc.consumer.Run(ctx) }()
	t.Cleanup(func() {
		if err := rc.stop(); err != nil {
			t.Errorf("stop consumer: %v", err)
		}
	})
	return rc
}

// stop cancels Run, waits for it, closes the consumer and returns the first error of the three.
func (rc *runningConsumer) stop() error {
	rc.once.Do(func() {
		rc.cancel()
		var runErr error
		select {
		case runErr = <-rc.done:
		case <-time.After(waitTimeout):
			runErr = errors.New("Run did not return after its context was cancelled")
		}
		rc.err = errors.Join(runErr, rc.consumer.Close())
	})
	return rc.err
}

// collector gathers what a test handler saw, safely across goroutines.
type collector struct {
	mu   sync.Mutex
	recs []kafka.Record
}

func (c *collector) add(rec kafka.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recs = append(c.recs, rec)
}

func (c *collector) first() kafka.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.recs[0]
}

func (c *collector) values() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	values := make([]string, len(c.recs))
	for i, r := range c.recs {
		values[i] = string(r.Value)
	}
	return values
}

func (c *collector) count(value string) int {
	n := 0
	for _, v := range c.values() {
		if v == value {
			n++
		}
	}
	return n
}

// partitions returns how many distinct partitions the collected records came from.
func (c *collector) partitions() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[int]bool{}
	for _, r := range c.recs {
		seen[r.Partition] = true
	}
	return len(seen)
}

func (c *collector) has(value string) bool { return slices.Contains(c.values(), value) }

// readPartition reads n messages from the start of one partition, bypassing the package under
// test, to see exactly what was written to the broker.
func readPartition(t *testing.T, brokers []string, topic string, partition, n int) []kafkago.Message {
	t.Helper()
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: brokers, Topic: topic, Partition: partition, MaxWait: 250 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	msgs := make([]kafkago.Message, 0, n)
	for len(msgs) < n {
		msg, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read %s[%d] after %d of %d messages: %v", topic, partition, len(msgs), n, err)
		}
		msgs = append(msgs, msg)
	}
	return msgs
}

// header returns the first value of a kafka-go message header.
func header(msg kafkago.Message, key string) string {
	return (*kafka.HeaderCarrier)(&msg.Headers).Get(key)
}
