package shoptest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// Kafka reaches the shop's broker from the test process, to read the events the saga
// published and to deliver some of them again, as a broker would after a consumer's crash.
type Kafka struct {
	brokers string
	dialer  *kafkago.Dialer
	client  *kafkago.Client
}

// DirectKafka is a Kafka for a broker the test can dial at the addresses it advertises, such
// as testinfra's broker on 127.0.0.1.
func DirectKafka(brokers string) Kafka {
	return Kafka{
		brokers: brokers,
		dialer:  kafkago.DefaultDialer,
		client:  &kafkago.Client{Addr: kafkago.TCP(brokers), Timeout: 5 * time.Second},
	}
}

// PublishedKafka is a Kafka for a broker in a container that advertises a name only its
// network resolves (such as kafka:9092): every connection, whatever address the metadata
// names, goes to hostAddr, where that listener is published on the host.
func PublishedKafka(advertised, hostAddr string) Kafka {
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, hostAddr)
	}
	return Kafka{
		brokers: advertised,
		dialer:  &kafkago.Dialer{Timeout: 5 * time.Second, DialFunc: dial},
		client:  &kafkago.Client{Addr: kafkago.TCP(hostAddr), Timeout: 5 * time.Second, Transport: &kafkago.Transport{Dial: dial}},
	}
}

// FindEvent reads every partition of topic from the start and returns the event of
// eventType keyed by orderID, failing the test if there is none.
func (k Kafka) FindEvent(t testing.TB, topic, orderID, eventType string) kafkago.Message {
	t.Helper()
	for _, m := range k.ReadSince(t, topic, nil) {
		if string(m.Key) == orderID && Header(m, "event-type") == eventType {
			return m
		}
	}
	t.Fatalf("no %s event for order %s on %s", eventType, orderID, topic)
	return kafkago.Message{}
}

// EndOffsets returns, for every partition of topic, the offset the next message will get. A
// scenario notes them before it starts, to read afterwards exactly what it caused (ReadSince).
func (k Kafka) EndOffsets(t testing.TB, topic string) map[int]int64 {
	t.Helper()
	ends := map[int]int64{}
	k.eachPartition(t, topic, func(partition int, _, last int64) { ends[partition] = last })
	return ends
}

// ReadSince returns every message of topic from the offsets in from (by partition; a partition
// it does not name is read from its start) up to the end of each partition as it is now.
func (k Kafka) ReadSince(t testing.TB, topic string, from map[int]int64) []kafkago.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var msgs []kafkago.Message
	k.eachPartition(t, topic, func(partition int, first, last int64) {
		start := max(first, from[partition])
		if start >= last {
			return // nothing new
		}
		r := kafkago.NewReader(kafkago.ReaderConfig{
			Brokers: []string{k.brokers}, Dialer: k.dialer, Topic: topic, Partition: partition, MaxWait: 100 * time.Millisecond,
		})
		defer r.Close()
		if err := r.SetOffset(start); err != nil {
			t.Fatalf("seek %s/%d to %d: %v", topic, partition, start, err)
		}
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatalf("read %s/%d: %v", topic, partition, err)
			}
			msgs = append(msgs, m)
			if m.Offset+1 >= last {
				return
			}
		}
	})
	return msgs
}

// eachPartition calls f with every partition of topic and its first and end offsets.
func (k Kafka) eachPartition(t testing.TB, topic string, f func(partition int, first, last int64)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	conn, err := k.dialer.DialContext(ctx, "tcp", k.brokers)
	if err != nil {
		t.Fatalf("dial %s: %v", k.brokers, err)
	}
	partitions, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		t.Fatalf("partitions of %s: %v", topic, err)
	}
	for _, p := range partitions {
		leader, err := k.dialer.DialLeader(ctx, "tcp", k.brokers, topic, p.ID)
		if err != nil {
			t.Fatalf("dial %s/%d: %v", topic, p.ID, err)
		}
		first, last, err := leader.ReadOffsets()
		leader.Close()
		if err != nil {
			t.Fatalf("offsets of %s/%d: %v", topic, p.ID, err)
		}
		f(p.ID, first, last)
	}
}

// Republish writes an exact copy of m (key, value and headers) to its own partition, as a
// redelivery would, and returns the partition's end offset after the write, which the
// consumers must reach.
func (k Kafka) Republish(t testing.TB, m kafkago.Message) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := k.dialer.DialLeader(ctx, "tcp", k.brokers, m.Topic, m.Partition)
	if err != nil {
		t.Fatalf("dial %s/%d: %v", m.Topic, m.Partition, err)
	}
	defer conn.Close()
	if _, err := conn.WriteMessages(kafkago.Message{Key: m.Key, Value: m.Value, Headers: m.Headers}); err != nil {
		t.Fatalf("republish: %v", err)
	}
	end, err := conn.ReadLastOffset()
	if err != nil {
		t.Fatalf("end offset of %s/%d: %v", m.Topic, m.Partition, err)
	}
	return end
}

// WaitConsumed waits until a consumer group has committed a partition up to offset end: only
// then has the group handled (or deliberately dropped) everything before it.
func (k Kafka) WaitConsumed(t testing.TB, group, topic string, partition int, end int64) {
	t.Helper()
	Eventually(t, 20*time.Second, group+" to consume "+topic, func() error {
		resp, err := k.client.OffsetFetch(t.Context(), &kafkago.OffsetFetchRequest{
			GroupID: group, Topics: map[string][]int{topic: {partition}},
		})
		if err != nil {
			return err
		}
		for _, p := range resp.Topics[topic] {
			if p.Partition != partition {
				continue
			}
			if p.CommittedOffset >= end {
				return nil
			}
			return fmt.Errorf("committed %d of %d", p.CommittedOffset, end)
		}
		return errors.New("no committed offset yet")
	})
}

// Redeliver finds an order's event of eventType on topic, delivers an exact copy of it again
// and waits until group has consumed the copy. It returns the original, whose headers name the
// trace the copy's consumer span joins.
func (k Kafka) Redeliver(t testing.TB, topic, orderID, eventType, group string) kafkago.Message {
	t.Helper()
	msg := k.FindEvent(t, topic, orderID, eventType)
	end := k.Republish(t, msg)
	k.WaitConsumed(t, group, msg.Topic, msg.Partition, end)
	return msg
}

// Header returns the value of a message's header key, or "" if it has none.
func Header(m kafkago.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// TraceIDOf returns the trace ID in a message's traceparent header, failing the test if the
// header is missing or malformed: every event the services publish carries its trace context.
func TraceIDOf(t testing.TB, m kafkago.Message) string {
	t.Helper()
	parts := strings.Split(Header(m, "traceparent"), "-")
	if len(parts) != 4 {
		t.Fatalf("%s/%d@%d has no traceparent header: %v", m.Topic, m.Partition, m.Offset, m.Headers)
	}
	return parts[1]
}
