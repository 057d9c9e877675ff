// Package httpapi is product-service's HTTP API: the public catalogue that anyone, and the
// gateway's cache, may read, and the admin-only edits of products and stock. Every route is in
// NewServer; handlers decode, call the catalogue, and encode; mapError is the one place where
// the catalogue's errors become HTTP statuses.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/product-service/internal/catalog"
	"github.com/tracecart/tracecart/shared/auth"
	"github.com/tracecart/tracecart/shared/httpserver"
)

// Catalog is what the API needs from the catalogue's store.
type Catalog interface {
	List(ctx context.Context, f catalog.Filter) (catalog.Page, error)
	Get(ctx context.Context, id uuid.UUID) (catalog.Product, error)
	Create(ctx context.Context, p catalog.Product) error
	Update(ctx context.Context, id uuid.UUID, d catalog.Details) (catalog.Product, error)
	AdjustStock(ctx context.Context, id uuid.UUID, delta int64) (catalog.Product, error)
}

// RoleAdmin is the token role that may change the catalogue.
const RoleAdmin = "admin"

// NewServer returns the API's handler: the router opts describes (httpserver.NewRouter), with
// this package's error mapping and every route of the service. Writes verify the caller's
// bearer token with verifier and require the admin role; reads are public.
func NewServer(opts httpserver.RouterOptions, products Catalog, verifier *auth.Verifier) (http.Handler, error) {
	if products == nil || verifier == nil {
		return nil, errors.New("new http server: a catalog and a verifier are required")
	}
	opts.MapError = mapError
	router, err := httpserver.NewRouter(opts)
	if err != nil {
		return nil, fmt.Errorf("new http server: %w", err)
	}
	s := &server{products: products}
	adminOnly := func(h http.HandlerFunc) http.Handler {
		return auth.Middleware(verifier)(auth.RequireRole(RoleAdmin)(h))
	}

	router.HandleFunc("/products", s.list).Methods(http.MethodGet)
	router.HandleFunc("/products/{id}", s.get).Methods(http.MethodGet)

	router.Handle("/products", adminOnly(s.create)).Methods(http.MethodPost)
	router.Handle("/products/{id}", adminOnly(s.update)).Methods(http.MethodPut)
	router.Handle("/products/{id}/stock-adjustments", adminOnly(s.adjustStock)).Methods(http.MethodPost)
	return router, nil
}

// mapError maps the catalogue's errors to HTTP statuses for httpserver.WriteError.
func mapError(err error) (status int, ok bool) {
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		return http.StatusNotFound, true
	case errors.Is(err, catalog.ErrInvalid):
		return http.StatusUnprocessableEntity, true
	case errors.Is(err, catalog.ErrInsufficientStock):
		return http.StatusConflict, true
	}
	return 0, false
}
