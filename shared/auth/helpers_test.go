package auth_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tracecart/tracecart/shared/auth"
)

const (
	testIssuer   = "user-service"
	testAudience = "tracecart"
)

// signer is a key the test holds both ways: as an auth.Key for KeySets, and as the raw private
// key, to sign tokens that KeySet.Sign would refuse to make.
type signer struct {
	auth.Key
	private ed25519.PrivateKey
}

func newSigner(t testing.TB) signer {
	t.Helper()
	_, private, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	key, err := auth.NewKey(private)
	if err != nil {
		t.Fatalf("NewKey: %v", err)
	}
	return signer{Key: key, private: private}
}

// sign signs claims with s, with any header fields given in header (kid defaults to s's ID).
func (s signer) sign(t testing.TB, claims jwt.Claims, header map[string]any) string {
	t.Helper()
	token := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	token.Header["kid"] = s.ID()
	for k, v := range header {
		token.Header[k] = v
	}
	signed, err := token.SignedString(s.private)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return signed
}

func newKeySet(t testing.TB, keys ...signer) *auth.KeySet {
	t.Helper()
	authKeys := make([]auth.Key, 0, len(keys))
	for _, k := range keys {
		authKeys = append(authKeys, k.Key)
	}
	set, err := auth.NewKeySet(authKeys...)
	if err != nil {
		t.Fatalf("NewKeySet: %v", err)
	}
	return set
}

// issuer plays user-service's JWKS endpoint on a real loopback HTTP server. It counts the
// requests it gets, can be told to fail, and can switch key sets to simulate a rotation.
type issuer struct {
	URL     string
	server  *httptest.Server
	keys    atomic.Pointer[auth.KeySet]
	fetches atomic.Int64
	failing atomic.Bool
}

func newIssuer(t testing.TB, keys *auth.KeySet) *issuer {
	t.Helper()
	iss := &issuer{}
	iss.keys.Store(keys)
	iss.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		iss.fetches.Add(1)
		if iss.failing.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		iss.keys.Load().JWKSHandler().ServeHTTP(w, r)
	}))
	t.Cleanup(iss.server.Close)
	iss.URL = iss.server.URL + "/.well-known/jwks.json"
	return iss
}

// clock is a settable time source, so tests move time instead of sleeping.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

const (
	testRefreshInterval    = 5 * time.Minute
	testMinRefreshInterval = 10 * time.Second
)

func newVerifier(t testing.TB, jwksURL string, clk *clock) *auth.Verifier {
	t.Helper()
	v, err := auth.NewVerifier(auth.VerifierOptions{
		JWKSURL:            jwksURL,
		Issuer:             testIssuer,
		Audience:           testAudience,
		RefreshInterval:    testRefreshInterval,
		MinRefreshInterval: testMinRefreshInterval,
		Now:                clk.Now,
	})
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

// validClaims returns claims that a verifier at now accepts; tests spoil one thing at a time.
func validClaims(now time.Time) *auth.Claims {
	return &auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    testIssuer,
			Subject:   "user-42",
			Audience:  jwt.ClaimStrings{testAudience},
			ExpiresAt: jwt.NewNumericDate(now.Add(15 * time.Minute)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        "token-1",
		},
		Roles: []string{"customer"},
	}
}

// signValid signs validClaims(now) with the key set, as user-service would.
func signValid(t testing.TB, keys *auth.KeySet, now time.Time) string {
	t.Helper()
	token, err := keys.Sign(*validClaims(now))
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return token
}
