// Package sagakit is the kit every service's saga consumer is built from. A service's consumer is a
// table from event type to the use case that handles it (Routes); the kit does the rest, the same
// way in every service:
//
//	decode      the envelope; a malformed one or an unknown version is a kafka.Permanent error
//	            (dead-lettered at once, see package kafka)
//	span        "handle <event type>", a child of the consumer's process span, with the order,
//	            the event and the consumer group as attributes
//	inbox       the event's ID is recorded in the same transaction as its effect (Inbox.Once), so a
//	            second delivery changes nothing and says so on the span (tracecart.inbox.duplicate)
//	use case    the route's Handler, called with a context that carries that transaction: the
//	            use case's own writes and the outbox rows announcing them join it
//	metrics     tracecart.saga.events, by event type and outcome (applied, duplicate, ignored,
//	            dead_lettered); types without a route are counted as "other"
//
// An event type with no route is counted and skipped, with no span and no inbox record: the topics
// a service reads carry events for other services too, and a producer may add types. Skipping
// costs nothing and is safe to repeat, so there is nothing for the inbox to guard; recording them
// was four of the nine consumer transactions of every order (docs/performance-saga.md).
//
// The kit knows nothing of Postgres: its Inbox is an interface, which shared/inbox implements, and
// the transaction travels in the context (postgres.Atomic). Package sagatest is the conformance
// suite every service's consumer passes.
package sagakit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/kafka"
)

// Handler handles one event type: it decodes the payload (events.DecodePayload) and calls the use
// case. ctx carries the transaction that records the event in the inbox. Return an error wrapping
// events.ErrMalformed or made with kafka.Permanent for what no retry can fix (a payload of the
// wrong shape, an order that does not exist); any other error is retried.
type Handler func(ctx context.Context, env events.Envelope) error

// Routes maps the event types a service acts on to their handlers.
type Routes map[string]Handler

// Inbox runs an event's effect at most once per consumer: fn runs in the same transaction that
// records eventID, with that transaction in its context, and not at all when the event was
// recorded before (duplicate is then true). *inbox.Inbox implements it.
type Inbox interface {
	Once(ctx context.Context, consumer, eventID string, fn func(ctx context.Context) error) (duplicate bool, err error)
}

// Options configures NewConsumer. Name, Inbox and Routes are required.
type Options struct {
	// Name is the consumer group and the inbox's name for this consumer's effects: the service's
	// name.
	Name   string
	Inbox  Inbox
	Routes Routes

	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Logger         *slog.Logger
}

// Consumer applies a service's saga events. Its Handle method is a kafka.Handler.
type Consumer struct {
	name   string
	inbox  Inbox
	routes Routes
	topics []string
	tracer trace.Tracer
	events metric.Int64Counter
	logger *slog.Logger
}

// MetricEvents counts the saga events a consumer handled, by event type and outcome.
const MetricEvents = "tracecart.saga.events"

// Outcomes recorded on MetricEvents.
const (
	OutcomeApplied      = "applied"       // the use case ran and its transaction committed
	OutcomeDuplicate    = "duplicate"     // the inbox had it: an earlier delivery applied it
	OutcomeIgnored      = "ignored"       // no route: skipped
	OutcomeDeadLettered = "dead_lettered" // malformed, unknown version or permanent error
)

const instrumentationScope = "github.com/tracecart/tracecart/shared/sagakit"

// NewConsumer returns the consumer of opts.Routes.
func NewConsumer(opts Options) (*Consumer, error) {
	if opts.Name == "" || opts.Inbox == nil || len(opts.Routes) == 0 {
		return nil, errors.New("new saga consumer: Name, Inbox and Routes are required")
	}
	if opts.TracerProvider == nil || opts.MeterProvider == nil || opts.Logger == nil {
		return nil, errors.New("new saga consumer: TracerProvider, MeterProvider and Logger are required")
	}
	topics, err := topicsOf(opts.Routes)
	if err != nil {
		return nil, fmt.Errorf("new saga consumer %s: %w", opts.Name, err)
	}
	counter, err := opts.MeterProvider.Meter(instrumentationScope).Int64Counter(MetricEvents,
		metric.WithUnit("{event}"),
		metric.WithDescription("Saga events handled, by event type and outcome."))
	if err != nil {
		return nil, fmt.Errorf("new saga consumer: %w", err)
	}
	return &Consumer{
		name: opts.Name, inbox: opts.Inbox, routes: maps.Clone(opts.Routes), topics: topics,
		tracer: opts.TracerProvider.Tracer(instrumentationScope), events: counter, logger: opts.Logger,
	}, nil
}

// topicsOf returns the topics the routed event types are published on, sorted, each once.
func topicsOf(routes Routes) ([]string, error) {
	var topics []string
	for eventType := range routes {
		topic, err := events.TopicOf(eventType)
		if err != nil {
			return nil, fmt.Errorf("route for %w", err)
		}
		topics = append(topics, topic)
	}
	slices.Sort(topics)
	return slices.Compact(topics), nil
}

// Topics are the topics the consumer must read: those of its routes' event types.
func (c *Consumer) Topics() []string { return slices.Clone(c.topics) }

// Name is the consumer group and the inbox's name for this consumer.
func (c *Consumer) Name() string { return c.name }

// Handle applies one record's event exactly once (see the package documentation).
func (c *Consumer) Handle(ctx context.Context, rec kafka.Record) error {
	env, err := events.Decode(rec.Value)
	if err != nil {
		c.count(ctx, "", OutcomeDeadLettered)
		return kafka.Permanent(fmt.Errorf("decode event from %s: %w", rec.Topic, err))
	}
	handle, routed := c.routes[env.Type]
	if !routed {
		c.count(ctx, "other", OutcomeIgnored) // types are open-ended: keep the label's values few
		return nil
	}
	ctx, span := c.tracer.Start(ctx, "handle "+env.Type, trace.WithAttributes(
		attribute.String("order.id", env.OrderID.String()),
		attribute.String("event.id", env.ID.String()),
		attribute.String("event.type", env.Type),
		attribute.String("messaging.consumer.group.name", c.name),
	))
	defer span.End()

	duplicate, err := c.inbox.Once(ctx, c.name, env.ID.String(), func(ctx context.Context) error {
		return handle(ctx, env)
	})
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		err = fmt.Errorf("handle %s %s of order %s: %w", env.Type, env.ID, env.OrderID, err)
		if errors.Is(err, events.ErrMalformed) {
			err = kafka.Permanent(err)
		}
		if kafka.IsPermanent(err) {
			c.count(ctx, env.Type, OutcomeDeadLettered)
		}
		return err
	}
	span.SetAttributes(attribute.Bool("event.duplicate", duplicate))
	switch {
	case duplicate:
		c.logger.DebugContext(ctx, "event already processed", "event_id", env.ID.String(), "event_type", env.Type)
		c.count(ctx, env.Type, OutcomeDuplicate)
	default:
		c.count(ctx, env.Type, OutcomeApplied)
	}
	return nil
}

func (c *Consumer) count(ctx context.Context, eventType, outcome string) {
	if eventType == "" {
		eventType = "unknown"
	}
	c.events.Add(ctx, 1, metric.WithAttributes(
		attribute.String("event.type", eventType), attribute.String("outcome", outcome)))
}
