package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/tracecart/tracecart/product-service/internal/adapters/httpapi"
	"github.com/tracecart/tracecart/product-service/internal/adapters/postgres"
	"github.com/tracecart/tracecart/product-service/internal/adapters/saga"
	"github.com/tracecart/tracecart/product-service/internal/app"
	"github.com/tracecart/tracecart/shared/auth"
	"github.com/tracecart/tracecart/shared/bootstrap"
	"github.com/tracecart/tracecart/shared/httpclient"
	"github.com/tracecart/tracecart/shared/lifecycle"
)

// run wires product-service and serves until ctx ends or SIGTERM; every error is joined into err.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) (err error) {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	// Telemetry, database, Kafka, outbox relay, inbox pruner, Consul: as every service does.
	svc, err := bootstrap.Start(ctx, cfg.bootstrapOptions(stdout))
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, svc.Close()) }()

	// The use cases over the database (reads queue for one connection in the contention
	// scenario), and the saga's events routed to them.
	products := postgres.WithSingleConnection(postgres.NewCatalog(svc.DB), svc.Flags, svc.Tel.TracerProvider)
	shop, err := app.New(products, postgres.NewReservations(svc.DB), svc.Tel.MeterProvider)
	if err != nil {
		return err
	}
	if err := seedDemoCatalogue(ctx, cfg, svc.Log, shop); err != nil {
		return err
	}
	if err := svc.ConsumeSaga(saga.Routes(shop)); err != nil {
		return err
	}

	// Calls to user-service and order-service, built from the network outwards.
	var t http.RoundTripper = httpclient.NewBaseTransport(httpclient.Timeouts{})                          // timeouts on dial, TLS, headers
	t = httpclient.NewResolvingTransport(t, svc.Resolver)                                                 // service name → healthy instance, per attempt
	t = httpclient.NewRetryTransport(t, httpclient.RetryPolicy{})                                         // idempotent calls again, jittered backoff
	t, err = httpclient.NewBreakerTransport(t, httpclient.BreakerSettings{}, svc.BreakerMeter(), svc.Log) // per upstream, outside the retries
	if err != nil {
		return fmt.Errorf("http client: %w", err)
	}
	t = otelhttp.NewTransport(t, svc.TracingOptions()...) // a client span per call, traceparent sent
	upstreams := &http.Client{Transport: t, Timeout: upstreamTimeout}

	// Admin tokens' keys are fetched on first use: product-service starts without user-service.
	verifier, err := auth.NewVerifier(cfg.verifierOptions(upstreams))
	if err != nil {
		return fmt.Errorf("token verifier: %w", err)
	}
	// Reservations whose saga event was lost are settled as order-service says the order ended.
	reconciler, err := newReconciler(cfg, svc, upstreams)
	if err != nil {
		return err
	}
	api, err := httpapi.NewServer(httpapi.Deps{Catalogue: shop, Verifier: verifier, Router: svc.RouterOptions(), Flags: svc.Flags})
	if err != nil {
		return fmt.Errorf("build http api: %w", err)
	}
	return svc.Serve(ctx, api, lifecycle.Worker{Name: "reservation reconciler", Run: reconciler.Run})
}
