// Package httpapi is order-service's HTTP API: every route in routes.go, small handlers that
// decode, call a use case (package app), and encode, and one mapping from domain errors to
// status codes (errors.go). Every route needs a customer's bearer token, checked here against
// user-service's published keys: a service never trusts identity headers set by someone else.
package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/tracecart/tracecart/order-service/internal/app"
	"github.com/tracecart/tracecart/shared/auth"
	"github.com/tracecart/tracecart/shared/httpserver"
)

// maxBodyBytes limits request bodies. The largest valid order (20 lines) is about 2 KB; the
// router's default of 1 MiB would let a client make the server read far more than any order.
const maxBodyBytes = 64 << 10

// Deps is what NewServer needs; every field is required.
type Deps struct {
	// Router configures the shared router: service name, logger, OpenTelemetry providers.
	// NewServer sets its body limit and error mapping.
	Router httpserver.RouterOptions
	// Verifier checks bearer tokens against user-service's key set.
	Verifier *auth.Verifier
	// App is the use cases the handlers call.
	App *app.App
	// RetryAfter is what a 503 tells clients to wait when the catalogue is unavailable; the
	// circuit breaker's open time is a good value, since retrying sooner hits the open breaker.
	RetryAfter time.Duration
}

// NewServer returns order-service's HTTP handler: the shared router (recovery, request IDs,
// tracing, access log, metrics, body limit) with the routes below.
func NewServer(d Deps) (http.Handler, error) {
	if d.Verifier == nil || d.App == nil {
		return nil, errors.New("new order API: Verifier and App are required")
	}
	opts := d.Router
	opts.MaxBodyBytes, opts.MapError = maxBodyBytes, mapError
	router, err := httpserver.NewRouter(opts)
	if err != nil {
		return nil, err
	}
	s := &server{app: d.App, retryAfter: d.RetryAfter}
	customer := auth.Middleware(d.Verifier)

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
