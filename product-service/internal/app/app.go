// Package app holds product-service's use cases, one file each, named after what it does:
// reserving stock for a new order (reserve_stock.go), turning a reservation into a sale
// (confirm_sale.go), giving stock back when a payment fails or an order is cancelled
// (release_stock.go, cancel_reservation.go), healing reservations whose events were lost
// (reconcile_reservations.go), and reading and editing the catalogue (list_products.go,
// get_product.go, create_product.go, update_product.go, adjust_stock.go, seed_catalogue.go).
//
// Each use case loads what it needs through a port (ports.go), asks the domain (packages
// catalog and inventory) what to do, and saves the answer with the events that announce it. It
// knows no transaction type: the repositories' Update methods run the decision in one. The same
// use case runs the same way whether an HTTP request or a saga event called it.
package app

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/tracecart/tracecart/shared/aftercommit"
)

// Metric names.
const (
	// MetricReservations counts order.created events handled, by outcome: "reserved",
	// "out_of_stock", "unknown_product", or "skipped" (the order already had a reservation or a
	// cancellation tombstone).
	MetricReservations = "tracecart.inventory.reservations"
	// MetricReleases counts reservations and sales given back to the stock, by reason
	// ("payment_failed", "order_cancelled"), whether an event or the reconciler gave them back.
	MetricReleases = "tracecart.inventory.releases"
)

// instrumentationScope names this package's meter and tracer.
const instrumentationScope = "github.com/tracecart/tracecart/product-service/internal/app"

// App is product-service's use cases, over the ports they work through.
type App struct {
	products     Products
	reservations Reservations
	reserved     metric.Int64Counter
	released     metric.Int64Counter
}

// New returns the use cases working on products and reservations, counting what they do with
// meters.
func New(products Products, reservations Reservations, meters metric.MeterProvider) (*App, error) {
	if products == nil || reservations == nil || meters == nil {
		return nil, errors.New("new app: products, reservations and a meter provider are required")
	}
	a := &App{products: products, reservations: reservations}
	meter := meters.Meter(instrumentationScope)
	var err error
	if a.reserved, err = meter.Int64Counter(MetricReservations, metric.WithUnit("{order}"),
		metric.WithDescription("Orders whose stock product-service tried to reserve, by outcome.")); err != nil {
		return nil, fmt.Errorf("new app: %w", err)
	}
	if a.released, err = newReleaseCounter(meter); err != nil {
		return nil, fmt.Errorf("new app: %w", err)
	}
	return a, nil
}

// newReleaseCounter returns the releases counter. The use cases and the reconciler each ask for
// it; the meter hands both the same instrument, since a release is a release however it came.
func newReleaseCounter(meter metric.Meter) (metric.Int64Counter, error) {
	return meter.Int64Counter(MetricReleases, metric.WithUnit("{order}"),
		metric.WithDescription("Reservations and sales given back to the stock, by reason."))
}

// countAfterCommit adds one to counter with the attribute key=value once the work ctx belongs
// to has committed, so a transaction that rolls back and is retried is counted once. An empty
// value counts nothing.
func countAfterCommit(ctx context.Context, counter metric.Int64Counter, key, value string) {
	if value == "" {
		return
	}
	aftercommit.Do(ctx, func() {
		counter.Add(ctx, 1, metric.WithAttributes(attribute.String(key, value)))
	})
}
