package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/messagingconv"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracecart/tracecart/shared/telemetry/buckets"
)

// instrumentationName names this package as the source of its spans and metrics.
const instrumentationName = "github.com/tracecart/tracecart/shared/kafka"

// Header keys tracecart puts on its messages besides the trace context.
const (
	// HeaderEventID holds the event's unique ID. Consumers deduplicate on it and spans report it as
	// messaging.message.id.
	HeaderEventID = "event-id"
	// HeaderEventType holds the event's type, such as "order.created".
	HeaderEventType = "event-type"
)

// defaultBatchTimeout is how long the writer waits to fill a batch. kafka-go's own default of one
// second would add up to a second to every saga step; a millisecond still lets a busy producer batch.
const defaultBatchTimeout = time.Millisecond

// ProducerOptions configures a [Producer]. The zero value is ready to use.
type ProducerOptions struct {
	// BatchTimeout is the longest a message waits for others to share its batch. Default 1ms.
	BatchTimeout time.Duration

	// Logger receives the writer's internal errors. Default slog.Default().
	Logger *slog.Logger

	// TracerProvider, MeterProvider and Propagator default to the otel globals that telemetry.Setup
	// installs; tests pass their own to inspect what was recorded.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Propagator     propagation.TextMapPropagator
}

// Producer publishes [Record]s to Kafka, synchronously and traced. It waits for every in-sync
// replica to acknowledge a message and routes messages by key, so all events of one order land on
// one partition, in order. It is safe for concurrent use.
type Producer struct {
	writer     *kafka.Writer
	transport  *kafka.Transport
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
	sent       messagingconv.ClientSentMessages
	duration   messagingconv.ClientOperationDuration

	// inFlight maps the span ID of each recording send span to its span while its message is being
	// written. kafka-go reveals the partition a message went to only in the writer's Completion
	// callback, which sees the messages as written; their traceparent header names the span to
	// annotate.
	inFlight sync.Map
}

// NewProducer returns a producer for the given bootstrap brokers. It does not connect until the
// first Publish. Topics must exist beforehand (see [EnsureTopics]): automatic creation is off so that
// a typo in a topic name fails loudly instead of creating a new topic.
func NewProducer(brokers []string, opts ProducerOptions) *Producer {
	if opts.BatchTimeout <= 0 {
		opts.BatchTimeout = defaultBatchTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.TracerProvider == nil {
		opts.TracerProvider = otel.GetTracerProvider()
	}
	if opts.MeterProvider == nil {
		opts.MeterProvider = otel.GetMeterProvider()
	}
	if opts.Propagator == nil {
		opts.Propagator = otel.GetTextMapPropagator()
	}

	meter := opts.MeterProvider.Meter(instrumentationName, metric.WithSchemaURL(semconv.SchemaURL))
	sent, err := messagingconv.NewClientSentMessages(meter)
	reportTelemetryError(err)
	duration, err := messagingconv.NewClientOperationDuration(meter, metric.WithExplicitBucketBoundaries(buckets.Seconds()...))
	reportTelemetryError(err)

	p := &Producer{
		// A transport of its own, not kafka-go's process-wide DefaultTransport: the transport caches
		// topic metadata, and with automatic topic creation off the writer trusts that cache, so a
		// topic created after a shared cache was filled would look missing to this producer until
		// the next refresh (every 6s).
		transport:  &kafka.Transport{},
		tracer:     opts.TracerProvider.Tracer(instrumentationName, trace.WithSchemaURL(semconv.SchemaURL)),
		propagator: opts.Propagator,
		sent:       sent,
		duration:   duration,
	}
	p.writer = &kafka.Writer{
		Addr:                   kafka.TCP(brokers...),
		Transport:              p.transport,
		Balancer:               &kafka.Hash{},
		RequiredAcks:           kafka.RequireAll,
		BatchTimeout:           opts.BatchTimeout,
		AllowAutoTopicCreation: false,
		Completion:             p.written,
		ErrorLogger:            errorLogger(opts.Logger, "kafka writer"),
	}
	return p
}

// Publish writes the records and returns once the broker has acknowledged all of them, or with an
// error. A record may have been written even when Publish fails (for example when ctx ends
// while waiting for the acknowledgement), so callers retry and consumers deduplicate.
//
// Each record gets a "send <topic>" PRODUCER span. Its parent is the trace context stored in the
// record's own headers when there is one (the outbox relay keeps the original request's context
// there), otherwise the span in ctx. The send span's context then replaces the trace headers of the
// outgoing message, so the consumer's span becomes its child.
func (p *Producer) Publish(ctx context.Context, recs ...Record) error {
	for i, rec := range recs {
		if rec.Topic == "" {
			return fmt.Errorf("publish: record %d has no topic", i)
		}
	}
	if len(recs) == 0 {
		return nil
	}

	start := time.Now()
	msgs := make([]kafka.Message, len(recs))
	spans := make([]trace.Span, len(recs))
	for i, rec := range recs {
		msgs[i], spans[i] = p.startSend(ctx, rec)
	}

	err := p.writer.WriteMessages(ctx, msgs...)

	elapsed := time.Since(start).Seconds()
	// One duration per topic: the records bound for one topic went out as one send operation.
	topicErrs := make(map[string]error)
	for i, span := range spans {
		msgErr := messageError(err, i)
		p.finishSend(ctx, span, recs[i].Topic, msgErr)
		if _, seen := topicErrs[recs[i].Topic]; !seen || msgErr != nil {
			topicErrs[recs[i].Topic] = msgErr
		}
	}
	for topic, topicErr := range topicErrs {
		attrs := []attribute.KeyValue{p.duration.AttrDestinationName(topic), p.duration.AttrOperationType(messagingconv.OperationTypeSend)}
		if topicErr != nil {
			attrs = append(attrs, semconv.ErrorType(topicErr))
		}
		p.duration.Record(ctx, elapsed, "send", messagingconv.SystemKafka, attrs...)
	}

	if err != nil {
		return fmt.Errorf("publish %d records: %w", len(recs), err)
	}
	return nil
}

// Close flushes pending writes and releases the writer's connections.
func (p *Producer) Close() error {
	err := p.writer.Close()
	p.transport.CloseIdleConnections()
	if err != nil {
		return fmt.Errorf("close kafka producer: %w", err)
	}
	return nil
}

// startSend starts the send span of rec and builds the Kafka message that carries its context.
func (p *Producer) startSend(ctx context.Context, rec Record) (kafka.Message, trace.Span) {
	// Extract leaves ctx as it is when the headers hold no valid trace context, so the parent is the
	// stored context if there is one and the caller's span otherwise.
	parent := p.propagator.Extract(ctx, propagation.MapCarrier(rec.Headers))

	attrs := []attribute.KeyValue{
		semconv.MessagingSystemKafka,
		semconv.MessagingOperationName("send"),
		semconv.MessagingOperationTypeSend,
		semconv.MessagingDestinationName(rec.Topic),
		semconv.MessagingMessageBodySize(len(rec.Value)),
	}
	if rec.Key != "" {
		attrs = append(attrs, semconv.MessagingKafkaMessageKey(rec.Key))
	}
	if id := rec.Headers[HeaderEventID]; id != "" {
		attrs = append(attrs, semconv.MessagingMessageID(id))
	}
	spanCtx, span := p.tracer.Start(parent, "send "+rec.Topic,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attrs...),
	)
	if span.IsRecording() {
		p.inFlight.Store(span.SpanContext().SpanID(), span)
	}

	msg := kafka.Message{Topic: rec.Topic, Value: rec.Value}
	if rec.Key != "" {
		msg.Key = []byte(rec.Key)
	}
	for _, key := range slices.Sorted(maps.Keys(rec.Headers)) {
		msg.Headers = append(msg.Headers, kafka.Header{Key: key, Value: []byte(rec.Headers[key])})
	}
	p.propagator.Inject(spanCtx, (*HeaderCarrier)(&msg.Headers))
	return msg, span
}

// finishSend ends a send span and counts its message.
func (p *Producer) finishSend(ctx context.Context, span trace.Span, topic string, err error) {
	attrs := []attribute.KeyValue{semconv.MessagingDestinationName(topic)}
	if err != nil {
		attrs = append(attrs, semconv.ErrorType(err))
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		span.SetAttributes(semconv.ErrorType(err))
	}
	if span.IsRecording() {
		p.inFlight.Delete(span.SpanContext().SpanID())
	}
	span.End()
	// Recording in the span's context lets the metric SDK attach the span as an exemplar.
	p.sent.Add(trace.ContextWithSpan(ctx, span), 1, "send", messagingconv.SystemKafka, attrs...)
}

// written is the writer's Completion callback: it tells each message's send span which partition
// and offset the message got.
func (p *Producer) written(msgs []kafka.Message, err error) {
	if err != nil {
		return
	}
	for i := range msgs {
		carrier := (*HeaderCarrier)(&msgs[i].Headers)
		id := trace.SpanContextFromContext(p.propagator.Extract(context.Background(), carrier)).SpanID()
		if span, ok := p.inFlight.Load(id); ok {
			span.(trace.Span).SetAttributes(
				semconv.MessagingDestinationPartitionID(strconv.Itoa(msgs[i].Partition)),
				semconv.MessagingKafkaOffset(int(msgs[i].Offset)),
			)
		}
	}
}

// messageError returns the error that message i of a WriteMessages call met: its own entry when the
// writer reported errors per message, else the call's error.
func messageError(err error, i int) error {
	var perMessage kafka.WriteErrors
	if errors.As(err, &perMessage) && i < len(perMessage) {
		return perMessage[i]
	}
	return err
}

// reportTelemetryError hands an error from setting up an instrument to otel's error handler. The
// failed instrument is a no-op: telemetry must never stop messages from flowing.
func reportTelemetryError(err error) {
	if err != nil {
		otel.Handle(err)
	}
}

// errorLogger adapts slog to kafka-go's printf-style logger for the library's internal errors.
func errorLogger(logger *slog.Logger, component string) kafka.Logger {
	return kafka.LoggerFunc(func(format string, args ...any) {
		logger.Warn(fmt.Sprintf(format, args...), slog.String("component", component))
	})
}
