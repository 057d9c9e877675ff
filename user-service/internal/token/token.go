// Package token issues user-service's access tokens and checks them on its own private routes.
//
// Signing is shared/auth's KeySet; this package adds what a login needs on top (the claims
// tracecart puts in a token and their lifetime), and a Verifier that reads the key set in
// process. user-service checks its own tokens with the same strict auth.Verifier every other
// service uses rather than a shortcut of its own, so a token is accepted here exactly when it
// would be accepted anywhere else.
package token

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/tracecart/tracecart/shared/auth"
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

// Token is a signed access token and how long it lives.
type Token struct {
	AccessToken string
	ExpiresIn   time.Duration
}

// Issue signs a token for the user: sub is the user ID, roles the user's roles, and a jti
// makes every token distinct (and findable in logs of a future revocation list).
func (i *Issuer) Issue(userID uuid.UUID, roles []string) (Token, error) {
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
		return Token{}, fmt.Errorf("issue token for user %s: %w", userID, err)
	}
	return Token{AccessToken: signed, ExpiresIn: i.opts.TTL}, nil
}

// localJWKSURL is the address the in-process verifier "fetches" the key set from. Nothing
// listens there; the transport below answers every request itself.
const localJWKSURL = "http://user-service.internal/.well-known/jwks.json"

// NewVerifier returns an auth.Verifier for tokens signed by keys, reading the JWKS straight
// from keys instead of over the network.
//
// shared/auth builds Verifiers from a JWKS URL only (other services have no KeySet), so this
// hands it an http.Client whose transport answers with the KeySet's JWKS document: the round
// trip to itself disappears, and everything else (algorithm, issuer, audience, expiry and
// leeway checks) is the shared code path.
func NewVerifier(keys *auth.KeySet, issuer, audience string) (*auth.Verifier, error) {
	jwks, err := json.Marshal(keys.JWKS())
	if err != nil {
		return nil, fmt.Errorf("new local token verifier: encode JWKS: %w", err)
	}
	v, err := auth.NewVerifier(auth.VerifierOptions{
		JWKSURL:    localJWKSURL,
		Issuer:     issuer,
		Audience:   audience,
		HTTPClient: &http.Client{Transport: staticTransport(jwks)},
	})
	if err != nil {
		return nil, fmt.Errorf("new local token verifier: %w", err)
	}
	return v, nil
}

// staticTransport is an http.RoundTripper that answers every request with 200 and its bytes.
type staticTransport []byte

func (body staticTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{
		Status: "200 OK", StatusCode: http.StatusOK,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/jwk-set+json"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}, nil
}
