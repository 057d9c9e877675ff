// Package httpclient is the HTTP client tracecart services call each other with.
//
// Each concern is one http.RoundTripper decorating the next, so a reader can see the whole
// policy in New and the gateway can compose its own chain from the same parts. From the caller
// inwards:
//
//	otelhttp        one client span per request, W3C traceparent injected into the headers
//	breaker         one circuit breaker per upstream; rejects at once while the upstream is down
//	                (it opens on a failure rate over a rolling window, never on one client's
//	                failures: see BreakerSettings)
//	retry           jittered exponential backoff, for idempotent requests only
//	resolving       "http://product-service/..." → one healthy instance, picked per attempt
//	http.Transport  timeouts on dialling, TLS, and waiting for response headers
//
// The order matters. The breaker sits outside the retries, so one logical call counts once and
// an open breaker also stops the retries. Resolution sits inside them, so a retry can land on
// another instance than the one that just failed.
package httpclient

import (
	"cmp"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracecart/tracecart/shared/discovery"
)

// instrumentationScope names the meter this package's own instruments belong to.
const instrumentationScope = "github.com/tracecart/tracecart/shared/httpclient"

// Options configures New. The zero value is a working client without service discovery that
// reports to the global OpenTelemetry providers.
type Options struct {
	// Resolver turns service names in URLs into instances; nil dials URLs as written.
	Resolver discovery.Resolver
	Breaker  BreakerSettings
	Retry    RetryPolicy
	Timeouts Timeouts

	// TracerProvider, MeterProvider and Propagators default to the OpenTelemetry globals,
	// which telemetry setup installs; tests pass their own.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Propagators    propagation.TextMapPropagator
	// Logger receives breaker state changes; nil means slog.Default().
	Logger *slog.Logger
}

// Timeouts bound each phase of a call, so that no upstream can hold a caller forever. Zero
// fields take the defaults in parentheses.
type Timeouts struct {
	Dial           time.Duration // opening a TCP connection (2s)
	TLSHandshake   time.Duration // TLS handshake (3s)
	ResponseHeader time.Duration // from sending the request to the response headers, per attempt (5s)
	IdleConn       time.Duration // how long an unused keep-alive connection is kept (90s)
	// Request bounds the whole call, retries and reading the body included (10s). A deadline
	// on the request's context is honoured as well; the earlier one wins.
	Request time.Duration
}

func (t Timeouts) withDefaults() Timeouts {
	t.Dial = cmp.Or(t.Dial, 2*time.Second)
	t.TLSHandshake = cmp.Or(t.TLSHandshake, 3*time.Second)
	t.ResponseHeader = cmp.Or(t.ResponseHeader, 5*time.Second)
	t.IdleConn = cmp.Or(t.IdleConn, 90*time.Second)
	t.Request = cmp.Or(t.Request, 10*time.Second)
	return t
}

// Meter is the meter this package's instruments (the breakers' state) belong to, from mp: pass it
// to NewBreakerTransport when composing a chain by hand.
func Meter(mp metric.MeterProvider) metric.Meter { return mp.Meter(instrumentationScope) }

// New returns a client with the full chain described in the package documentation.
func New(opts Options) (*http.Client, error) {
	timeouts := opts.Timeouts.withDefaults()
	tracerProvider, meterProvider, propagators := opts.TracerProvider, opts.MeterProvider, opts.Propagators
	if tracerProvider == nil {
		tracerProvider = otel.GetTracerProvider()
	}
	if meterProvider == nil {
		meterProvider = otel.GetMeterProvider()
	}
	if propagators == nil {
		propagators = otel.GetTextMapPropagator()
	}
	logger := cmp.Or(opts.Logger, slog.Default())

	// Built from the inside out: each layer wraps the one before.
	var transport http.RoundTripper = NewBaseTransport(timeouts)
	if opts.Resolver != nil {
		transport = NewResolvingTransport(transport, opts.Resolver)
	}
	transport = NewRetryTransport(transport, opts.Retry)
	transport, err := NewBreakerTransport(transport, opts.Breaker, meterProvider.Meter(instrumentationScope), logger)
	if err != nil {
		return nil, fmt.Errorf("new http client: %w", err)
	}
	transport = otelhttp.NewTransport(transport,
		otelhttp.WithTracerProvider(tracerProvider),
		otelhttp.WithMeterProvider(meterProvider),
		otelhttp.WithPropagators(propagators),
	)
	return &http.Client{Transport: transport, Timeout: timeouts.Request}, nil
}

// NewBaseTransport returns the http.Transport at the bottom of the chain. Unlike
// http.DefaultTransport it has a response-header timeout, keeps enough idle connections per
// host for service-to-service traffic (the default of 2 makes a busy client open and close
// connections all the time), and ignores proxy environment variables: calls between services
// go straight to the instance discovery picked.
func NewBaseTransport(t Timeouts) *http.Transport {
	t = t.withDefaults()
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: t.Dial, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   t.TLSHandshake,
		ResponseHeaderTimeout: t.ResponseHeader,
		IdleConnTimeout:       t.IdleConn,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
}

// closeBody closes a request body a RoundTripper will not send: the http.RoundTripper contract
// makes closing it the transport's job, even on errors.
func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}
