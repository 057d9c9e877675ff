package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/tracecart/tracecart/shared/kafka"
	"github.com/tracecart/tracecart/shared/outbox"
	"github.com/tracecart/tracecart/shared/postgres"
	"github.com/tracecart/tracecart/shared/testinfra"
)

func TestMain(m *testing.M) { os.Exit(testinfra.Main(m)) }

// waitTimeout bounds every wait in these tests. The relay normally publishes within milliseconds.
const waitTimeout = 5 * time.Second

// env is what an outbox test works with: a migrated database of its own, a Kafka topic of its own
// with a single partition (so the order of messages on it is the order they were published in) and
// a real producer.
type env struct {
	pool     *pgxpool.Pool
	brokers  []string
	topic    string
	producer *kafka.Producer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	// Starting the shared containers is not part of the deadline below.
	dsn, broker := testinfra.Postgres(t), testinfra.Kafka(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	pool, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("open database: %v", err)
	}
	t.Cleanup(pool.Close)
	if err := postgres.Migrate(ctx, pool, outbox.Migrations); err != nil {
		t.Fatalf("migrate: %v", err)
	}

	e := &env{pool: pool, topic: testinfra.UniqueName(t, "outbox")}
	e.brokers = []string{broker}
	if err := kafka.EnsureTopics(ctx, e.brokers, kafka.TopicConfig{Name: e.topic, Partitions: 1}); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	e.producer = kafka.NewProducer(e.brokers, kafka.ProducerOptions{})
	t.Cleanup(func() { _ = e.producer.Close() })
	return e
}

// messages returns n messages for the env's topic, with their IDs set so tests can look for them.
func (e *env) messages(n int) []outbox.Message {
	msgs := make([]outbox.Message, n)
	for i := range msgs {
		msgs[i] = outbox.Message{
			ID:      uuid.New(),
			Topic:   e.topic,
			Key:     "order-1",
			Type:    "order.created",
			Payload: fmt.Appendf(nil, `{"n":%d}`, i),
		}
	}
	return msgs
}

// add commits msgs to the outbox in one transaction.
func (e *env) add(t *testing.T, msgs ...outbox.Message) {
	t.Helper()
	err := postgres.Atomic(t.Context(), e.pool, func(ctx context.Context, tx pgx.Tx) error {
		return outbox.Add(ctx, tx, msgs...)
	})
	if err != nil {
		t.Fatalf("add: %v", err)
	}
}

// count runs a query that returns one number.
func (e *env) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// eventually polls cond until it holds, failing the test after waitTimeout.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", waitTimeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitAllPublished waits until the outbox has no unpublished row.
func (e *env) waitAllPublished(t *testing.T) {
	t.Helper()
	eventually(t, "every outbox row is marked published", func() bool {
		return e.count(t, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
	})
}

// startRelay runs a relay until the returned stop is called or the test ends. stop returns what
// Run returned.
func (e *env) startRelay(t *testing.T, pub outbox.Publisher, opts outbox.RelayOptions) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	relay := outbox.NewRelay(e.pool, pub, opts)
	done := make(chan error, 1)
	go func() { done <- relay.Run(ctx) }()

	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(waitTimeout):
				err = errors.New("relay did not stop")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// readTopic returns every message on the env's topic, in order.
func (e *env) readTopic(t *testing.T) []kafkago.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	conn, err := kafkago.DialLeader(ctx, "tcp", e.brokers[0], e.topic, 0)
	if err != nil {
		t.Fatalf("dial partition leader: %v", err)
	}
	end, err := conn.ReadLastOffset()
	conn.Close()
	if err != nil {
		t.Fatalf("read end offset: %v", err)
	}

	reader := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers: e.brokers, Topic: e.topic, Partition: 0, MaxWait: 100 * time.Millisecond,
	})
	defer reader.Close()
	var msgs []kafkago.Message
	for int64(len(msgs)) < end {
		msg, err := reader.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read message %d of %d: %v", len(msgs), end, err)
		}
		msgs = append(msgs, msg)
	}
	return msgs
}

// header returns the value of a Kafka message header.
func header(msg kafkago.Message, key string) string {
	for _, h := range msg.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// deliveries counts how often each event ID is on the env's topic.
func (e *env) deliveries(t *testing.T) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for _, msg := range e.readTopic(t) {
		counts[header(msg, kafka.HeaderEventID)]++
	}
	return counts
}
