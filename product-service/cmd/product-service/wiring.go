package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/metric"

	"github.com/tracecart/tracecart/product-service/internal/adapters/orderservice"
	"github.com/tracecart/tracecart/product-service/internal/adapters/postgres"
	"github.com/tracecart/tracecart/product-service/internal/app"
	"github.com/tracecart/tracecart/product-service/internal/domain/catalog"
	"github.com/tracecart/tracecart/shared/bootstrap"
	"github.com/tracecart/tracecart/shared/httpserver"
)

// The details of run's parts that would crowd the wiring diagram: options built from the
// Config and the started Service.

// upstreamTimeout bounds one call to another service, retries and reading the body included.
const upstreamTimeout = 5 * time.Second

// breakerMeter is the meter of the breakers' instruments, under the shared HTTP client's scope so
// the breaker metrics look the same whoever composed the chain.
func breakerMeter(svc *bootstrap.Service) metric.Meter {
	return svc.Tel.MeterProvider.Meter("github.com/tracecart/tracecart/shared/httpclient")
}

// otelTransportOptions send the client spans and the trace context through the service's own
// telemetry, not the OpenTelemetry globals.
func otelTransportOptions(svc *bootstrap.Service) []otelhttp.Option {
	return []otelhttp.Option{
		otelhttp.WithTracerProvider(svc.Tel.TracerProvider),
		otelhttp.WithMeterProvider(svc.Tel.MeterProvider),
		otelhttp.WithPropagators(svc.Tel.Propagator),
	}
}

// seedDemoCatalogue inserts the demo catalogue where it is missing, if SEED_DEMO_DATA asks for it.
func seedDemoCatalogue(ctx context.Context, cfg Config, log *slog.Logger, shop *app.App) error {
	if !cfg.SeedDemoData {
		return nil
	}
	n, err := shop.SeedCatalogue(ctx, catalog.DemoProducts())
	if err != nil {
		return err
	}
	log.InfoContext(ctx, "demo catalogue seeded", "inserted", n)
	return nil
}

// newReconciler returns the worker that settles reservations whose saga event was lost, asking
// order-service through upstreams how each order ended.
func newReconciler(cfg Config, svc *bootstrap.Service, upstreams *http.Client) (*app.Reconciler, error) {
	orders, err := orderservice.New(upstreams, cfg.OrderServiceURL)
	if err != nil {
		return nil, err
	}
	return app.NewReconciler(postgres.NewReservations(svc.DB), orders, app.ReconcilerOptions{
		After: cfg.ReconcileAfter, Interval: cfg.ReconcileInterval, Logger: svc.Log,
		TracerProvider: svc.Tel.TracerProvider, MeterProvider: svc.Tel.MeterProvider,
	})
}

// routerOptions configure the shared HTTP router with the service's name and telemetry.
func routerOptions(cfg Config, svc *bootstrap.Service) httpserver.RouterOptions {
	return httpserver.RouterOptions{
		ServiceName: cfg.ServiceName, Logger: svc.Log,
		TracerProvider: svc.Tel.TracerProvider, MeterProvider: svc.Tel.MeterProvider, Propagator: svc.Tel.Propagator,
	}
}
