package httpapi_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tracecart/tracecart/order-service/internal/adapters/postgres/postgrestest"
	"github.com/tracecart/tracecart/shared/auth"
)

// TestEveryRouteNeedsAValidToken sends each route a request without a token, with a forged
// one and with an expired one; each must be refused with 401 before anything happens.
//
// Over 60 lines: most of it is the table of routes and tokens.
func TestEveryRouteNeedsAValidToken(t *testing.T) {
	e := newEnv(t)
	o := e.placeOrder(alice, fmt.Sprintf(`{"lines":[{"product_id":%q,"quantity":1}]}`, mug))

	// Forged: signed by an attacker's key but claiming to be from user-service's key.
	_, attackerKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	forged := jwt.NewWithClaims(jwt.SigningMethodEdDSA, auth.Claims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: "tracecart", Audience: jwt.ClaimStrings{"tracecart"}, Subject: alice.String(),
		IssuedAt: jwt.NewNumericDate(time.Now()), ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour)),
	}})
	forged.Header["kid"] = e.keys.JWKS().Keys[0].KeyID
	forgedToken, err := forged.SignedString(attackerKey)
	if err != nil {
		t.Fatal(err)
	}
	// Signed by a key user-service never published.
	otherKey, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	otherSet, err := auth.NewKeySet(otherKey)
	if err != nil {
		t.Fatal(err)
	}

	tokens := map[string]string{
		"no token":     "",
		"forged":       forgedToken,
		"unknown key":  signToken(t, otherSet, alice, time.Now().Add(time.Hour)),
		"expired":      signToken(t, e.keys, alice, time.Now().Add(-time.Hour)),
		"not a JWT":    "not-a-jwt",
		"wrong scheme": "",
	}
	routes := []request{
		{method: http.MethodPost, path: "/orders", body: fmt.Sprintf(`{"lines":[{"product_id":%q,"quantity":1}]}`, mug)},
		{method: http.MethodGet, path: "/orders"},
		{method: http.MethodGet, path: "/orders/" + o.ID.String()},
		{method: http.MethodPost, path: "/orders/" + o.ID.String() + "/cancel"},
	}
	before := postgrestest.CountRows(t, e.pool)
	for name, token := range tokens {
		for _, route := range routes {
			t.Run(name+"/"+route.method+" "+route.path, func(t *testing.T) {
				route.token = token
				if name == "wrong scheme" {
					route.header = map[string]string{"Authorization": "Basic " + e.token(alice)}
				}
				resp := e.do(route)
				problem(t, resp, http.StatusUnauthorized)
				if !strings.HasPrefix(resp.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate = %q, want a Bearer challenge", resp.header.Get("WWW-Authenticate"))
				}
			})
		}
	}
	if after := postgrestest.CountRows(t, e.pool); after != before {
		t.Errorf("rows went from %+v to %+v, want nothing written without a valid token", before, after)
	}

	// A valid token whose subject is not a user ID is refused too.
	notAUser, err := e.keys.Sign(auth.Claims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: "tracecart", Audience: jwt.ClaimStrings{"tracecart"}, Subject: "alice",
		ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour)),
	}})
	if err != nil {
		t.Fatal(err)
	}
	problem(t, e.do(request{method: http.MethodGet, path: "/orders", token: notAUser}), http.StatusUnauthorized)
}
