// Package telemetry wires the three OpenTelemetry signals of a tracecart service in one call, so
// that every service exports the same things the same way and a reader finds the whole setup in
// one place.
//
// [Setup] builds:
//
//   - Traces: an SDK TracerProvider whose exporter is chosen by the standard OTEL_* variables
//     (OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL, ...) through
//     the contrib autoexport package, behind a batch span processor. Sampling follows
//     OTEL_TRACES_SAMPLER, or parent-based always-on when it is unset.
//   - Metrics: an SDK MeterProvider read by the OpenTelemetry Prometheus exporter into a private
//     Prometheus registry, served by [Telemetry.MetricsHandler] in the OpenMetrics format so that
//     histogram buckets carry exemplars (the trace ID of a request that fell into them). Go runtime
//     metrics (go_memory_used_bytes, go_goroutine_count, ...) are included.
//   - Logs: a log/slog JSON logger whose lines carry trace_id and span_id whenever the context
//     passed to it (logger.InfoContext(ctx, ...)) holds a valid span, and the service name.
//   - Context propagation: W3C Trace Context and Baggage.
//
// The resource (service.name, service.version, process, host and SDK attributes) describes the
// service once for all signals; OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override it.
//
// Setup also installs the providers and the propagator as the OpenTelemetry globals. That is the
// one piece of global state in tracecart, and it is deliberate: instrumentation libraries such as
// otelhttp, otelmux and otelpgx fall back to the globals when they are not handed a provider, and
// a span that silently goes to the no-op global provider is the hardest kind of bug to see.
//
// What reads the globals, exactly: the shared packages' constructors default a nil provider to the
// global one (so a small program or a test that sets up nothing still works), and the services never
// leave one nil: their run passes the Telemetry's providers to everything it builds, which is what
// lets tests use in-memory exporters. A trace context stored in a database row (the outbox, an
// order, a reservation) is written and read with [W3C], never with the global propagator: a stored
// context is a wire format, and must not depend on how the reading process is configured.
package telemetry
