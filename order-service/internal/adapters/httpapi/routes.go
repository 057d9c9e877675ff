// Package httpapi is order-service's HTTP API: every route in routes.go, small handlers that
// decode, call the store or the catalogue, and encode, and one mapping from domain errors to
// status codes (errors.go). Every route needs a customer's bearer token, checked here against
// user-service's published keys: a service never trusts identity headers set by someone else.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracecart/tracecart/order-service/internal/domain/order"
	"github.com/tracecart/tracecart/shared/auth"
	"github.com/tracecart/tracecart/shared/httpserver"
)

// maxBodyBytes limits request bodies. The largest valid order (20 lines) is about 2 KB; the
// router's default of 1 MiB would let a client make the server read far more than any order.
const maxBodyBytes = 64 << 10

// Orders is what the handlers need from the order store.
type Orders interface {
	// Create stores a new order and its order.created event; with an idempotency key, it
	// returns the user's existing order for that key instead (or ErrIdempotencyKeyReused).
	Create(ctx context.Context, o order.Order, key string, requestHash []byte) (order.Order, error)
	// FindByIdempotencyKey returns the user's order placed with key and its request's hash.
	FindByIdempotencyKey(ctx context.Context, userID uuid.UUID, key string) (order.Order, []byte, error)
	Get(ctx context.Context, userID, id uuid.UUID) (order.Order, error)
	// List returns a page of the user's orders, newest first, and how many there are in all.
	List(ctx context.Context, userID uuid.UUID, limit, offset int) ([]order.Order, int, error)
	CancelByCustomer(ctx context.Context, userID, id uuid.UUID) (order.Order, error)
	// Status returns the status of any order, for the internal status route.
	Status(ctx context.Context, id uuid.UUID) (order.Status, error)
}

// Catalog prices products; in production it is product-service.
type Catalog interface {
	// Prices returns the unit price in cents of each product, or an error wrapping
	// order.ErrUnknownProduct or order.ErrCatalogUnavailable.
	Prices(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]int64, error)
}

// Options is what NewServer needs. Every field but the OpenTelemetry providers (which default
// to the globals) is required.
type Options struct {
	ServiceName string
	Logger      *slog.Logger

	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Propagator     propagation.TextMapPropagator

	// Verifier checks bearer tokens against user-service's key set.
	Verifier *auth.Verifier
	Orders   Orders
	Catalog  Catalog
	// RetryAfter is what a 503 tells clients to wait when the catalogue is unavailable; the
	// circuit breaker's open time is a good value, since retrying sooner hits the open breaker.
	RetryAfter time.Duration
}

// NewServer returns order-service's HTTP handler: the shared router (recovery, request IDs,
// tracing, access log, metrics, body limit) with the routes below.
func NewServer(opts Options) (http.Handler, error) {
	if opts.Verifier == nil || opts.Orders == nil || opts.Catalog == nil {
		return nil, errors.New("new order API: Verifier, Orders and Catalog are required")
	}
	router, err := httpserver.NewRouter(httpserver.RouterOptions{
		ServiceName: opts.ServiceName, Logger: opts.Logger,
		TracerProvider: opts.TracerProvider, MeterProvider: opts.MeterProvider, Propagator: opts.Propagator,
		MaxBodyBytes: maxBodyBytes,
		MapError:     mapError,
	})
	if err != nil {
		return nil, err
	}
	s := &server{orders: opts.Orders, catalog: opts.Catalog, retryAfter: opts.RetryAfter}
	customer := auth.Middleware(opts.Verifier)

	router.Handle("/orders", customer(http.HandlerFunc(s.createOrder))).Methods(http.MethodPost)
	router.Handle("/orders", customer(http.HandlerFunc(s.listOrders))).Methods(http.MethodGet)
	router.Handle("/orders/{id}", customer(http.HandlerFunc(s.getOrder))).Methods(http.MethodGet)
	router.Handle("/orders/{id}/cancel", customer(http.HandlerFunc(s.cancelOrder))).Methods(http.MethodPost)

	// For other services, not for customers: the gateway routes only /api/orders/… here, so
	// this path is unreachable from outside (see the gateway's routes.go). It answers without a
	// token because services have no identity of their own to present; it tells nothing but the
	// status of an order whose random ID the caller already knows. See docs/architecture.md.
	router.HandleFunc("/internal/orders/{id}/status", s.orderStatus).Methods(http.MethodGet)
	return router, nil
}
