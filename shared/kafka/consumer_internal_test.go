package kafka

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/propagation"
)

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Second}
	tests := []struct {
		attempt  int
		min, max time.Duration
	}{
		{1, 50 * time.Millisecond, 100 * time.Millisecond},
		{2, 100 * time.Millisecond, 200 * time.Millisecond},
		{3, 200 * time.Millisecond, 400 * time.Millisecond},
		{4, 400 * time.Millisecond, 800 * time.Millisecond},
		{5, 500 * time.Millisecond, time.Second}, // capped at Max
		{50, 500 * time.Millisecond, time.Second},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint("attempt ", tt.attempt), func(t *testing.T) {
			seen := map[time.Duration]bool{}
			for range 200 {
				d := b.delay(tt.attempt)
				if d < tt.min || d > tt.max {
					t.Fatalf("delay(%d) = %v, want within [%v, %v]", tt.attempt, d, tt.min, tt.max)
				}
				seen[d] = true
			}
			if len(seen) < 2 {
				t.Errorf("delay(%d) returned one value 200 times: no jitter", tt.attempt)
			}
		})
	}
}

func TestPermanent(t *testing.T) {
	cause := errors.New("unexpected end of JSON input")
	tests := []struct {
		name          string
		err           error
		wantPermanent bool
	}{
		{"plain error", cause, false},
		{"permanent", Permanent(cause), true},
		{"wrapped permanent", fmt.Errorf("decode order.created: %w", Permanent(cause)), true},
		{"nil", Permanent(nil), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsPermanent(tt.err); got != tt.wantPermanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", tt.err, got, tt.wantPermanent)
			}
			if tt.err != nil && !errors.Is(tt.err, cause) {
				t.Errorf("errors.Is(%v, cause) = false: the cause must stay reachable", tt.err)
			}
		})
	}
	if got := Permanent(cause).Error(); got != cause.Error() {
		t.Errorf("Permanent(err).Error() = %q, want the cause's text %q", got, cause.Error())
	}
}

func TestConsumerOptionsDefaults(t *testing.T) {
	o := ConsumerOptions{GroupID: "product-service"}.withDefaults()
	if o.DeadLetterTopic != "product-service.dlq" {
		t.Errorf("DeadLetterTopic = %q, want product-service.dlq", o.DeadLetterTopic)
	}
	if o.HandlerTimeout != defaultHandlerTimeout || o.MaxWait != defaultMaxWait || o.PartitionQueue != defaultPartitionQueue {
		t.Errorf("HandlerTimeout, MaxWait, PartitionQueue = %v, %v, %d; want %v, %v, %d",
			o.HandlerTimeout, o.MaxWait, o.PartitionQueue, defaultHandlerTimeout, defaultMaxWait, defaultPartitionQueue)
	}
	if o.Backoff.Max < o.Backoff.Initial {
		t.Errorf("Backoff %+v: Max below Initial", o.Backoff)
	}
	if o.CommitInterval != defaultCommitInterval {
		t.Errorf("CommitInterval = %v, want %v", o.CommitInterval, defaultCommitInterval)
	}
	if o.Logger == nil || o.TracerProvider == nil || o.MeterProvider == nil || o.Propagator == nil {
		t.Error("withDefaults left a nil logger or telemetry provider")
	}
}

func TestConsumerOptionsValidate(t *testing.T) {
	ok := ConsumerOptions{GroupID: "g", Topics: []string{"t"}, Handler: func(context.Context, Record) error { return nil }}
	tests := []struct {
		name    string
		brokers []string
		edit    func(*ConsumerOptions)
		wantErr bool
	}{
		{"valid", []string{"127.0.0.1:9092"}, func(*ConsumerOptions) {}, false},
		{"no brokers", nil, func(*ConsumerOptions) {}, true},
		{"no group", []string{"b"}, func(o *ConsumerOptions) { o.GroupID = "" }, true},
		{"no topics", []string{"b"}, func(o *ConsumerOptions) { o.Topics = nil }, true},
		{"no handler", []string{"b"}, func(o *ConsumerOptions) { o.Handler = nil }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ok
			tt.edit(&o)
			err := o.validate(tt.brokers)
			if (err != nil) != tt.wantErr {
				t.Fatalf("validate() = %v, want error: %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalidOptions) {
				t.Errorf("validate() = %v, want it to wrap ErrInvalidOptions", err)
			}
		})
	}
}

func TestDeadLetterHeaders(t *testing.T) {
	c := &Consumer{opts: ConsumerOptions{GroupID: "user-service", Propagator: propagation.TraceContext{}}}
	msg := kafka.Message{
		Topic: "inventory", Partition: 2, Offset: 41,
		Headers: headers("event-id", "e-7", "traceparent", "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01"),
	}
	got := c.deadLetterHeaders(msg, errors.New("insufficient funds ledger offline"), 5)
	want := map[string]string{
		"event-id":                 "e-7",
		HeaderDLQError:             "insufficient funds ledger offline",
		HeaderDLQOriginalTopic:     "inventory",
		HeaderDLQOriginalPartition: "2",
		HeaderDLQOriginalOffset:    "41",
		HeaderDLQConsumerGroup:     "user-service",
		HeaderDLQAttempts:          "5",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("deadLetterHeaders() =\n%v\nwant\n%v", got, want)
	}
}
