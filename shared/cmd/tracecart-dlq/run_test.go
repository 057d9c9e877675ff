package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tracecart/tracecart/shared/kafka"
	"github.com/tracecart/tracecart/shared/testinfra"
)

func TestMain(m *testing.M) { os.Exit(testinfra.Main(m)) }

// TestListShowReplay runs the command against a real broker: a consumer dead-letters a message,
// list and show describe it, and replay sends it back to its original topic.
func TestListShowReplay(t *testing.T) {
	broker := testinfra.Kafka(t)
	brokers := []string{broker}
	topic, group := testinfra.UniqueName(t, "orders"), testinfra.UniqueName(t, "group")
	if err := kafka.EnsureTopics(t.Context(), brokers, kafka.TopicConfig{Name: topic, Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"KAFKA_BROKERS": broker, "OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"}
	for k, v := range env {
		t.Setenv(k, v) // telemetry.Setup reads the OTEL_* variables from the process environment
	}
	getenv := func(k string) string { return env[k] }

	replayed := make(chan kafka.Record, 4)
	consumer := kafka.NewConsumer(brokers, kafka.ConsumerOptions{
		GroupID: group, Topics: []string{topic},
		Handler: func(ctx context.Context, rec kafka.Record) error {
			if rec.Headers[kafka.HeaderDLQReplayedFrom] == "" {
				return kafka.Permanent(errors.New("unknown event version 9"))
			}
			replayed <- rec
			return nil
		},
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- consumer.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; _ = consumer.Close() })

	producer := kafka.NewProducer(brokers, kafka.ProducerOptions{})
	defer producer.Close()
	err := producer.Publish(t.Context(), kafka.Record{Topic: topic, Key: "order-7", Value: []byte(`{"version":9}`),
		Headers: map[string]string{kafka.HeaderEventID: "ev-7", "event-type": "order.created"}})
	if err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	testinfra.WaitFor(t, waitTimeout, "the message to be dead-lettered and listed", func() error {
		out.Reset()
		if err := run(t.Context(), []string{"list", group}, getenv, &out); err != nil {
			return err
		}
		if !strings.Contains(out.String(), "ev-7") {
			return errors.New("not listed yet")
		}
		return nil
	})
	for _, want := range []string{"order-7", "order.created", topic + "/0@0", "unknown event version 9"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("list output lacks %q:\n%s", want, out.String())
		}
	}

	out.Reset()
	if err := run(t.Context(), []string{"show", group, "0"}, getenv, &out); err != nil || !strings.Contains(out.String(), `"version": 9`) {
		t.Errorf("show = %v, output:\n%s\nwant the payload as JSON", err, out.String())
	}
	out.Reset()
	if err := run(t.Context(), []string{"replay", group, "0"}, getenv, &out); err != nil {
		t.Fatalf("replay: %v", err)
	}
	select {
	case rec := <-replayed:
		if rec.Key != "order-7" || rec.Headers[kafka.HeaderEventID] != "ev-7" || rec.Headers[kafka.HeaderDLQError] != "" {
			t.Errorf("replayed record = %+v, want the original key and event ID without dlq headers", rec)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the replayed message did not reach the consumer")
	}

	if err := run(t.Context(), []string{"replay", group}, getenv, &out); !errors.Is(err, errUsage) {
		t.Errorf("replay without an offset = %v, want the usage error", err)
	}
	if err := run(t.Context(), []string{"show", group, "42"}, getenv, &out); err == nil {
		t.Error("show of a missing offset succeeded")
	}
}

const waitTimeout = 15 * time.Second
