package proxy

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracecart/tracecart/shared/discovery"
	"github.com/tracecart/tracecart/shared/httpclient"
)

// instrumentationScope names the meter of the breakers' metrics.
const instrumentationScope = "github.com/tracecart/tracecart/gateway/internal/proxy"

// TransportOptions configures NewTransport. Resolver, Logger and the three providers are
// required; zero policies take httpclient's defaults.
type TransportOptions struct {
	Resolver discovery.Resolver
	Breaker  httpclient.BreakerSettings
	Retry    httpclient.RetryPolicy
	// Timeouts bound connecting and waiting for response headers per attempt. Their Request
	// field is not used: a RoundTripper has no whole-call timeout, so each route sets its own
	// deadline on the request's context instead (Upstream.Timeout).
	Timeouts httpclient.Timeouts

	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Propagators    propagation.TextMapPropagator
	Logger         *slog.Logger
}

// NewTransport returns the RoundTripper chain of httpclient.New, assembled from the same parts
// because a ReverseProxy needs a RoundTripper rather than an http.Client. From the caller in:
//
//	otelhttp   a client span per request, traceparent injected
//	breaker    one per service (the URL's host is the service name); open → ErrCircuitOpen at once
//	retry      GET, HEAD, PUT, DELETE, OPTIONS, and POST/PATCH with an Idempotency-Key; never a
//	           plain POST, which might place an order twice
//	resolving  the service name → a healthy instance from Consul, round-robin, per attempt
//	base       dial and response-header timeouts, a pool of keep-alive connections
//
// Retries need a body they can send again: the gateway reads request bodies into memory
// first (they are small and bounded), which gives them GetBody.
func NewTransport(o TransportOptions) (http.RoundTripper, error) {
	if o.Resolver == nil || o.Logger == nil || o.TracerProvider == nil || o.MeterProvider == nil || o.Propagators == nil {
		return nil, errors.New("new transport: resolver, logger and OpenTelemetry providers are required")
	}
	base := httpclient.NewBaseTransport(o.Timeouts)
	// A gateway talks to few hosts, all the time: keep enough idle connections per instance
	// that a busy one is not forever opening and closing them.
	base.MaxIdleConnsPerHost = 256
	base.MaxIdleConns = 1024

	var rt http.RoundTripper = httpclient.NewResolvingTransport(base, o.Resolver)
	rt = httpclient.NewRetryTransport(rt, o.Retry)
	rt, err := httpclient.NewBreakerTransport(rt, o.Breaker, o.MeterProvider.Meter(instrumentationScope), o.Logger)
	if err != nil {
		return nil, fmt.Errorf("new transport: %w", err)
	}
	return otelhttp.NewTransport(rt,
		otelhttp.WithTracerProvider(o.TracerProvider),
		otelhttp.WithMeterProvider(o.MeterProvider),
		otelhttp.WithPropagators(o.Propagators),
	), nil
}
