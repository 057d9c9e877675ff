package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/tracecart/tracecart/product-service/internal/adapters/orderservice"
	"github.com/tracecart/tracecart/product-service/internal/adapters/postgres"
	"github.com/tracecart/tracecart/product-service/internal/app"
	"github.com/tracecart/tracecart/product-service/internal/domain/catalog"
	"github.com/tracecart/tracecart/shared/bootstrap"
)

// The details of run's parts that would crowd the wiring diagram: options built from the
// Config and the started Service.

// upstreamTimeout bounds one call to another service, retries and reading the body included.
const upstreamTimeout = 5 * time.Second

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
