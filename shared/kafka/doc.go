// Package kafka is tracecart's adapter for Apache Kafka: a traced [Producer], a traced [Consumer]
// with an error policy and a dead-letter topic, dead-letter operations ([ReadDeadLetters],
// [Producer.Replay]), [EnsureTopics] for start-up, and a [HeaderCarrier] that lets OpenTelemetry
// propagators read and write Kafka headers.
//
// The package exists so that every service gets the same messaging behaviour without thinking about
// it:
//
//   - One trace from the HTTP request to the last consumer. The outbox relay stores the request's
//     trace context in [Record.Headers]; [Producer.Publish] makes its "send" span a child of that
//     stored context and writes its own context into the Kafka headers, so the consumer's "process"
//     span becomes a child of the send span.
//   - At-least-once delivery. The [Consumer] commits an offset only after the [Handler] succeeded or
//     the message was safely written to the dead-letter topic; offsets are sent to the broker in
//     batches every [ConsumerOptions.CommitInterval], so a crash redelivers up to that much of
//     what was already handled. Handlers must therefore be
//     idempotent; tracecart's handlers use a processed-events table keyed by the "event-id" header.
//   - Transient errors wait; only poison is dead-lettered (see "Error policy" below).
//
// # Error policy
//
// A [Permanent] error (a malformed or unknown-version event, a handler's explicit refusal) or a
// panic means retrying cannot help: the message is copied at once to the group's dead-letter
// topic, "<group>.dlq", with the error and its origin in dlq-* headers, and the consumer moves on.
// Dead letters can be listed and replayed with cmd/tracecart-dlq once the cause is fixed.
//
// Any other error is taken as transient (a database restarting, a broker election, a timeout:
// each handler call has a deadline) and retried with jittered backoff capped at 5 s, for as long
// as it lasts, holding that partition: the saga relies on one order's events being applied in
// order, so the message after it must not overtake it. Other partitions go on, each having its
// own worker, until the held partition's queue (100 messages) is full. Dead-lettering a transient
// failure would instead lose the event's effect for good and leave the books wrong, as
// tracecart's first build did after one second of retries.
//
// A held partition is visible: [Consumer.Stalled] (shown on /health/ready as an advisory check,
// since taking the instance out of service would not help), the stall-duration gauge (alert
// ConsumerStalled fires after a minute), a retries counter, the attempts as events on the
// message's process span, and one log line a minute rather than one per attempt. An error that is
// really permanent but not marked so stalls its partition visibly instead of losing an event
// silently; the fix is to mark it [Permanent].
//
// # Instruments
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
//	tracecart.messaging.consumer.stall_duration
//	                                     gauge     seconds the message in hand of a partition has
//	                                               been failing with a transient error (0 if not)
//	tracecart.messaging.consumer.retries counter   failed attempts that will be retried
//
// The tracecart ones have no semantic convention yet, hence the prefix.
package kafka
