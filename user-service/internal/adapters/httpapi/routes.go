// Package httpapi is user-service's HTTP interface: every route in routes.go, small handlers
// that decode the request, call a use case (package app), and encode the answer, and one
// mapError that turns the domain's errors into status codes.
package httpapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/tracecart/tracecart/shared/auth"
	"github.com/tracecart/tracecart/shared/httpserver"
	"github.com/tracecart/tracecart/user-service/internal/app"
	"github.com/tracecart/tracecart/user-service/internal/domain/account"
	"github.com/tracecart/tracecart/user-service/internal/domain/wallet"
)

// Deps is what the handlers need. All fields are required.
type Deps struct {
	// Router configures the shared router (recovery, request IDs, tracing, access log, body
	// limit); NewServer sets its MapError.
	Router httpserver.RouterOptions
	// App holds the use cases.
	App *app.App
	// Verifier checks the bearer token of every private route.
	Verifier *auth.Verifier
	// JWKS serves the public keys (auth.KeySet.JWKSHandler).
	JWKS http.Handler
}

// NewServer returns the handler of user-service: httpserver's router with this package's error
// mapping and every route below.
func NewServer(d Deps) (http.Handler, error) {
	if d.App == nil || d.Verifier == nil || d.JWKS == nil {
		return nil, errors.New("new user-service server: every dependency is required")
	}
	opts := d.Router
	opts.MapError = mapError
	r, err := httpserver.NewRouter(opts)
	if err != nil {
		return nil, fmt.Errorf("new user-service server: %w", err)
	}
	s := &server{app: d.App}
	// private checks the bearer token itself: no route trusts an identity header from the gateway.
	private := func(h http.HandlerFunc) http.Handler { return auth.Middleware(d.Verifier)(h) }
	// adminOnly also requires the admin role: 401 without a valid token, 403 without the role.
	adminOnly := func(h http.HandlerFunc) http.Handler {
		return auth.Middleware(d.Verifier)(auth.RequireRole(account.RoleAdmin)(h))
	}

	// Public.
	r.Handle("/.well-known/jwks.json", d.JWKS).Methods(http.MethodGet)
	r.HandleFunc("/auth/register", s.register).Methods(http.MethodPost)
	r.HandleFunc("/auth/login", s.login).Methods(http.MethodPost)

	// Admins.
	r.Handle("/users", adminOnly(s.listUsers)).Methods(http.MethodGet)

	// Signed-in users. /users/me comes before /users/{id}, which would otherwise match it.
	r.Handle("/users/me", private(s.me)).Methods(http.MethodGet)
	r.Handle("/users/me/wallet", private(s.wallet)).Methods(http.MethodGet)
	r.Handle("/users/me/wallet/top-ups", private(s.topUp)).Methods(http.MethodPost)
	r.Handle("/users/{id}", private(s.user)).Methods(http.MethodGet) // oneself, or any user for an admin
	return r, nil
}

// mapError is the one place where user-service's domain errors become HTTP statuses.
func mapError(err error) (int, bool) {
	switch {
	case errors.Is(err, account.ErrInvalid),
		errors.Is(err, wallet.ErrInvalidAmount),
		errors.Is(err, wallet.ErrIdempotencyKeyReused):
		return http.StatusUnprocessableEntity, true
	case errors.Is(err, account.ErrEmailTaken):
		return http.StatusConflict, true
	case errors.Is(err, account.ErrInvalidCredentials):
		return http.StatusUnauthorized, true
	case errors.Is(err, account.ErrNotFound):
		return http.StatusNotFound, true
	}
	return 0, false
}

// server holds the handlers' dependencies.
type server struct {
	app *app.App
}
