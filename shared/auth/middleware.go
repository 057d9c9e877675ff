package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// claimsKey is the context key for the verified claims; unexported so only this package sets it.
type claimsKey struct{}

// WithClaims returns a copy of ctx carrying claims. Middleware uses it; handler tests use it to
// act as a signed-in user without minting a token.
func WithClaims(ctx context.Context, claims *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, claims)
}

// ClaimsFrom returns the claims Middleware verified for this request, if any.
func ClaimsFrom(ctx context.Context) (*Claims, bool) {
	claims, ok := ctx.Value(claimsKey{}).(*Claims)
	return claims, ok && claims != nil
}

// Middleware lets a request through only with a valid "Authorization: Bearer <token>" header,
// and puts the token's claims in its context for ClaimsFrom. Other requests get an RFC 6750
// challenge and an application/problem+json body: 401 without a token or with a bad one, 503
// when the key set cannot be fetched (the token may be fine; the client should retry).
// It logs nothing: the answer's status is what access logs and metrics record, and the token
// is a credential that must never reach a log.
func Middleware(v *Verifier) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token, ok := BearerToken(r)
			if !ok {
				// RFC 6750 §3.1: a request without credentials gets a challenge without an error code.
				w.Header().Set("WWW-Authenticate", `Bearer`)
				writeProblem(w, http.StatusUnauthorized, "a bearer token is required")
				return
			}
			claims, err := v.Verify(r.Context(), token)
			switch {
			case errors.Is(err, ErrExpired):
				w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="the token has expired"`)
				writeProblem(w, http.StatusUnauthorized, "the bearer token has expired")
				return
			case errors.Is(err, ErrInvalidToken):
				w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="the token is invalid"`)
				writeProblem(w, http.StatusUnauthorized, "the bearer token is invalid")
				return
			case err != nil:
				writeProblem(w, http.StatusServiceUnavailable, "tokens cannot be verified right now")
				return
			}
			next.ServeHTTP(w, r.WithContext(WithClaims(r.Context(), claims)))
		})
	}
}

// RequireRole lets a request through only if Middleware verified claims granting role;
// others get 403 (or 401 if there are no claims at all). Put it inside Middleware.
func RequireRole(role string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			claims, ok := ClaimsFrom(r.Context())
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer`)
				writeProblem(w, http.StatusUnauthorized, "a bearer token is required")
				return
			}
			if !claims.HasRole(role) {
				w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope"`)
				writeProblem(w, http.StatusForbidden, "the "+role+" role is required")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// BearerToken extracts the token of an "Authorization: Bearer <token>" header. The scheme is
// case-insensitive (RFC 9110 §11.1); more than one Authorization header is refused as ambiguous.
// Middleware uses it, and so does code that must read a token the same way without requiring
// one, such as the gateway's rate limiter keying clients by subject.
func BearerToken(r *http.Request) (string, bool) {
	values := r.Header.Values("Authorization")
	if len(values) != 1 {
		return "", false
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// problem is an RFC 9457 problem details document. This package writes its own rather than
// depend on the HTTP server package, so that any handler can use it.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// writeProblem answers with status and a problem+json body. The type is "about:blank", which
// RFC 9457 defines as "nothing beyond the HTTP status", so the title is the status text.
func writeProblem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(problem{ // the client has gone if this fails; nothing left to do
		Type:   "about:blank",
		Title:  http.StatusText(status),
		Status: status,
		Detail: detail,
	})
}
