package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
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

	"github.com/tracecart/tracecart/shared/backoff"
	"github.com/tracecart/tracecart/shared/telemetry/buckets"
)

// Handler processes one consumed record. Its ctx carries the record's "process" span, so the spans
// the handler starts join the message's trace, and it is not cancelled when the consumer shuts
// down: the message in hand is finished, not abandoned halfway.
//
// Returning nil lets the consumer commit the record. A [Permanent] error (or a panic) sends it to
// the dead-letter topic at once; any other error is taken as transient and the record is retried,
// with backoff, for as long as the error lasts. Each call is bounded by
// [ConsumerOptions.HandlerTimeout]. Delivery is at-least-once, so a handler must be idempotent.
type Handler func(ctx context.Context, rec Record) error

// Backoff is the wait between two attempts at a failing message: it doubles from Initial up to Max,
// and each wait is drawn at random from the upper half of that value ("equal jitter") so that
// consumers that failed together do not retry in lockstep.
type Backoff struct {
	Initial time.Duration // default 100ms
	Max     time.Duration // default 5s
}

// delay returns how long to wait after the given failed attempt (1 for the first).
func (b Backoff) delay(attempt int) time.Duration {
	return backoff.Delay(attempt, b.Initial, b.Max)
}

// Header keys the consumer adds to a message it copies to the dead-letter topic, so that whoever
// inspects the topic can tell what failed, where the message came from, and replay it.
const (
	HeaderDLQError             = "dlq-error"              // the last error's text
	HeaderDLQOriginalTopic     = "dlq-original-topic"     // where the message was consumed from
	HeaderDLQOriginalPartition = "dlq-original-partition" // its partition there
	HeaderDLQOriginalOffset    = "dlq-original-offset"    // its offset there
	HeaderDLQConsumerGroup     = "dlq-consumer-group"     // the group whose handler failed
	HeaderDLQAttempts          = "dlq-attempts"           // how many times the handler ran
	HeaderDLQReplayedFrom      = "dlq-replayed-from"      // on a replayed message: the dead-letter topic it came from
)

// Names of the consumer's own instruments (see the package documentation for the full list).
const (
	// MetricDeadLettered counts messages moved to a dead-letter topic, by original topic and group.
	MetricDeadLettered = "tracecart.messaging.dead_lettered"
	// MetricConsumerLag is how many messages a group's handler is behind the end of each partition.
	MetricConsumerLag = "tracecart.messaging.consumer.lag"
	// MetricConsumerStall is, per partition, how long the message in hand has been failing with a
	// transient error (0 when it is not): a partition held back by a fault. Alert on it.
	MetricConsumerStall = "tracecart.messaging.consumer.stall_duration"
	// MetricConsumerRetries counts failed handler attempts that will be retried, by error.type.
	MetricConsumerRetries = "tracecart.messaging.consumer.retries"
)

// Consumer defaults.
const (
	defaultBackoffInitial = 100 * time.Millisecond
	// defaultBackoffMax caps the wait between two attempts: a fault that clears is noticed within
	// this time, and a stalled partition costs the database one attempt per this time.
	defaultBackoffMax = 5 * time.Second
	// defaultHandlerTimeout bounds one handler call. A handler that hangs (a lock that is never
	// released, a database that accepts connections but never answers) then fails like any other
	// transient error and is retried, instead of holding its partition in silence.
	defaultHandlerTimeout = 30 * time.Second
	// defaultStallThreshold is how long a partition may fail before Stalled reports it.
	defaultStallThreshold = 30 * time.Second
	// defaultPartitionQueue is how many fetched messages may wait for one partition's worker.
	defaultPartitionQueue = 100
	// stallLogInterval is how often a still-failing message is logged again: once a minute, not
	// once per attempt, so that a long outage does not flood the logs.
	stallLogInterval = time.Minute

	// defaultMaxWait is how long one fetch may wait on the broker for new messages. It does not
	// delay delivery: the broker answers as soon as a message arrives. It does delay Close and
	// rebalances, which wait for the fetch in flight, so kafka-go's 10s default would make every
	// shutdown take 10s. It must not be tiny either: kafka-go uses MaxWait as the socket deadline
	// but lets the broker wait three quarters of it, so below about 100ms the broker's empty answer
	// often arrives after the deadline and kafka-go drops and redials the connection, logging an
	// i/o timeout each time (measured with the kfake stand-in; Kafka holds an empty fetch for the
	// requested wait in the same way).
	defaultMaxWait = 250 * time.Millisecond

	// Consumer-group membership. kafka-go's defaults (3s heartbeats, 30s session and rebalance
	// timeouts, 5s between join attempts) make a restarted or added consumer wait tens of seconds
	// for its partitions. These are shorter but within what a real Kafka broker accepts (its
	// group.min.session.timeout.ms is 6s), and they let the stand-in test broker rebalance quickly.
	heartbeatInterval = time.Second
	sessionTimeout    = 10 * time.Second
	rebalanceTimeout  = 10 * time.Second
	joinGroupBackoff  = time.Second

	// commitTimeout bounds handing an offset to the commit loop.
	commitTimeout = 10 * time.Second
	// defaultCommitInterval is how often the offsets of settled messages are sent to the broker.
	// Committing each message on its own (kafka-go's synchronous mode) made every message wait a
	// broker round trip before its partition's next message could start, and cost the broker one
	// request per message; see docs/performance-saga.md.
	defaultCommitInterval = 100 * time.Millisecond
	// deadLetterTimeout bounds one attempt to write a message to the dead-letter topic.
	deadLetterTimeout = 10 * time.Second
)

// ErrInvalidOptions is returned (by [Consumer.Run]) when [ConsumerOptions] lack something required.
var ErrInvalidOptions = errors.New("invalid kafka consumer options")

// errStopped reports that the consumer's context ended while a message was waiting for a retry.
var errStopped = errors.New("consumer stopped")

// ConsumerOptions configures a [Consumer]. GroupID, Topics and Handler are required.
type ConsumerOptions struct {
	// GroupID names the consumer group: instances of a service share it and split the partitions.
	GroupID string
	Topics  []string
	Handler Handler

	// Backoff spaces the attempts at a message that failed with a transient error. There is no
	// limit on their number: see the package documentation for why.
	Backoff Backoff
	// HandlerTimeout bounds one call of the handler; one that runs out counts as a transient
	// failure. Default 30s.
	HandlerTimeout time.Duration
	// StallThreshold is how long a partition may keep failing before [Consumer.Stalled] reports
	// it. Default 30s.
	StallThreshold time.Duration
	// PartitionQueue is how many fetched messages may wait for one partition's worker. While one
	// partition is stalled, the others go on until its queue is full. Default 100.
	PartitionQueue int

	// DeadLetterTopic receives the messages the handler gave up on. Default GroupID + ".dlq". Run
	// creates it (one partition, DeadLetterReplicationFactor replicas, default 1) if it is missing,
	// because a consumer that cannot dead-letter has to stop making progress.
	DeadLetterTopic             string
	DeadLetterReplicationFactor int

	// MaxWait is how long one fetch waits on the broker for new messages; it bounds how long Close
	// and rebalances take, not how fast messages arrive. Default 250ms.
	MaxWait time.Duration

	// CommitInterval is how often the offsets of settled messages are committed, in one request
	// for all partitions. Only a message whose handler succeeded (or that went to the dead-letter
	// topic) is ever handed to the commit loop, so batching delays commits but never commits
	// anything early; what a crash leaves uncommitted is delivered again, which the inbox makes
	// harmless. Close and rebalances commit what is pending. Default 100ms.
	CommitInterval time.Duration

	// Logger defaults to slog.Default().
	Logger *slog.Logger

	// TracerProvider, MeterProvider and Propagator default to the otel globals that telemetry.Setup
	// installs; tests pass their own to inspect what was recorded.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Propagator     propagation.TextMapPropagator
}

// withDefaults fills in the zero fields of o.
func (o ConsumerOptions) withDefaults() ConsumerOptions {
	if o.HandlerTimeout <= 0 {
		o.HandlerTimeout = defaultHandlerTimeout
	}
	if o.StallThreshold <= 0 {
		o.StallThreshold = defaultStallThreshold
	}
	if o.PartitionQueue <= 0 {
		o.PartitionQueue = defaultPartitionQueue
	}
	if o.Backoff.Initial <= 0 {
		o.Backoff.Initial = defaultBackoffInitial
	}
	if o.Backoff.Max <= 0 {
		o.Backoff.Max = max(defaultBackoffMax, o.Backoff.Initial)
	}
	if o.DeadLetterTopic == "" && o.GroupID != "" {
		o.DeadLetterTopic = o.GroupID + ".dlq"
	}
	if o.MaxWait <= 0 {
		o.MaxWait = defaultMaxWait
	}
	if o.CommitInterval <= 0 {
		o.CommitInterval = defaultCommitInterval
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.TracerProvider == nil {
		o.TracerProvider = otel.GetTracerProvider()
	}
	if o.MeterProvider == nil {
		o.MeterProvider = otel.GetMeterProvider()
	}
	if o.Propagator == nil {
		o.Propagator = otel.GetTextMapPropagator()
	}
	return o
}

// validate reports the first required option that is missing.
func (o ConsumerOptions) validate(brokers []string) error {
	switch {
	case len(brokers) == 0:
		return fmt.Errorf("%w: %w", ErrInvalidOptions, ErrNoBrokers)
	case o.GroupID == "":
		return fmt.Errorf("%w: no group ID", ErrInvalidOptions)
	case len(o.Topics) == 0:
		return fmt.Errorf("%w: no topics", ErrInvalidOptions)
	case o.Handler == nil:
		return fmt.Errorf("%w: no handler", ErrInvalidOptions)
	}
	return nil
}

// Consumer feeds the messages of a consumer group to a [Handler], with tracing, retries and a
// dead-letter topic. Each partition has its own worker, so the messages of one partition (one
// order's events, since they are keyed by order) are handled one at a time and in order, while
// different partitions are handled side by side. It commits a message's offset only once the
// handler succeeded or the message was written to the dead-letter topic, so no message is lost.
type Consumer struct {
	opts        ConsumerOptions
	brokers     []string
	err         error // a configuration error, reported by Run
	reader      *kafka.Reader
	deadLetters *Producer

	tracer          trace.Tracer
	consumed        messagingconv.ClientConsumedMessages
	processDuration messagingconv.ProcessDuration
	deadLettered    metric.Int64Counter
	retries         metric.Int64Counter
	lagGauge        metric.Int64ObservableGauge
	stallGauge      metric.Float64ObservableGauge
	gaugeCallback   metric.Registration

	mu     sync.Mutex
	lag    map[topicPartition]int64 // per partition, after the last message handled
	stalls map[topicPartition]stall // per partition whose message in hand is failing
}

// topicPartition identifies a partition for the lag gauge.
type topicPartition struct {
	topic     string
	partition int
}

// stall describes a partition whose message in hand keeps failing with a transient error.
type stall struct {
	offset int64
	since  time.Time
	err    string
}

// NewConsumer returns a consumer for the given bootstrap brokers; it joins the group right away but
// handles nothing until [Consumer.Run]. It never fails: a configuration error is returned by Run,
// which keeps the wiring code in a service's run function linear.
func NewConsumer(brokers []string, opts ConsumerOptions) *Consumer {
	opts = opts.withDefaults()
	c := &Consumer{
		opts:    opts,
		brokers: brokers,
		tracer:  opts.TracerProvider.Tracer(instrumentationName, trace.WithSchemaURL(semconv.SchemaURL)),
		lag:     make(map[topicPartition]int64),
		stalls:  make(map[topicPartition]stall),
		deadLetters: NewProducer(brokers, ProducerOptions{
			Logger:         opts.Logger,
			TracerProvider: opts.TracerProvider,
			MeterProvider:  opts.MeterProvider,
			Propagator:     opts.Propagator,
		}),
	}
	c.initMetrics(opts.MeterProvider)

	if c.err = opts.validate(brokers); c.err != nil {
		return c
	}
	config := kafka.ReaderConfig{
		Brokers:     brokers,
		GroupID:     opts.GroupID,
		GroupTopics: opts.Topics,
		MaxWait:     opts.MaxWait,
		// A group without a committed offset starts at the beginning: topics are created at
		// start-up, so the first events may be written before the consumer first joins.
		StartOffset: kafka.FirstOffset,
		// Commits are batched: CommitMessages hands the offset to a loop that sends the highest
		// settled offset of each partition every CommitInterval, and once more when the reader
		// closes or the group rebalances. Each partition's worker settles its messages in order,
		// so the highest settled offset has nothing unsettled before it.
		CommitInterval:    opts.CommitInterval,
		HeartbeatInterval: heartbeatInterval,
		SessionTimeout:    sessionTimeout,
		RebalanceTimeout:  rebalanceTimeout,
		JoinGroupBackoff:  joinGroupBackoff,
		ErrorLogger:       errorLogger(opts.Logger, "kafka reader"),
	}
	// kafka.NewReader panics on an invalid configuration; validate first so that Run can report it.
	if err := config.Validate(); err != nil {
		c.err = fmt.Errorf("%w: %w", ErrInvalidOptions, err)
		return c
	}
	c.reader = kafka.NewReader(config)
	return c
}

// initMetrics creates the consumer's instruments.
func (c *Consumer) initMetrics(provider metric.MeterProvider) {
	meter := provider.Meter(instrumentationName, metric.WithSchemaURL(semconv.SchemaURL))
	var err error
	c.consumed, err = messagingconv.NewClientConsumedMessages(meter)
	reportTelemetryError(err)
	c.processDuration, err = messagingconv.NewProcessDuration(meter, metric.WithExplicitBucketBoundaries(buckets.Seconds()...))
	reportTelemetryError(err)
	c.deadLettered, err = meter.Int64Counter(MetricDeadLettered,
		metric.WithUnit("{message}"),
		metric.WithDescription("Messages a consumer group gave up on and moved to its dead-letter topic."))
	reportTelemetryError(err)
	c.retries, err = meter.Int64Counter(MetricConsumerRetries,
		metric.WithUnit("{attempt}"),
		metric.WithDescription("Handler attempts that failed with a transient error and will be retried."))
	reportTelemetryError(err)
	// The lag is computed from each handled message's partition high-water mark rather than read
	// from kafka-go's Reader.Stats: for a group reader Stats reports one value for all partitions,
	// measured where the prefetcher is, not where the handler is. A partition keeps its last value
	// after a rebalance moves it to another member, since kafka-go does not report revocations.
	c.lagGauge, err = meter.Int64ObservableGauge(MetricConsumerLag,
		metric.WithUnit("{message}"),
		metric.WithDescription("Messages between the last one a consumer group handled and the end of the partition."))
	reportTelemetryError(err)
	c.stallGauge, err = meter.Float64ObservableGauge(MetricConsumerStall,
		metric.WithUnit("s"),
		metric.WithDescription("How long the message in hand of a partition has been failing with a transient error; 0 when it is not."))
	reportTelemetryError(err)
	c.gaugeCallback, err = meter.RegisterCallback(c.observeGauges, c.lagGauge, c.stallGauge)
	reportTelemetryError(err)
}

// Run handles messages until ctx ends, then returns nil after every partition worker finished the
// message in hand. It returns an error only for a configuration problem or when the dead-letter
// topic cannot be created. Call Run once, and Close after it returned.
//
// Run itself only fetches: it hands each message to its partition's worker, starting the worker
// the first time the partition is seen. When a worker's queue is full (its partition is stalled),
// Run waits for it, and with it every other partition: a bounded queue is the price of a client
// (kafka-go) that cannot pause one partition's fetches.
func (c *Consumer) Run(ctx context.Context) error {
	if c.err != nil {
		return fmt.Errorf("run consumer: %w", c.err)
	}
	dlq := TopicConfig{Name: c.opts.DeadLetterTopic, Partitions: 1, ReplicationFactor: c.opts.DeadLetterReplicationFactor}
	if err := EnsureTopics(ctx, c.brokers, dlq); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("run consumer %s: %w", c.opts.GroupID, err)
	}

	c.zeroDeadLetters(ctx)

	workers := make(map[topicPartition]chan kafka.Message)
	var running sync.WaitGroup
	defer func() {
		for _, queue := range workers {
			close(queue)
		}
		running.Wait()
	}()
	for {
		msg, err := c.reader.FetchMessage(ctx)
		switch {
		case ctx.Err() != nil:
			// Checked first: FetchMessage may hand out a message even though ctx has ended, and a
			// message fetched now would be one the shutdown does not wait for.
			return nil
		case errors.Is(err, io.EOF):
			return nil // Close was called.
		case err != nil:
			// kafka-go retries inside FetchMessage; an error here means the group could not be
			// joined for a while. Keep trying: a consumer that gives up needs a restart to recover.
			c.opts.Logger.WarnContext(ctx, "fetch kafka message", slog.String("group", c.opts.GroupID), slog.Any("error", err))
			if backoff.Sleep(ctx, c.opts.Backoff.Max) != nil {
				return nil
			}
			continue
		}
		tp := topicPartition{msg.Topic, msg.Partition}
		queue, ok := workers[tp]
		if !ok {
			queue = make(chan kafka.Message, c.opts.PartitionQueue)
			workers[tp] = queue
			running.Go(func() { c.work(ctx, queue) })
		}
		select {
		case queue <- msg:
		case <-ctx.Done():
			return nil
		}
	}
}

// work handles one partition's messages in the order they were fetched. Once ctx has ended it
// skips what is left in the queue: those messages are not committed, so whoever owns the
// partition next gets them again.
func (c *Consumer) work(ctx context.Context, queue <-chan kafka.Message) {
	for msg := range queue {
		if ctx.Err() != nil {
			continue
		}
		c.process(ctx, msg)
	}
}

// Close leaves the consumer group, so that its partitions move to the other members at once, and
// releases the dead-letter producer.
func (c *Consumer) Close() error {
	var errs []error
	if c.gaugeCallback != nil {
		errs = append(errs, c.gaugeCallback.Unregister())
	}
	if c.reader != nil {
		errs = append(errs, c.reader.Close())
	}
	errs = append(errs, c.deadLetters.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close kafka consumer %s: %w", c.opts.GroupID, err)
	}
	return nil
}

// Stalled returns an error naming every partition whose message in hand has been failing for
// longer than StallThreshold, with the last error, and nil when there is none. Services show it
// on their readiness endpoint; it is meant to be read by people and alerts, not to take the
// instance out of service, since that would not unblock the partition.
func (c *Consumer) Stalled(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for tp, s := range c.stalls {
		if d := time.Since(s.since); d >= c.opts.StallThreshold {
			errs = append(errs, fmt.Errorf("%s/%d offset %d failing for %s: %s",
				tp.topic, tp.partition, s.offset, d.Round(time.Second), s.err))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("consumer group %s stalled: %w", c.opts.GroupID, errors.Join(errs...))
}

// process handles one message from start to commit. When ctx ends before the message could be
// settled, it is left uncommitted, to be delivered again.
func (c *Consumer) process(ctx context.Context, msg kafka.Message) {
	start := time.Now()
	rec := recordFromMessage(msg)

	parent := c.opts.Propagator.Extract(ctx, (*HeaderCarrier)(&msg.Headers))
	spanCtx, span := c.tracer.Start(parent, "process "+msg.Topic,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(c.processAttributes(rec)...),
	)
	defer span.End()

	metricAttrs := []attribute.KeyValue{
		semconv.MessagingDestinationName(msg.Topic),
		semconv.MessagingConsumerGroupName(c.opts.GroupID),
	}
	// Metrics are recorded in the span's context so that the metric SDK can attach the span as an
	// exemplar: a slow bucket of the duration histogram then links to a trace.
	c.consumed.Add(spanCtx, 1, "process", messagingconv.SystemKafka, metricAttrs...)

	attempts, err := c.handleWithRetries(ctx, spanCtx, span, rec)
	switch {
	case errors.Is(err, errStopped):
		span.SetStatus(codes.Error, "consumer stopped before the message was handled; it will be redelivered")
		return
	case err != nil:
		span.SetStatus(codes.Error, err.Error())
		span.SetAttributes(semconv.ErrorType(err))
		metricAttrs = append(metricAttrs, semconv.ErrorType(err))
		if !c.deadLetter(ctx, spanCtx, msg, err, attempts) {
			return
		}
	}
	c.processDuration.Record(spanCtx, time.Since(start).Seconds(), "process", messagingconv.SystemKafka, metricAttrs...)

	c.commit(ctx, spanCtx, msg)
	c.mu.Lock()
	c.lag[topicPartition{msg.Topic, msg.Partition}] = max(msg.HighWaterMark-msg.Offset-1, 0)
	c.mu.Unlock()
}

// processAttributes describes the process span of rec per the messaging semantic conventions.
func (c *Consumer) processAttributes(rec Record) []attribute.KeyValue {
	attrs := []attribute.KeyValue{
		semconv.MessagingSystemKafka,
		semconv.MessagingOperationName("process"),
		semconv.MessagingOperationTypeProcess,
		semconv.MessagingDestinationName(rec.Topic),
		semconv.MessagingConsumerGroupName(c.opts.GroupID),
		semconv.MessagingDestinationPartitionID(strconv.Itoa(rec.Partition)),
		semconv.MessagingKafkaOffset(int(rec.Offset)),
		semconv.MessagingMessageBodySize(len(rec.Value)),
	}
	if rec.Key != "" {
		attrs = append(attrs, semconv.MessagingKafkaMessageKey(rec.Key))
	}
	if id := rec.Headers[HeaderEventID]; id != "" {
		attrs = append(attrs, semconv.MessagingMessageID(id))
	}
	return attrs
}

// handleWithRetries runs the handler until it succeeds or returns a permanent error, however many
// attempts that takes: a transient error (a database restarting, a broker election, a timeout)
// must delay the message, never drop it. Each failure is recorded on the span; the partition's
// stall is recorded for the gauge and Stalled, and logged at the first failure and then once a
// minute. It returns errStopped when ctx ended during a backoff.
func (c *Consumer) handleWithRetries(ctx, spanCtx context.Context, span trace.Span, rec Record) (attempts int, err error) {
	tp := topicPartition{rec.Topic, rec.Partition}
	defer c.clearStall(spanCtx, tp, rec)
	var lastLog time.Time
	for attempt := 1; ; attempt++ {
		err := c.callHandler(spanCtx, rec)
		if err == nil {
			return attempt, nil
		}
		span.RecordError(err, trace.WithAttributes(attribute.Int("tracecart.messaging.attempt", attempt)))
		if IsPermanent(err) {
			return attempt, err
		}
		c.retries.Add(spanCtx, 1, metric.WithAttributes(
			semconv.MessagingDestinationName(rec.Topic),
			semconv.MessagingConsumerGroupName(c.opts.GroupID),
			semconv.ErrorType(err),
		))
		c.recordStall(tp, rec.Offset, err)
		wait := c.opts.Backoff.delay(attempt)
		if now := time.Now(); now.Sub(lastLog) >= stallLogInterval {
			lastLog = now
			c.opts.Logger.WarnContext(spanCtx, "handle kafka message failed with a transient error; retrying until it succeeds",
				slog.String("topic", rec.Topic), slog.Int("partition", rec.Partition), slog.Int64("offset", rec.Offset),
				slog.Int("attempt", attempt), slog.Duration("retry_in", wait), slog.Any("error", err))
		}
		if backoff.Sleep(ctx, wait) != nil {
			return attempt, errStopped
		}
	}
}

// recordStall notes that the message at offset of tp failed with err, keeping the time of its
// first failure.
func (c *Consumer) recordStall(tp topicPartition, offset int64, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.stalls[tp]
	if !ok || s.offset != offset {
		s = stall{offset: offset, since: time.Now()}
	}
	s.err = err.Error()
	c.stalls[tp] = s
}

// clearStall forgets tp's stall once its message is settled (or the consumer stops), logging how
// long the partition was held back.
func (c *Consumer) clearStall(ctx context.Context, tp topicPartition, rec Record) {
	c.mu.Lock()
	s, ok := c.stalls[tp]
	delete(c.stalls, tp)
	c.mu.Unlock()
	if ok {
		c.opts.Logger.InfoContext(ctx, "kafka partition no longer held back",
			slog.String("topic", rec.Topic), slog.Int("partition", rec.Partition), slog.Int64("offset", rec.Offset),
			slog.Duration("stalled_for", time.Since(s.since)))
	}
}

// callHandler runs the handler with its deadline, turning a panic into a permanent error: a handler
// bug triggered by one malformed message must not take the whole service down, and running it
// again will not help. The handler's context keeps the span but not the consumer's cancellation:
// on shutdown the message in hand is finished rather than abandoned halfway.
func (c *Consumer) callHandler(spanCtx context.Context, rec Record) (err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(spanCtx), c.opts.HandlerTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			c.opts.Logger.ErrorContext(ctx, "kafka handler panicked", slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
			err = Permanent(fmt.Errorf("handler panicked: %v", r))
		}
	}()
	return c.opts.Handler(ctx, rec)
}

// zeroDeadLetters starts the dead-letter counter at zero for every topic, so that the first
// dead letter is an increase Prometheus can see: a series that appears at 1 has no increase, and
// the DeadLetters alert would miss a service's first poison message.
func (c *Consumer) zeroDeadLetters(ctx context.Context) {
	for _, topic := range c.opts.Topics {
		c.deadLettered.Add(ctx, 0, metric.WithAttributes(
			semconv.MessagingDestinationName(topic), semconv.MessagingConsumerGroupName(c.opts.GroupID)))
	}
}

// deadLetter copies msg to the dead-letter topic, retrying until the write succeeds, because
// committing a message that is neither handled nor dead-lettered would lose it. It reports false
// when ctx ended first.
func (c *Consumer) deadLetter(ctx, spanCtx context.Context, msg kafka.Message, cause error, attempts int) bool {
	rec := Record{
		Topic:   c.opts.DeadLetterTopic,
		Key:     string(msg.Key),
		Value:   msg.Value,
		Headers: c.deadLetterHeaders(msg, cause, attempts),
	}
	for try := 1; ; try++ {
		publishCtx, cancel := context.WithTimeout(context.WithoutCancel(spanCtx), deadLetterTimeout)
		err := c.deadLetters.Publish(publishCtx, rec)
		cancel()
		if err == nil {
			c.deadLettered.Add(spanCtx, 1, metric.WithAttributes(
				semconv.MessagingDestinationName(msg.Topic),
				semconv.MessagingConsumerGroupName(c.opts.GroupID),
			))
			c.opts.Logger.ErrorContext(spanCtx, "kafka message dead-lettered",
				slog.String("topic", msg.Topic), slog.Int("partition", msg.Partition), slog.Int64("offset", msg.Offset),
				slog.String("dead_letter_topic", rec.Topic), slog.Int("attempts", attempts), slog.Any("error", cause))
			return true
		}
		c.opts.Logger.ErrorContext(spanCtx, "write to dead-letter topic failed; will retry",
			slog.String("dead_letter_topic", rec.Topic), slog.Any("error", err))
		if backoff.Sleep(ctx, c.opts.Backoff.delay(try)) != nil {
			return false
		}
	}
}

// deadLetterHeaders returns msg's headers plus the dlq-* headers that explain the failure. The
// trace-context headers are left out: Publish then makes the dead-letter send span a child of the
// failed process span, and writes that span's context in their place.
func (c *Consumer) deadLetterHeaders(msg kafka.Message, cause error, attempts int) map[string]string {
	headers := recordFromMessage(msg).Headers
	for _, field := range c.opts.Propagator.Fields() {
		delete(headers, field)
	}
	headers[HeaderDLQError] = cause.Error()
	headers[HeaderDLQOriginalTopic] = msg.Topic
	headers[HeaderDLQOriginalPartition] = strconv.Itoa(msg.Partition)
	headers[HeaderDLQOriginalOffset] = strconv.FormatInt(msg.Offset, 10)
	headers[HeaderDLQConsumerGroup] = c.opts.GroupID
	headers[HeaderDLQAttempts] = strconv.Itoa(attempts)
	return headers
}

// commit hands msg's offset to the reader's commit loop, which sends it to the broker within
// CommitInterval (see ConsumerOptions.CommitInterval). It runs even when ctx has ended, since the
// message in hand was settled. A failed commit is logged, not returned: the message is then
// delivered again to whoever owns the partition next, which idempotent handlers tolerate.
func (c *Consumer) commit(ctx, spanCtx context.Context, msg kafka.Message) {
	commitCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	if err := c.reader.CommitMessages(commitCtx, msg); err != nil {
		c.opts.Logger.WarnContext(spanCtx, "commit kafka offset failed; the message may be delivered again",
			slog.String("topic", msg.Topic), slog.Int("partition", msg.Partition), slog.Int64("offset", msg.Offset),
			slog.Any("error", err))
	}
}

// observeGauges reports the lag and stall gauges; the meter calls it at each collection. Every
// partition the consumer has handled is reported, a stall of 0 included, so that an alert on the
// stall sees it end.
func (c *Consumer) observeGauges(_ context.Context, o metric.Observer) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	attrs := func(tp topicPartition) metric.MeasurementOption {
		return metric.WithAttributes(
			semconv.MessagingDestinationName(tp.topic),
			semconv.MessagingDestinationPartitionID(strconv.Itoa(tp.partition)),
			semconv.MessagingConsumerGroupName(c.opts.GroupID),
		)
	}
	for tp, lag := range c.lag {
		o.ObserveInt64(c.lagGauge, lag, attrs(tp))
		if _, stalled := c.stalls[tp]; !stalled {
			o.ObserveFloat64(c.stallGauge, 0, attrs(tp))
		}
	}
	for tp, s := range c.stalls {
		o.ObserveFloat64(c.stallGauge, time.Since(s.since).Seconds(), attrs(tp))
	}
	return nil
}

// recordFromMessage converts a consumed kafka-go message to a Record. Of repeated header keys the
// first wins, as in [HeaderCarrier.Get].
func recordFromMessage(msg kafka.Message) Record {
	headers := make(map[string]string, len(msg.Headers))
	for _, h := range msg.Headers {
		if _, seen := headers[h.Key]; !seen {
			headers[h.Key] = string(h.Value)
		}
	}
	return Record{
		Topic:     msg.Topic,
		Key:       string(msg.Key),
		Value:     msg.Value,
		Headers:   headers,
		Partition: msg.Partition,
		Offset:    msg.Offset,
	}
}
