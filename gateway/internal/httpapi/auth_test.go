package httpapi_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tracecart/tracecart/shared/auth"
)

func TestPrivateRoutesNeedAValidToken(t *testing.T) {
	g := newGateway(t, gatewayOptions{})
	const user = "00000000-0000-4000-8000-000000000b0b"
	valid := g.token(t, user, nil)

	// A second key the issuer never published, and tokens the verifier must refuse.
	_, otherKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{
		"iss": "tracecart", "aud": "tracecart", "sub": user,
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	}
	sign := func(method jwt.SigningMethod, key any, kid string) string {
		tok := jwt.NewWithClaims(method, claims)
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// The signature of a valid token, swapped for another: the claims are untouched.
	tampered := func() string {
		other := g.token(t, user, func(c *auth.Claims) { c.Roles = []string{"customer", "admin"} })
		return valid[:strings.LastIndex(valid, ".")] + other[strings.LastIndex(other, "."):]
	}()

	tests := []struct {
		name, header string
		challenge    string // expected in WWW-Authenticate
	}{
		{"missing", "", "Bearer"},
		{"not a bearer token", "Basic YWxpY2U6cGFzcw==", "Bearer"},
		{"malformed", "Bearer not.a.jwt", `error="invalid_token"`},
		{"expired", "Bearer " + g.token(t, user, func(c *auth.Claims) {
			c.IssuedAt = jwt.NewNumericDate(time.Now().Add(-2 * time.Hour))
			c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour))
		}), "expired"},
		{"forged with another key under the issuer's key ID", "Bearer " + sign(jwt.SigningMethodEdDSA, otherKey, g.keyID), `error="invalid_token"`},
		{"signed by a key the issuer does not publish", "Bearer " + sign(jwt.SigningMethodEdDSA, otherKey, "unknown-kid"), `error="invalid_token"`},
		{"signature of another token", "Bearer " + tampered, `error="invalid_token"`},
		{"alg none", "Bearer " + sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, g.keyID), `error="invalid_token"`},
		{"HS256 keyed with the public key", "Bearer " + sign(jwt.SigningMethodHS256, []byte(g.signer.Public().(ed25519.PublicKey)), g.keyID), `error="invalid_token"`},
		{"another audience", "Bearer " + g.token(t, user, func(c *auth.Claims) { c.Audience = jwt.ClaimStrings{"elsewhere"} }), `error="invalid_token"`},
		{"too long", "Bearer " + strings.Repeat("a", 9<<10), `error="invalid_token"`},
	}
	for _, path := range []string{"/api/orders", "/api/users/me", "/api/orders/1/cancel"} {
		for _, tt := range tests {
			t.Run(path+" "+tt.name, func(t *testing.T) {
				before := g.users.hits.Load() + g.orders.hits.Load()
				var header http.Header
				if tt.header != "" {
					header = http.Header{"Authorization": {tt.header}}
				}
				resp := g.do(t, request{path: path, header: header})
				if resp.status != http.StatusUnauthorized {
					t.Fatalf("status %d, want 401: %s", resp.status, resp.body)
				}
				resp.problem(t)
				if c := resp.header.Get("WWW-Authenticate"); !strings.Contains(c, tt.challenge) {
					t.Errorf("WWW-Authenticate %q, want it to contain %q", c, tt.challenge)
				}
				if after := g.users.hits.Load() + g.orders.hits.Load(); after != before {
					t.Errorf("a refused request reached a service")
				}
			})
		}
	}

	t.Run("a valid token is let through and forwarded", func(t *testing.T) {
		resp := g.do(t, request{path: "/api/orders", token: valid})
		if resp.status != http.StatusOK {
			t.Fatalf("status %d, want 200: %s", resp.status, resp.body)
		}
		if got := g.orders.last(t).Header.Get("Authorization"); got != "Bearer "+valid {
			t.Errorf("order-service got Authorization %q, want the token forwarded for its own check", got)
		}
	})
}

func TestPublicRoutesNeedNoToken(t *testing.T) {
	g := newGateway(t, gatewayOptions{})
	for _, req := range []request{
		{method: http.MethodPost, path: "/api/auth/register", body: `{"email":"e@example.com","password":"tracecart-demo","name":"E"}`},
		{method: http.MethodPost, path: "/api/auth/login", body: `{"email":"e@example.com","password":"tracecart-demo"}`},
		{path: "/api/products"},
		{path: "/api/products/00000000-0000-4000-8000-000000000101"},
		{method: http.MethodHead, path: "/api/products"},
		// A bad token on a public route is ignored, not punished.
		{path: "/api/products", header: http.Header{"Authorization": {"Bearer garbage"}}},
	} {
		if resp := g.do(t, req); resp.status != http.StatusOK {
			t.Errorf("%s %s = %d, want 200 without a token: %s", cmpMethod(req.method), req.path, resp.status, resp.body)
		}
	}
	// Writing to the catalogue is not public.
	if resp := g.do(t, request{method: http.MethodPost, path: "/api/products", body: `{}`}); resp.status != http.StatusUnauthorized {
		t.Errorf("POST /api/products without a token = %d, want 401", resp.status)
	}
}
