// Package httpapi is product-service's HTTP API: the public catalogue that anyone, and the
// gateway's cache, may read, and the admin-only edits of products and stock. Every route is in
// NewServer; handlers decode, call a use case, and encode; mapError is the one place where the
// catalogue's errors become HTTP statuses.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/product-service/internal/app"
	"github.com/tracecart/tracecart/product-service/internal/domain/catalog"
	"github.com/tracecart/tracecart/shared/auth"
	"github.com/tracecart/tracecart/shared/featureflag"
	"github.com/tracecart/tracecart/shared/httpserver"
)

// Catalogue is the use cases the API calls (package app).
type Catalogue interface {
	ListProducts(ctx context.Context, f catalog.Filter) (catalog.Page, error)
	GetProduct(ctx context.Context, id uuid.UUID) (catalog.Product, error)
	CreateProduct(ctx context.Context, details catalog.Details, stock int64) (catalog.Product, error)
	UpdateProduct(ctx context.Context, id uuid.UUID, details catalog.Details) (catalog.Product, error)
	AdjustStock(ctx context.Context, id uuid.UUID, delta int64) (catalog.Product, error)
}

var _ Catalogue = (*app.App)(nil)

// RoleAdmin is the token role that may change the catalogue.
const RoleAdmin = "admin"

// Deps is what NewServer builds the API from.
type Deps struct {
	// Router configures the shared router (httpserver.NewRouter); its MapError is this package's.
	Router httpserver.RouterOptions
	// Catalogue is the use cases; Verifier checks the bearer tokens of admin writes.
	Catalogue Catalogue
	Verifier  *auth.Verifier
	// Flags are the scenario flags that switch the demo faults of the reads on (faults.go);
	// nil leaves them off.
	Flags *featureflag.Flags
}

// NewServer returns the API's handler: the shared router with this package's error mapping and
// every route of the service. Writes verify the caller's bearer token and require the admin
// role; reads are public.
func NewServer(d Deps) (http.Handler, error) {
	if d.Catalogue == nil || d.Verifier == nil {
		return nil, errors.New("new http server: a catalogue and a verifier are required")
	}
	opts := d.Router
	opts.MapError = mapError
	router, err := httpserver.NewRouter(opts)
	if err != nil {
		return nil, fmt.Errorf("new http server: %w", err)
	}
	verifier := d.Verifier
	s := &server{catalogue: d.Catalogue}
	adminOnly := func(h http.HandlerFunc) http.Handler {
		return auth.Middleware(verifier)(auth.RequireRole(RoleAdmin)(h))
	}

	faults := newReadFaults(d.Flags)
	router.HandleFunc("/products", faults.wrap(s.list)).Methods(http.MethodGet)
	router.HandleFunc("/products/{id}", faults.wrap(s.get)).Methods(http.MethodGet)

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
