// Package httpapi is the gateway's HTTP surface: every route it answers, in NewServer, and the
// middleware that stands between a client and the services — the trace ID header, client
// identification and rate limiting, request body checks, the token requirement of private
// routes and the catalogue cache. The proxying itself is the proxy package's; the storefront
// page is the storefront package's.
package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"go.opentelemetry.io/otel"

	"github.com/tracecart/tracecart/gateway/internal/httpcache"
	"github.com/tracecart/tracecart/gateway/internal/proxy"
	"github.com/tracecart/tracecart/gateway/internal/ratelimit"
	"github.com/tracecart/tracecart/shared/auth"
	"github.com/tracecart/tracecart/shared/httpserver"
)

// Upstreams are the handlers that proxy to each service (proxy.New), one per route group so
// that each has its own timeout.
type Upstreams struct {
	Auth     http.Handler // user-service: register and log in
	Users    http.Handler // user-service: accounts and wallets
	Products http.Handler // product-service
	Orders   http.Handler // order-service
}

// Deps is everything NewServer needs, the same constructor shape as every tracecart service's
// httpapi.NewServer(Deps). Every field is required but Now.
type Deps struct {
	// Router configures the shared router (request IDs, tracing, access log, body limit). Its
	// MaxBodyBytes is the largest request body the gateway forwards.
	Router httpserver.RouterOptions
	// Verifier checks bearer tokens against user-service's key set.
	Verifier *auth.Verifier
	// Limiter holds one token bucket per client.
	Limiter *ratelimit.Limiter
	// Cache keeps catalogue answers while they are fresh.
	Cache      *httpcache.Cache
	Upstreams  Upstreams
	Storefront http.Handler
	// Now is the rate limiter's clock; nil means time.Now.
	Now func() time.Time
}

// NewServer returns the gateway's handler. Every route, and which are public, is listed here:
//
//	POST /api/auth/register, POST /api/auth/login          public      → user-service
//	GET  /api/products, GET /api/products/{id}             public, cached → product-service
//	/api/users/…, /api/auth/…                              token       → user-service
//	/api/products/… (writes)                               token       → product-service
//	/api/orders/…                                          token       → order-service
//	/api/… anything else                                   404
//	GET  /, /assets/…                                      the storefront page
//
// Private routes are listed by the services' path templates (so spans and metrics name the
// route, not a raw path with an ID in it) and then caught by prefix, so that a route a service
// adds later is reachable, behind a token, without a gateway release. The gateway checks the
// token and forwards it; the service checks it again and decides what the user may do. Methods
// are the services' business: a wrong one gets the service's 405.
func NewServer(d Deps) (http.Handler, error) {
	if d.Verifier == nil || d.Limiter == nil || d.Cache == nil || d.Storefront == nil ||
		d.Upstreams.Auth == nil || d.Upstreams.Users == nil || d.Upstreams.Products == nil || d.Upstreams.Orders == nil {
		return nil, errors.New("new gateway server: every dependency but Now is required")
	}
	if d.Router.MaxBodyBytes <= 0 {
		d.Router.MaxBodyBytes = httpserver.DefaultMaxBodyBytes
	}
	meterProvider := d.Router.MeterProvider
	if meterProvider == nil {
		meterProvider = otel.GetMeterProvider()
	}
	m, err := newMiddleware(d.Verifier, d.Limiter, d.Router.MaxBodyBytes, meterProvider, d.Now)
	if err != nil {
		return nil, fmt.Errorf("new gateway server: %w", err)
	}
	// Every answer tells the client its trace ID in X-Trace-Id: the storefront links an order to
	// its trace in Jaeger with it, and a person reporting a problem can quote it. The shared
	// router sets it, so that its own answers (refused input, unknown paths, redirects) carry it
	// tod.
	d.Router.TraceIDHeader = proxy.HeaderTraceID
	router, err := httpserver.NewRouter(d.Router)
	if err != nil {
		return nil, fmt.Errorf("new gateway server: %w", err)
	}

	api := router.PathPrefix("/api").Subrouter()
	api.Use(m.rateLimit, m.bufferBody)
	private := m.requireToken
	cached := d.Cache.Middleware
	up := d.Upstreams
	read := []string{http.MethodGet, http.MethodHead}

	// product-service, first: routes are tried in the order they are listed (each a regular
	// expression), and the catalogue reads are the busiest routes of the shop. The route groups
	// have disjoint prefixes, so their order changes nothing else.
	api.Handle("/products", cached(up.Products)).Methods(read...)
	api.Handle("/products/{id}", cached(up.Products)).Methods(read...)
	routes(api, private(up.Products), "/products", "/products/{id}", "/products/{id}/stock-adjustments")

	// user-service
	api.Handle("/auth/register", up.Auth).Methods(http.MethodPost)
	api.Handle("/auth/login", up.Auth).Methods(http.MethodPost)
	routes(api, private(up.Auth), "/auth")
	routes(api, private(up.Users), "/users", "/users/me", "/users/me/wallet", "/users/me/wallet/top-ups", "/users/{id}")

	// order-service
	routes(api, private(up.Orders), "/orders", "/orders/{id}", "/orders/{id}/cancel")

	api.PathPrefix("/").HandlerFunc(notFound)
	router.PathPrefix("/").Handler(d.Storefront)
	return router, nil
}

// routes sends prefix, the path templates under it and everything else under it to h.
func routes(r *mux.Router, h http.Handler, prefix string, templates ...string) {
	for _, t := range templates {
		r.Handle(t, h)
	}
	r.Handle(prefix, h)
	r.PathPrefix(prefix + "/").Handler(h)
}

func notFound(w http.ResponseWriter, r *http.Request) {
	httpserver.WriteProblem(w, r, httpserver.Problem{
		Status: http.StatusNotFound,
		Detail: fmt.Sprintf("the API has no resource at %s", r.URL.Path),
	})
}
