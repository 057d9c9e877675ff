package kafka_test

import (
	"context"
	"errors"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/tracecart/tracecart/shared/kafka"
	"github.com/tracecart/tracecart/shared/testinfra"
)

func TestEnsureTopicsCreatesPartitionsIdempotently(t *testing.T) {
	brokers := []string{testinfra.Kafka(t)}
	orders := kafka.TopicConfig{Name: testinfra.UniqueName(t, "orders"), Partitions: 3, ReplicationFactor: 1}
	dlq := kafka.TopicConfig{Name: testinfra.UniqueName(t, "orders-dlq"), Partitions: 1}

	for i := range 2 { // the second call finds both topics there and must still succeed
		if err := kafka.EnsureTopics(t.Context(), brokers, orders, dlq); err != nil {
			t.Fatalf("EnsureTopics, call %d: %v", i+1, err)
		}
	}

	for _, want := range []kafka.TopicConfig{orders, dlq} {
		if got := partitionCount(t, brokers[0], want.Name); got != want.Partitions {
			t.Errorf("topic %s has %d partitions, want %d", want.Name, got, want.Partitions)
		}
	}
}

// TestEnsureTopicsReportsTooFewPartitions checks that an existing topic with fewer partitions than
// a service needs is an error, not silently accepted: ordering and parallelism depend on it.
func TestEnsureTopicsReportsTooFewPartitions(t *testing.T) {
	brokers := []string{testinfra.Kafka(t)}
	name := testinfra.UniqueName(t, "orders")
	if err := kafka.EnsureTopics(t.Context(), brokers, kafka.TopicConfig{Name: name, Partitions: 1}); err != nil {
		t.Fatalf("EnsureTopics: %v", err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, brokers, kafka.TopicConfig{Name: name, Partitions: 3}); err == nil {
		t.Fatal("EnsureTopics accepted a 1-partition topic where 3 partitions were asked for")
	}
}

func TestEnsureTopicsWithoutBrokers(t *testing.T) {
	err := kafka.EnsureTopics(t.Context(), nil, kafka.TopicConfig{Name: "orders"})
	if !errors.Is(err, kafka.ErrNoBrokers) {
		t.Errorf("EnsureTopics without brokers = %v, want ErrNoBrokers", err)
	}
}

// partitionCount reads a topic's partition count straight from the broker's metadata.
func partitionCount(t *testing.T, broker, topic string) int {
	t.Helper()
	conn, err := kafkago.DialContext(t.Context(), "tcp", broker)
	if err != nil {
		t.Fatalf("dial %s: %v", broker, err)
	}
	defer conn.Close()
	partitions, err := conn.ReadPartitions(topic)
	if err != nil {
		t.Fatalf("read partitions of %s: %v", topic, err)
	}
	return len(partitions)
}
