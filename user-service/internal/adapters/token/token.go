// Package token issues user-service's access tokens (the app.Tokens port) and checks them on its
// own private routes.
//
// Signing is shared/auth's KeySet; this package adds what a login needs on top (the claims
// tracecart puts in a token and their lifetime), and a Verifier that reads the instance's own
// key set in process and the set its siblings publish when it meets a key it does not hold.
// user-service checks its own tokens with the same strict auth.Verifier every other
// service uses rather than a shortcut of its own, so a token is accepted here exactly when it
// would be accepted anywhere else.
package token

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/tracecart/tracecart/shared/auth"
	"github.com/tracecart/tracecart/user-service/internal/app"
)

// Options configures an Issuer. Keys, Issuer, Audience and TTL are required.
type Options struct {
	Keys     *auth.KeySet
	Issuer   string
	Audience string
	// TTL is how long a token is valid; it is also the longest a stolen token stays useful.
	TTL time.Duration
	// Now is the clock; nil means time.Now. Tests set it to mint expired tokens.
	Now func() time.Time
}

// Issuer signs access tokens for authenticated users.
type Issuer struct {
	opts Options
}

// NewIssuer checks opts and returns an Issuer.
func NewIssuer(opts Options) (*Issuer, error) {
	if opts.Keys == nil || opts.Issuer == "" || opts.Audience == "" || opts.TTL <= 0 {
		return nil, errors.New("new token issuer: Keys, Issuer, Audience and a positive TTL are required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Issuer{opts: opts}, nil
}

// The login use case issues its tokens here.
var _ app.Tokens = (*Issuer)(nil)

// Issue signs a token for the user: sub is the user ID, roles the user's roles, and a jti
// makes every token distinct (and findable in logs of a future revocation list).
func (i *Issuer) Issue(userID uuid.UUID, roles []string) (app.Token, error) {
	now := i.opts.Now().Truncate(time.Second) // JWT times have second precision
	signed, err := i.opts.Keys.Sign(auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    i.opts.Issuer,
			Subject:   userID.String(),
			Audience:  jwt.ClaimStrings{i.opts.Audience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(i.opts.TTL)),
			ID:        uuid.NewString(),
		},
		Roles: roles,
	})
	if err != nil {
		return app.Token{}, fmt.Errorf("issue token for user %s: %w", userID, err)
	}
	return app.Token{AccessToken: signed, ExpiresIn: i.opts.TTL}, nil
}

// VerifierOptions configure NewVerifier. Keys, Issuer and Audience are required; JWKSURL and
// HTTPClient are for an instance that runs beside others.
type VerifierOptions struct {
	// Keys are this instance's own keys, trusted with no round trip.
	Keys *auth.KeySet
	// JWKSURL, when set, is where a key this instance does not hold is looked up: the set
	// that every instance publishes. HTTPClient fetches it (a discovery-aware client).
	JWKSURL    string
	HTTPClient *http.Client
	Issuer     string
	Audience   string
}

// NewVerifier returns an auth.Verifier for the tokens user-service issues: those signed by its
// own keys, checked in process, and, with a JWKSURL, those its sibling instances signed with a
// key this one does not have. Everything else (algorithm, issuer, audience, expiry and leeway
// checks) is the shared code path.
func NewVerifier(opts VerifierOptions) (*auth.Verifier, error) {
	v, err := auth.NewVerifier(auth.VerifierOptions{
		KeySet: opts.Keys, JWKSURL: opts.JWKSURL, HTTPClient: opts.HTTPClient,
		Issuer: opts.Issuer, Audience: opts.Audience,
	})
	if err != nil {
		return nil, fmt.Errorf("new token verifier: %w", err)
	}
	return v, nil
}
