// Package kafka is tracecart's adapter for Apache Kafka: a traced [Producer], a traced [Consumer]
// with bounded retries and a dead-letter topic, [EnsureTopics] for start-up, and a [HeaderCarrier]
// that lets OpenTelemetry propagators read and write Kafka headers.
//
// The package exists so that every service gets the same messaging behaviour without thinking about
// it:
//
//   - One trace from the HTTP request to the last consumer. The outbox relay stores the request's
//     trace context in [Record.Headers]; [Producer.Publish] makes its "send" span a child of that
//     stored context and writes its own context into the Kafka headers, so the consumer's "process"
//     span becomes a child of the send span.
//   - At-least-once delivery. The [Consumer] commits an offset only after the [Handler] succeeded or
//     the message was safely written to the dead-letter topic. Handlers must therefore be
//     idempotent; tracecart's handlers use a processed-events table keyed by the "event-id" header.
//   - Poison messages never block a partition. A failing message is retried with jittered backoff up
//     to a bound (or not at all when the handler returns a [Permanent] error), then copied to the
//     consumer group's dead-letter topic with the error in its headers, and the consumer moves on.
//
// Spans and metrics follow the OpenTelemetry messaging semantic conventions (semconv v1.43.0).
// The instruments this package records are:
//
//	messaging.client.sent.messages       counter   messages the producer tried to send, per topic
//	messaging.client.operation.duration  histogram duration of one Publish call, per topic
//	messaging.client.consumed.messages   counter   messages delivered to the handler
//	messaging.process.duration           histogram handler time per message, retries included
//	tracecart.messaging.dead_lettered    counter   messages moved to a dead-letter topic
//	tracecart.messaging.consumer.lag     gauge     messages between the last one handled and the
//	                                               partition's end, per partition and group
//
// The last two have no semantic convention yet, hence the tracecart prefix.
package kafka
