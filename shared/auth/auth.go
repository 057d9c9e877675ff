// Package auth issues and verifies tracecart's access tokens: JWTs signed with Ed25519
// (JWS algorithm "EdDSA"), and nothing else.
//
// user-service holds the private keys in a KeySet: it signs tokens at login and publishes the
// public half as a JSON Web Key Set (JWKS). The gateway, and any service that wants to check
// a token itself, builds a Verifier pointed at that JWKS URL and wraps its routes in
// Middleware. No secret is shared between services, and user-service can rotate keys without
// a redeploy of the others: a token with an unknown key ID makes the Verifier fetch the key
// set again, and a Verifier keeps every key it has seen until DefaultKeyRetention after the
// last set that listed it, so instances publishing different sets never cancel each other out.
//
// Rotation is publish-first, in three steps, each rolled out to every user-service instance
// before the next (JWT_PRIVATE_KEYS_PEM lists the signing key first, then published-only keys):
//
//  1. publish: add the new key second (old, new). It is in every JWKS, but nothing signs
//     with it yet; wait JWKSMaxAge so every verifier's cached set has it.
//  2. switch: put the new key first (new, old). Tokens are now signed with it and every
//     verifier already knows it; tokens signed with the old key still verify.
//  3. retire: after the longest token lifetime (TOKEN_TTL), remove the old key (new).
//
// The verifying side is deliberately strict. It accepts only alg "EdDSA" with Ed25519 keys,
// which shuts out the classic JWT attacks: "alg": "none", and key confusion, where an attacker
// signs an HS256 token with the public key as the HMAC secret. It requires exp, iss, aud and
// sub, and it checks nbf and iat when present.
package auth

import (
	"errors"
	"fmt"
	"slices"

	"github.com/golang-jwt/jwt/v5"
)

// ErrInvalidToken is wrapped by every error that means "this token must not be trusted":
// malformed, badly signed, signed by an unknown key, for another issuer or audience, expired.
// Such errors describe the reason but never contain the token itself.
var ErrInvalidToken = errors.New("invalid token")

// ErrExpired marks a token that is authentic but past its expiry, so a client can be told to
// refresh rather than to log in again. It wraps ErrInvalidToken.
var ErrExpired = fmt.Errorf("%w: expired", ErrInvalidToken)

// ErrKeysUnavailable means the verifier has no key set to check the token against, because
// the JWKS could not be fetched. It says nothing about the token, so it does not wrap
// ErrInvalidToken: the request deserves a 503, not a 401.
var ErrKeysUnavailable = errors.New("signing keys unavailable")

// Claims is the payload of a tracecart access token. Subject is the user's ID.
type Claims struct {
	jwt.RegisteredClaims
	// Roles are what the user may do beyond being a customer, such as "admin".
	Roles []string `json:"roles,omitempty"`
}

// Claims must satisfy jwt.Claims to be parsed into by jwt.Parser.
var _ jwt.Claims = (*Claims)(nil)

// HasRole reports whether the token grants role.
func (c *Claims) HasRole(role string) bool {
	return slices.Contains(c.Roles, role)
}
