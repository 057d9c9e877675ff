// Package httpapi is user-service's HTTP interface: every route in routes.go, small handlers
// that decode the request, call the account service or the store, and encode the answer, and
// one mapError that turns the domain's errors into status codes.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/tracecart/tracecart/shared/auth"
	"github.com/tracecart/tracecart/shared/httpserver"
	"github.com/tracecart/tracecart/user-service/internal/account"
	"github.com/tracecart/tracecart/user-service/internal/token"
	"github.com/tracecart/tracecart/user-service/internal/wallet"
)

// Accounts registers and authenticates users (account.Service).
type Accounts interface {
	Register(ctx context.Context, r account.Registration) (account.User, error)
	Authenticate(ctx context.Context, email, password string) (account.User, error)
}

// Store reads users and their wallets and credits top-ups (postgres.Store).
type Store interface {
	UserByID(ctx context.Context, id uuid.UUID) (account.User, error)
	Wallet(ctx context.Context, userID uuid.UUID, limit int) (balanceCents int64, txs []wallet.Transaction, err error)
	TopUp(ctx context.Context, userID uuid.UUID, amountCents int64, idempotencyKey string) (wallet.TopUpResult, error)
}

// Tokens issues access tokens at login (token.Issuer).
type Tokens interface {
	Issue(userID uuid.UUID, roles []string) (token.Token, error)
}

// Deps is what the handlers need. All fields are required.
type Deps struct {
	Accounts Accounts
	Store    Store
	Tokens   Tokens
	// Verifier checks the bearer token of every private route.
	Verifier *auth.Verifier
	// JWKS serves the public keys (auth.KeySet.JWKSHandler).
	JWKS http.Handler
}

// NewRouter returns the router of user-service: httpserver's router (recovery, request IDs,
// tracing, access log, body limit) with this package's error mapping and every route below.
func NewRouter(opts httpserver.RouterOptions, d Deps) (*mux.Router, error) {
	if d.Accounts == nil || d.Store == nil || d.Tokens == nil || d.Verifier == nil || d.JWKS == nil {
		return nil, errors.New("new user-service router: every dependency is required")
	}
	opts.MapError = mapError
	r, err := httpserver.NewRouter(opts)
	if err != nil {
		return nil, fmt.Errorf("new user-service router: %w", err)
	}
	s := &server{Deps: d}
	// private checks the bearer token itself: no route trusts an identity header from the gateway.
	private := func(h http.HandlerFunc) http.Handler { return auth.Middleware(d.Verifier)(h) }

	// Public.
	r.Handle("/.well-known/jwks.json", d.JWKS).Methods(http.MethodGet)
	r.HandleFunc("/auth/register", s.register).Methods(http.MethodPost)
	r.HandleFunc("/auth/login", s.login).Methods(http.MethodPost)

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
	Deps
}
