package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// DeadLetter is one message of a dead-letter topic, with what the consumer recorded about its
// failure decoded from the dlq-* headers.
type DeadLetter struct {
	// Topic and Offset locate the message on the dead-letter topic (it has one partition).
	Topic  string
	Offset int64
	Time   time.Time
	// Record is the message as the failed consumer received it, trace headers aside (they hold
	// the context of the dead-letter send, a span of the failed message's trace).
	Record Record

	Error             string
	OriginalTopic     string
	OriginalPartition int
	OriginalOffset    int64
	ConsumerGroup     string
	Attempts          int
}

// ErrNotDeadLetter is returned for a message that lacks the headers a consumer writes when it
// dead-letters one: it cannot be replayed, since its original topic is unknown.
var ErrNotDeadLetter = errors.New("not a dead-lettered message")

// deadLetterReadTimeout bounds reading a dead-letter topic to its end.
const deadLetterReadTimeout = 30 * time.Second

// ReadDeadLetters returns every message on the dead-letter topic, oldest first. Dead-letter
// topics have one partition (Consumer creates them so), and a replay does not remove a message,
// so this lists replayed messages too; their effect happens once however often they are
// replayed, since consumers are idempotent.
func ReadDeadLetters(ctx context.Context, brokers []string, topic string) ([]DeadLetter, error) {
	if len(brokers) == 0 {
		return nil, ErrNoBrokers
	}
	ctx, cancel := context.WithTimeout(ctx, deadLetterReadTimeout)
	defer cancel()
	conn, err := kafka.DialLeader(ctx, "tcp", brokers[0], topic, 0)
	if err != nil {
		return nil, fmt.Errorf("read dead letters of %s: %w", topic, err)
	}
	first, last, err := conn.ReadOffsets()
	_ = conn.Close()
	if err != nil {
		return nil, fmt.Errorf("read dead letters of %s: offsets: %w", topic, err)
	}

	reader := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: 0, MaxWait: defaultMaxWait})
	defer reader.Close()
	if err := reader.SetOffset(first); err != nil {
		return nil, fmt.Errorf("read dead letters of %s: %w", topic, err)
	}
	letters := make([]DeadLetter, 0, last-first)
	for offset := first; offset < last; {
		msg, err := reader.ReadMessage(ctx)
		if err != nil {
			return nil, fmt.Errorf("read dead letters of %s at offset %d: %w", topic, offset, err)
		}
		letters = append(letters, decodeDeadLetter(msg))
		offset = msg.Offset + 1
	}
	return letters, nil
}

// decodeDeadLetter turns a dead-letter topic's message into a DeadLetter. Headers that do not
// parse are left at their zero value: listing must show whatever is there.
func decodeDeadLetter(msg kafka.Message) DeadLetter {
	rec := recordFromMessage(msg)
	dl := DeadLetter{
		Topic: msg.Topic, Offset: msg.Offset, Time: msg.Time,
		Error:         rec.Headers[HeaderDLQError],
		OriginalTopic: rec.Headers[HeaderDLQOriginalTopic],
		ConsumerGroup: rec.Headers[HeaderDLQConsumerGroup],
	}
	dl.OriginalPartition, _ = strconv.Atoi(rec.Headers[HeaderDLQOriginalPartition])
	dl.OriginalOffset, _ = strconv.ParseInt(rec.Headers[HeaderDLQOriginalOffset], 10, 64)
	dl.Attempts, _ = strconv.Atoi(rec.Headers[HeaderDLQAttempts])
	rec.Topic, rec.Partition, rec.Offset = dl.OriginalTopic, dl.OriginalPartition, dl.OriginalOffset
	dl.Record = rec
	return dl
}

// Replay publishes dl to its original topic with its original key, value and headers, less the
// dlq-* headers, plus dlq-replayed-from naming where it was replayed from.
//
// The replay joins the message's own trace: its "replay" span is a child of the context the
// dead-letter topic holds (the dead-letter send, itself below the failed process span), and the
// republished message carries the replay span's context, so the consumer's new process span
// appears in the order's trace under the replay.
//
// Replay it once the cause is fixed; the consumer group then gets the message again, and its
// inbox makes sure the effect happens once however often it is replayed.
func (p *Producer) Replay(ctx context.Context, dl DeadLetter) (err error) {
	if dl.OriginalTopic == "" {
		return fmt.Errorf("replay %s offset %d: %w", dl.Topic, dl.Offset, ErrNotDeadLetter)
	}
	parent := p.propagator.Extract(ctx, propagation.MapCarrier(dl.Record.Headers))
	ctx, span := p.tracer.Start(parent, "replay "+dl.OriginalTopic, trace.WithAttributes(
		semconv.MessagingSystemKafka,
		semconv.MessagingDestinationName(dl.OriginalTopic),
		semconv.MessagingMessageID(dl.Record.Headers[HeaderEventID]),
		attribute.String("tracecart.dlq.topic", dl.Topic),
		attribute.Int64("tracecart.dlq.offset", dl.Offset),
		attribute.String("tracecart.dlq.error", dl.Error),
	))
	defer func() {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()

	headers := make(map[string]string, len(dl.Record.Headers))
	for key, value := range dl.Record.Headers {
		if !strings.HasPrefix(key, "dlq-") {
			headers[key] = value
		}
	}
	for _, field := range p.propagator.Fields() {
		delete(headers, field)
	}
	p.propagator.Inject(ctx, propagation.MapCarrier(headers))
	headers[HeaderDLQReplayedFrom] = dl.Topic + "@" + strconv.FormatInt(dl.Offset, 10)

	rec := Record{Topic: dl.OriginalTopic, Key: dl.Record.Key, Value: dl.Record.Value, Headers: headers}
	if err := p.Publish(ctx, rec); err != nil {
		return fmt.Errorf("replay %s offset %d to %s: %w", dl.Topic, dl.Offset, dl.OriginalTopic, err)
	}
	return nil
}
