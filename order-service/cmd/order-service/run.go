package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/tracecart/tracecart/order-service/internal/adapters/httpapi"
	"github.com/tracecart/tracecart/order-service/internal/adapters/productservice"
	"github.com/tracecart/tracecart/order-service/internal/adapters/saga"
	"github.com/tracecart/tracecart/order-service/internal/app"
	"github.com/tracecart/tracecart/shared/auth"
	"github.com/tracecart/tracecart/shared/bootstrap"
	"github.com/tracecart/tracecart/shared/httpclient"
)

// run wires order-service and serves until ctx is cancelled or SIGTERM; errors on the way out join err.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) (err error) {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	// Telemetry, the migrated database, Kafka (topics, producer, outbox relay, inbox pruner), Consul.
	svc, err := bootstrap.Start(ctx, cfg.bootstrap(stdout))
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, svc.Close()) }()
	// Other services, called only once requests come: product-service prices, user-service's keys.
	upstreams, err := newUpstreamClient(cfg, svc)
	if err != nil {
		return err
	}
	catalog, err := productservice.New(upstreams, cfg.ProductServiceURL)
	if err != nil {
		return err
	}
	verifier, err := auth.NewVerifier(cfg.verifier(upstreams))
	if err != nil {
		return err
	}
	orders, err := app.New(cfg.app(svc, catalog)) // the use cases, over Postgres and the catalogue
	if err != nil {
		return err
	}
	// Two doors into the use cases: the saga's events from Kafka, and the HTTP API.
	if err := svc.ConsumeSaga(saga.Routes(orders)); err != nil {
		return err
	}
	api, err := httpapi.NewServer(cfg.api(svc, verifier, orders))
	if err != nil {
		return err
	}
	return svc.Serve(ctx, api, orders.Workers()...) // the timeout sweeper and the reconciler
}

// newUpstreamClient is the client for other services, one decorator per line from the wire out.
func newUpstreamClient(cfg Config, svc *bootstrap.Service) (*http.Client, error) {
	var t http.RoundTripper = httpclient.NewBaseTransport(httpclient.Timeouts{})            // dial, TLS and header timeouts
	t = httpclient.NewResolvingTransport(t, svc.Resolver)                                   // service name → one healthy instance
	t = httpclient.NewRetryTransport(t, httpclient.RetryPolicy{})                           // jittered; idempotent requests only
	t, err := httpclient.NewBreakerTransport(t, cfg.breaker(), svc.BreakerMeter(), svc.Log) // per upstream: BREAKER_*
	if err != nil {
		return nil, err
	}
	t = otelhttp.NewTransport(t, svc.TracingOptions()...) // client span, traceparent header
	return &http.Client{Transport: t, Timeout: upstreamTimeout}, nil
}
