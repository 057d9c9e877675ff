package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/contrib/instrumentation/runtime"
	"go.opentelemetry.io/otel"
	otelprometheus "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Options describes the service that Setup instruments. ServiceName and Stdout are required; the
// rest has defaults that suit production, and the two exporter hooks exist for tests.
type Options struct {
	// ServiceName becomes the service.name resource attribute and the "service" field of every log
	// line. By convention it is the service's folder name, such as "order-service".
	ServiceName string
	// ServiceVersion becomes service.version; empty leaves it out.
	ServiceVersion string
	// Stdout receives the JSON log lines.
	Stdout io.Writer
	// LogLevel is the least severe level that is logged; the zero value is slog.LevelInfo.
	LogLevel slog.Level

	// SpanExporter replaces the exporter that the OTEL_* variables would choose. Tests pass a
	// tracetest.InMemoryExporter here. An injected exporter is called synchronously as each span
	// ends, so a test can look for a span right after the code under test returns.
	SpanExporter sdktrace.SpanExporter
	// Sampler replaces the sampler. When nil, the SDK reads OTEL_TRACES_SAMPLER and
	// OTEL_TRACES_SAMPLER_ARG itself, and defaults to ParentBased(AlwaysSample).
	Sampler sdktrace.Sampler
}

// Telemetry holds what a service needs to instrument itself. Pass its fields down explicitly
// (to the HTTP server, clients, Kafka and database adapters) rather than reaching for the
// OpenTelemetry globals, and call Shutdown before the process exits.
type Telemetry struct {
	// Logger writes JSON lines to Options.Stdout with "service", and with "trace_id" and
	// "span_id" when the context passed to it carries a valid span.
	Logger *slog.Logger
	// TracerProvider creates the tracers of the service's instrumentation.
	TracerProvider trace.TracerProvider
	// MeterProvider creates the meters; everything measured with it appears on MetricsHandler.
	MeterProvider metric.MeterProvider
	// Propagator injects and extracts W3C traceparent, tracestate and baggage.
	Propagator propagation.TextMapPropagator
	// MetricsHandler serves the service's metrics for Prometheus to scrape at /metrics. It speaks
	// OpenMetrics, and with it exemplars, to a scraper that asks for it in its Accept header.
	MetricsHandler http.Handler

	tracerProvider *sdktrace.TracerProvider
	meterProvider  *sdkmetric.MeterProvider
	shutdownOnce   sync.Once
	shutdownErr    error
}

// Setup builds the service's telemetry and installs it as the OpenTelemetry globals (see the
// package documentation for why). On error nothing needs to be shut down.
func Setup(ctx context.Context, opts Options) (*Telemetry, error) {
	if opts.ServiceName == "" {
		return nil, errors.New("telemetry setup: ServiceName is required")
	}
	if opts.Stdout == nil {
		return nil, errors.New("telemetry setup: Stdout is required")
	}

	res, err := newResource(ctx, opts.ServiceName, opts.ServiceVersion)
	if err != nil {
		return nil, fmt.Errorf("telemetry setup: %w", err)
	}
	logger := newLogger(opts.Stdout, opts.LogLevel, opts.ServiceName)

	tracerProvider, err := newTracerProvider(ctx, res, opts.SpanExporter, opts.Sampler)
	if err != nil {
		return nil, fmt.Errorf("telemetry setup: %w", err)
	}
	meterProvider, metricsHandler, err := newMeterProvider(res, logger)
	if err != nil {
		return nil, errors.Join(
			fmt.Errorf("telemetry setup: %w", err),
			tracerProvider.Shutdown(ctx),
		)
	}
	// The runtime instrumentation only registers asynchronous instruments: they are read at
	// scrape time and stop with the MeterProvider, so there is nothing else to stop.
	if err := runtime.Start(runtime.WithMeterProvider(meterProvider)); err != nil {
		return nil, errors.Join(
			fmt.Errorf("telemetry setup: start runtime metrics: %w", err),
			tracerProvider.Shutdown(ctx),
			meterProvider.Shutdown(ctx),
		)
	}
	propagator := W3C

	otel.SetTracerProvider(tracerProvider)
	otel.SetMeterProvider(meterProvider)
	otel.SetTextMapPropagator(propagator)
	// Errors the SDK meets in the background (an unreachable collector, a dropped batch) would
	// otherwise go to stderr in another format; here they become log lines like any other.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		if err == nil {
			return // otel.Handle(nil) is a caller's mistake, not an error to report
		}
		logger.Warn("opentelemetry error", slog.String("error", err.Error()))
	}))

	return &Telemetry{
		Logger:         logger,
		TracerProvider: tracerProvider,
		MeterProvider:  meterProvider,
		Propagator:     propagator,
		MetricsHandler: metricsHandler,
		tracerProvider: tracerProvider,
		meterProvider:  meterProvider,
	}, nil
}

// Shutdown flushes the spans still waiting in the batch processor and stops both providers. Call
// it last during graceful shutdown, with a context that bounds how long the flush may take.
// Calling it again returns the first call's result.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	t.shutdownOnce.Do(func() {
		var errs []error
		if err := t.tracerProvider.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shut down tracer provider: %w", err))
		}
		if err := t.meterProvider.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shut down meter provider: %w", err))
		}
		t.shutdownErr = errors.Join(errs...)
	})
	return t.shutdownErr
}

// newResource describes the service for all three signals. Later options win, so the OTEL_*
// variables read by WithFromEnv override the name and version passed in code.
//
// The process attributes are picked one by one: resource.WithProcess would also record the
// command line, which may hold secrets, and the user the process runs as.
func newResource(ctx context.Context, serviceName, serviceVersion string) (*resource.Resource, error) {
	attrs := []resource.Option{
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithAttributes(semconv.ServiceName(serviceName)),
	}
	if serviceVersion != "" {
		attrs = append(attrs, resource.WithAttributes(semconv.ServiceVersion(serviceVersion)))
	}
	attrs = append(attrs,
		resource.WithFromEnv(),
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithProcessPID(),
		resource.WithProcessExecutableName(),
		resource.WithProcessRuntimeName(),
		resource.WithProcessRuntimeVersion(),
	)
	res, err := resource.New(ctx, attrs...)
	if err != nil {
		return nil, fmt.Errorf("build resource: %w", err)
	}
	return res, nil
}

// newTracerProvider sends spans to the injected exporter synchronously, or to the exporter that
// the OTEL_* variables choose through a batch processor. The batch processor reads its own
// OTEL_BSP_* variables (such as OTEL_BSP_SCHEDULE_DELAY).
func newTracerProvider(ctx context.Context, res *resource.Resource, exporter sdktrace.SpanExporter, sampler sdktrace.Sampler) (*sdktrace.TracerProvider, error) {
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if exporter != nil {
		opts = append(opts, sdktrace.WithSyncer(exporter))
	} else {
		exporter, err := autoexport.NewSpanExporter(ctx)
		if err != nil {
			return nil, fmt.Errorf("create span exporter from OTEL_* environment: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exporter))
	}
	if sampler != nil {
		opts = append(opts, sdktrace.WithSampler(sampler))
	}
	return sdktrace.NewTracerProvider(opts...), nil
}

// newMeterProvider returns a MeterProvider whose metrics are pulled by Prometheus through the
// returned handler.
//
// The registry is a new one rather than prometheus.DefaultRegisterer, so the handler serves
// exactly this provider's metrics, and a test (or a second Setup) never collides with metrics
// registered by someone else.
//
// Exemplars need no option: the SDK's default exemplar filter is exemplar.TraceBasedFilter, which
// offers a measurement to the exemplar reservoir when its context holds a sampled span, and
// histograms keep the latest such measurement per bucket. Leaving the filter unset in code keeps
// the standard OTEL_METRICS_EXEMPLAR_FILTER variable (always_on, always_off, trace_based) in charge.
// Prometheus then has to scrape with the OpenMetrics format, which EnableOpenMetrics offers; the
// classic text format has no room for exemplars.
func newMeterProvider(res *resource.Resource, logger *slog.Logger) (*sdkmetric.MeterProvider, http.Handler, error) {
	registry := prometheus.NewRegistry()
	exporter, err := otelprometheus.New(otelprometheus.WithRegisterer(registry))
	if err != nil {
		return nil, nil, fmt.Errorf("create prometheus exporter: %w", err)
	}
	meterProvider := sdkmetric.NewMeterProvider(
		sdkmetric.WithResource(res),
		sdkmetric.WithReader(exporter),
	)
	handler := promhttp.HandlerFor(registry, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelError),
	})
	return meterProvider, handler, nil
}
