package auth_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tracecart/tracecart/shared/auth"
)

func TestVerifyAccepts(t *testing.T) {
	key := newSigner(t)
	keys := newKeySet(t, key)
	clk := newClock()
	now := clk.Now()
	v := newVerifier(t, newIssuer(t, keys).URL, clk)

	tests := []struct {
		name   string
		claims func() *auth.Claims
	}{
		{"valid", func() *auth.Claims { return validClaims(now) }},
		{"expired within the leeway", func() *auth.Claims {
			c := validClaims(now.Add(-20 * time.Minute))
			c.ExpiresAt = jwt.NewNumericDate(now.Add(-10 * time.Second))
			return c
		}},
		{"one of several audiences", func() *auth.Claims {
			c := validClaims(now)
			c.Audience = jwt.ClaimStrings{"billing", testAudience}
			return c
		}},
		{"no nbf nor iat", func() *auth.Claims {
			c := validClaims(now)
			c.NotBefore, c.IssuedAt = nil, nil
			return c
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.claims()
			token, err := keys.Sign(*want)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			got, err := v.Verify(t.Context(), token)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			// Compare as JSON: times come back in the local zone, at the claims' second precision.
			gotJSON, _ := json.Marshal(got)
			wantJSON, _ := json.Marshal(want)
			if string(gotJSON) != string(wantJSON) {
				t.Errorf("claims = %s, want %s", gotJSON, wantJSON)
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	key := newSigner(t)
	keys := newKeySet(t, key)
	clk := newClock()
	now := clk.Now()
	v := newVerifier(t, newIssuer(t, keys).URL, clk)

	// spoiled returns validClaims(now) changed by spoil, signed by the trusted key.
	spoiled := func(spoil func(*auth.Claims)) func(t *testing.T) string {
		return func(t *testing.T) string {
			c := validClaims(now)
			spoil(c)
			return key.sign(t, c, nil)
		}
	}
	// signedWith signs valid claims with another algorithm, under the trusted key's ID.
	signedWith := func(method jwt.SigningMethod, secret any) func(t *testing.T) string {
		return func(t *testing.T) string {
			token := jwt.NewWithClaims(method, validClaims(now))
			token.Header["kid"] = key.ID()
			signed, err := token.SignedString(secret)
			if err != nil {
				t.Fatalf("sign with %s: %v", method.Alg(), err)
			}
			return signed
		}
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	encode := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	validHeader := encode(map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": key.ID()})

	tests := []struct {
		name    string
		token   func(t *testing.T) string
		wantErr error
	}{
		{"expired", spoiled(func(c *auth.Claims) {
			c.IssuedAt = jwt.NewNumericDate(now.Add(-2 * time.Hour))
			c.NotBefore = c.IssuedAt
			c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Hour))
		}), auth.ErrExpired},
		{"no expiry", spoiled(func(c *auth.Claims) { c.ExpiresAt = nil }), auth.ErrInvalidToken},
		{"not valid yet", spoiled(func(c *auth.Claims) { c.NotBefore = jwt.NewNumericDate(now.Add(time.Hour)) }), auth.ErrInvalidToken},
		{"issued in the future", spoiled(func(c *auth.Claims) { c.IssuedAt = jwt.NewNumericDate(now.Add(time.Hour)) }), auth.ErrInvalidToken},
		{"wrong issuer", spoiled(func(c *auth.Claims) { c.Issuer = "evil-service" }), auth.ErrInvalidToken},
		{"no issuer", spoiled(func(c *auth.Claims) { c.Issuer = "" }), auth.ErrInvalidToken},
		{"wrong audience", spoiled(func(c *auth.Claims) { c.Audience = jwt.ClaimStrings{"billing"} }), auth.ErrInvalidToken},
		{"no audience", spoiled(func(c *auth.Claims) { c.Audience = nil }), auth.ErrInvalidToken},
		{"no subject", spoiled(func(c *auth.Claims) { c.Subject = "" }), auth.ErrInvalidToken},
		{"no kid", func(t *testing.T) string {
			return key.sign(t, validClaims(now), map[string]any{"kid": nil})
		}, auth.ErrInvalidToken},
		{"alg none", signedWith(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType), auth.ErrInvalidToken},
		{"HS256 keyed with the raw public key (key confusion)", signedWith(jwt.SigningMethodHS256, []byte(key.Public())), auth.ErrInvalidToken},
		{"HS256 keyed with the JWK x (key confusion)", signedWith(jwt.SigningMethodHS256, []byte(key.JWK().X)), auth.ErrInvalidToken},
		{"RS256", signedWith(jwt.SigningMethodRS256, rsaKey), auth.ErrInvalidToken},
		{"forged: unknown key claiming the trusted kid", func(t *testing.T) string {
			return newSigner(t).sign(t, validClaims(now), map[string]any{"kid": key.ID()})
		}, auth.ErrInvalidToken},
		{"signed by an unknown key", func(t *testing.T) string {
			return newSigner(t).sign(t, validClaims(now), nil)
		}, auth.ErrInvalidToken},
		{"payload tampered after signing", func(t *testing.T) string {
			parts := strings.Split(key.sign(t, validClaims(now), nil), ".")
			admin := validClaims(now)
			admin.Roles = []string{"admin"}
			return parts[0] + "." + encode(admin) + "." + parts[2]
		}, auth.ErrInvalidToken},
		{"empty", func(*testing.T) string { return "" }, auth.ErrInvalidToken},
		{"garbage", func(*testing.T) string { return "garbage" }, auth.ErrInvalidToken},
		{"two segments", func(*testing.T) string { return validHeader + "." + encode(validClaims(now)) }, auth.ErrInvalidToken},
		{"four segments", func(t *testing.T) string { return key.sign(t, validClaims(now), nil) + ".x" }, auth.ErrInvalidToken},
		{"bad base64", func(*testing.T) string { return "!!!.@@@.###" }, auth.ErrInvalidToken},
		{"padded base64", func(t *testing.T) string {
			parts := strings.Split(key.sign(t, validClaims(now), nil), ".")
			return parts[0] + "=." + parts[1] + "." + parts[2]
		}, auth.ErrInvalidToken},
		{"payload not JSON", func(*testing.T) string {
			return validHeader + "." + base64.RawURLEncoding.EncodeToString([]byte("not json")) + ".c2ln"
		}, auth.ErrInvalidToken},
		{"roles not a list", func(t *testing.T) string {
			return key.sign(t, jwt.MapClaims{
				"iss": testIssuer, "aud": testAudience, "sub": "user-42",
				"exp": now.Add(time.Minute).Unix(), "roles": "admin",
			}, nil)
		}, auth.ErrInvalidToken},
		{"too long", func(t *testing.T) string {
			c := validClaims(now)
			c.Roles = []string{strings.Repeat("r", 10<<10)}
			return key.sign(t, c, nil)
		}, auth.ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := tt.token(t)
			claims, err := v.Verify(t.Context(), token)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify error = %v, want %v", err, tt.wantErr)
			}
			if !errors.Is(err, auth.ErrInvalidToken) || errors.Is(err, auth.ErrKeysUnavailable) {
				t.Errorf("Verify error = %v, want it to be an invalid token and nothing else", err)
			}
			if claims != nil {
				t.Errorf("Verify returned claims %+v with its error", claims)
			}
			if len(token) > 8 && strings.Contains(err.Error(), token) {
				t.Errorf("error %q contains the token", err)
			}
			for _, part := range strings.Split(token, ".") {
				if len(part) > 8 && strings.Contains(err.Error(), part) {
					t.Errorf("error %q contains part of the token", err)
				}
			}
		})
	}
}

func TestVerifyFetchesLazilyOnce(t *testing.T) {
	keys := newKeySet(t, newSigner(t))
	clk := newClock()
	iss := newIssuer(t, keys)
	v := newVerifier(t, iss.URL, clk)

	if n := iss.fetches.Load(); n != 0 {
		t.Fatalf("NewVerifier fetched the key set %d times, want it to wait for the first token", n)
	}
	for range 10 {
		if _, err := v.Verify(t.Context(), signValid(t, keys, clk.Now())); err != nil {
			t.Fatalf("Verify: %v", err)
		}
		clk.Advance(testRefreshInterval / 20)
	}
	if n := iss.fetches.Load(); n != 1 {
		t.Errorf("key set fetched %d times for 10 tokens within the refresh interval, want 1", n)
	}

	clk.Advance(testRefreshInterval)
	if _, err := v.Verify(t.Context(), signValid(t, keys, clk.Now())); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if n := iss.fetches.Load(); n != 2 {
		t.Errorf("key set fetched %d times after the refresh interval passed, want 2", n)
	}
}

func TestVerifyKeyRotation(t *testing.T) {
	oldKey, newKey := newSigner(t), newSigner(t)
	clk := newClock()
	iss := newIssuer(t, newKeySet(t, oldKey))
	v := newVerifier(t, iss.URL, clk)

	verify := func(key signer) error {
		t.Helper()
		_, err := v.Verify(t.Context(), key.sign(t, validClaims(clk.Now()), nil))
		return err
	}
	if err := verify(oldKey); err != nil {
		t.Fatalf("Verify with the old key: %v", err)
	}

	// user-service restarts signing with a new key, still publishing the old one.
	iss.keys.Store(newKeySet(t, newKey, oldKey))
	clk.Advance(testMinRefreshInterval)
	// Many requests with the new kid arrive together: every one must wait for the single
	// refresh and then pass, not fail for finding the key missing while it is underway.
	const concurrent = 20
	var wg sync.WaitGroup
	errs := make([]error, concurrent)
	for i := range concurrent {
		token := newKey.sign(t, validClaims(clk.Now()), nil)
		wg.Go(func() {
			_, errs[i] = v.Verify(t.Context(), token)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("Verify with the new key: %v", err)
	}
	if n := iss.fetches.Load(); n != 2 {
		t.Errorf("key set fetched %d times, want 2: the first use and one refresh for the new kid", n)
	}
	if err := verify(oldKey); err != nil {
		t.Errorf("Verify with the old key, still published: %v", err)
	}

	// Later the old key is withdrawn. The verifier keeps it until DefaultKeyRetention has passed
	// since a fetch last listed it (tokens it signed may still be alive), then forgets it.
	iss.keys.Store(newKeySet(t, newKey))
	clk.Advance(testRefreshInterval)
	if err := verify(oldKey); err != nil {
		t.Errorf("Verify with a key withdrawn %s ago: %v, want it kept", testRefreshInterval, err)
	}
	clk.Advance(auth.DefaultKeyRetention)
	if err := verify(oldKey); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("Verify with a key withdrawn more than the retention ago = %v, want ErrInvalidToken", err)
	}
	if err := verify(newKey); err != nil {
		t.Errorf("Verify with the new key: %v", err)
	}
}

// TestVerifyKeepsKeysAcrossInstances is two user-service instances behind one JWKS URL that do
// not publish the same set (one mid-rotation): whichever instance answered last, the verifier
// accepts tokens of both, because a fetch adds keys rather than replacing the set.
func TestVerifyKeepsKeysAcrossInstances(t *testing.T) {
	a, b := newSigner(t), newSigner(t)
	clk := newClock()
	iss := newIssuer(t, newKeySet(t, a))
	v := newVerifier(t, iss.URL, clk)

	if _, err := v.Verify(t.Context(), a.sign(t, validClaims(clk.Now()), nil)); err != nil {
		t.Fatalf("token of instance A: %v", err)
	}
	iss.keys.Store(newKeySet(t, b)) // the next fetch is answered by instance B
	clk.Advance(testMinRefreshInterval)
	for round := range 3 {
		for _, s := range []signer{a, b} {
			if _, err := v.Verify(t.Context(), s.sign(t, validClaims(clk.Now()), nil)); err != nil {
				t.Fatalf("round %d: token of instance %s: %v", round, s.ID(), err)
			}
		}
		clk.Advance(testRefreshInterval) // a refresh on each round, answered by B
	}
}

// TestVerifyPublishFirstRotation walks the rotation the package documents: the new key is
// published (second in the set, not signing) before any instance signs with it, so a verifier
// that cached the set before the switch already knows the key and needs no fetch.
func TestVerifyPublishFirstRotation(t *testing.T) {
	oldKey, newKey := newSigner(t), newSigner(t)
	clk := newClock()
	iss := newIssuer(t, newKeySet(t, oldKey))
	v := newVerifier(t, iss.URL, clk)
	if _, err := v.Verify(t.Context(), oldKey.sign(t, validClaims(clk.Now()), nil)); err != nil {
		t.Fatal(err)
	}

	// Step 1: publish the new key; the old one still signs.
	iss.keys.Store(newKeySet(t, oldKey, newKey))
	clk.Advance(testRefreshInterval)
	if _, err := v.Verify(t.Context(), oldKey.sign(t, validClaims(clk.Now()), nil)); err != nil {
		t.Fatal(err)
	}
	fetches := iss.fetches.Load()

	// Step 2: the new key signs. The verifier knows it from step 1's refresh.
	iss.keys.Store(newKeySet(t, newKey, oldKey))
	if _, err := v.Verify(t.Context(), newKey.sign(t, validClaims(clk.Now()), nil)); err != nil {
		t.Fatalf("token signed by the published-first key: %v", err)
	}
	if n := iss.fetches.Load(); n != fetches {
		t.Errorf("the switch to a published key caused %d fetches, want none", n-fetches)
	}
}

func TestVerifyRateLimitsRefresh(t *testing.T) {
	key := newSigner(t)
	keys := newKeySet(t, key)
	clk := newClock()
	iss := newIssuer(t, keys)
	v := newVerifier(t, iss.URL, clk)
	if _, err := v.Verify(t.Context(), signValid(t, keys, clk.Now())); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	clk.Advance(testMinRefreshInterval)

	// A burst of tokens with made-up key IDs, all at once, as an attacker would send them.
	const burst = 50
	var wg sync.WaitGroup
	errs := make([]error, burst)
	for i := range burst {
		token := newSigner(t).sign(t, validClaims(clk.Now()), nil)
		wg.Go(func() {
			_, errs[i] = v.Verify(t.Context(), token)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, auth.ErrInvalidToken) {
			t.Fatalf("Verify of unknown-key token #%d = %v, want ErrInvalidToken", i, err)
		}
	}
	if n := iss.fetches.Load(); n != 2 {
		t.Errorf("key set fetched %d times for %d unknown-key tokens, want 2 (first use + one refresh)", n, burst)
	}

	// Until MinRefreshInterval has passed, unknown keys do not cause another fetch...
	clk.Advance(testMinRefreshInterval - time.Second)
	if _, err := v.Verify(t.Context(), newSigner(t).sign(t, validClaims(clk.Now()), nil)); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("Verify of unknown-key token = %v, want ErrInvalidToken", err)
	}
	if n := iss.fetches.Load(); n != 2 {
		t.Errorf("key set fetched %d times within MinRefreshInterval, want still 2", n)
	}
	// ...and after it, one does.
	clk.Advance(time.Second)
	if _, err := v.Verify(t.Context(), newSigner(t).sign(t, validClaims(clk.Now()), nil)); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("Verify of unknown-key token = %v, want ErrInvalidToken", err)
	}
	if n := iss.fetches.Load(); n != 3 {
		t.Errorf("key set fetched %d times after MinRefreshInterval, want 3", n)
	}
	// Known keys were never the problem.
	if _, err := v.Verify(t.Context(), signValid(t, keys, clk.Now())); err != nil {
		t.Errorf("Verify with the trusted key: %v", err)
	}
}

func TestVerifyKeepsKeysWhileIssuerIsDown(t *testing.T) {
	keys := newKeySet(t, newSigner(t))
	clk := newClock()
	iss := newIssuer(t, keys)
	v := newVerifier(t, iss.URL, clk)
	if _, err := v.Verify(t.Context(), signValid(t, keys, clk.Now())); err != nil {
		t.Fatalf("Verify: %v", err)
	}

	// The issuer answers errors: the stale set is refreshed, fails, and stays in use.
	iss.failing.Store(true)
	clk.Advance(testRefreshInterval)
	for range 3 {
		if _, err := v.Verify(t.Context(), signValid(t, keys, clk.Now())); err != nil {
			t.Fatalf("Verify while the issuer fails: %v", err)
		}
	}
	if n := iss.fetches.Load(); n != 2 {
		t.Errorf("key set fetched %d times, want 2: a failed refresh is not retried within MinRefreshInterval", n)
	}

	// The issuer is gone altogether: connections are refused.
	iss.server.Close()
	clk.Advance(testMinRefreshInterval)
	if _, err := v.Verify(t.Context(), signValid(t, keys, clk.Now())); err != nil {
		t.Fatalf("Verify with the issuer down: %v", err)
	}
}

func TestVerifyWithoutAnyKeySet(t *testing.T) {
	keys := newKeySet(t, newSigner(t))
	clk := newClock()
	iss := newIssuer(t, keys)
	iss.failing.Store(true)
	v := newVerifier(t, iss.URL, clk)

	_, err := v.Verify(t.Context(), signValid(t, keys, clk.Now()))
	if !errors.Is(err, auth.ErrKeysUnavailable) || errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("Verify with no key set = %v, want ErrKeysUnavailable and not ErrInvalidToken", err)
	}

	iss.failing.Store(false)
	clk.Advance(testMinRefreshInterval)
	if _, err := v.Verify(t.Context(), signValid(t, keys, clk.Now())); err != nil {
		t.Fatalf("Verify once the issuer is back: %v", err)
	}
}

func TestVerifySkipsUnusableKeys(t *testing.T) {
	key := newSigner(t)
	good := key.JWK()
	serve := func(set auth.JWKS) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_ = json.NewEncoder(w).Encode(set)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	with := func(change func(*auth.JWK)) auth.JWK {
		k := good
		change(&k)
		return k
	}
	unusable := []auth.JWK{
		with(func(k *auth.JWK) { k.KeyType = "RSA" }),
		with(func(k *auth.JWK) { k.Curve = "X25519" }),
		with(func(k *auth.JWK) { k.Use = "enc" }),
		with(func(k *auth.JWK) { k.Algorithm = "HS256" }),
		with(func(k *auth.JWK) { k.X = k.X[:20] }),
		with(func(k *auth.JWK) { k.KeyID = "" }),
	}
	clk := newClock()
	token := key.sign(t, validClaims(clk.Now()), nil)

	for _, k := range unusable {
		// Each unusable variant alone carries the right kid and x but must not be trusted.
		v := newVerifier(t, serve(auth.JWKS{Keys: []auth.JWK{k}}), clk)
		if _, err := v.Verify(t.Context(), token); !errors.Is(err, auth.ErrKeysUnavailable) {
			t.Errorf("Verify against a set with only %+v = %v, want ErrKeysUnavailable", k, err)
		}
	}

	v := newVerifier(t, serve(auth.JWKS{Keys: append(slices.Clone(unusable), good)}), clk)
	if _, err := v.Verify(t.Context(), token); err != nil {
		t.Errorf("Verify against a mixed set holding the good key: %v", err)
	}
}

func TestNewVerifierRejects(t *testing.T) {
	valid := auth.VerifierOptions{JWKSURL: "http://127.0.0.1:1/jwks", Issuer: testIssuer, Audience: testAudience}
	tests := []struct {
		name   string
		change func(*auth.VerifierOptions)
	}{
		{"no JWKS URL", func(o *auth.VerifierOptions) { o.JWKSURL = "" }},
		{"JWKS URL not http", func(o *auth.VerifierOptions) { o.JWKSURL = "file:///etc/jwks.json" }},
		{"no issuer", func(o *auth.VerifierOptions) { o.Issuer = "" }},
		{"no audience", func(o *auth.VerifierOptions) { o.Audience = "" }},
		{"negative leeway", func(o *auth.VerifierOptions) { o.Leeway = -time.Second }},
	}
	if _, err := auth.NewVerifier(valid); err != nil {
		t.Fatalf("NewVerifier(%+v): %v", valid, err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := valid
			tt.change(&opts)
			if _, err := auth.NewVerifier(opts); err == nil {
				t.Errorf("NewVerifier(%+v): want an error", opts)
			}
		})
	}
}

// TestVerifierFromKeySet covers the issuer verifying its own tokens: against its KeySet, with no
// fetching, accepting its keys (including a rotated-out one it still publishes) and treating
// any other key as invalid, never as "keys unavailable".
func TestVerifierFromKeySet(t *testing.T) {
	clk := newClock()
	current, previous := newSigner(t), newSigner(t)
	keys := newKeySet(t, current, previous)
	v, err := auth.NewVerifier(auth.VerifierOptions{KeySet: keys, Issuer: testIssuer, Audience: testAudience, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}

	if _, err := v.Verify(t.Context(), signValid(t, keys, clk.Now())); err != nil {
		t.Errorf("token signed by the set's signing key: %v", err)
	}
	if _, err := v.Verify(t.Context(), previous.sign(t, validClaims(clk.Now()), nil)); err != nil {
		t.Errorf("token signed by the set's other key: %v", err)
	}
	clk.Advance(2 * testRefreshInterval) // no refresh is due: nothing to fetch from
	forged := newSigner(t).sign(t, validClaims(clk.Now()), nil)
	if _, err := v.Verify(t.Context(), forged); !errors.Is(err, auth.ErrInvalidToken) || errors.Is(err, auth.ErrKeysUnavailable) {
		t.Errorf("token signed by an unknown key: %v, want ErrInvalidToken", err)
	}

}

// TestVerifierFromKeySetAndJWKS is one user-service instance among several: its own keys are
// trusted without fetching, and a token a sibling signed with a key this instance does not hold
// is checked against the published set.
func TestVerifierFromKeySetAndJWKS(t *testing.T) {
	clk := newClock()
	own, sibling := newSigner(t), newSigner(t)
	iss := newIssuer(t, newKeySet(t, sibling))
	v, err := auth.NewVerifier(auth.VerifierOptions{
		KeySet: newKeySet(t, own), JWKSURL: iss.URL, Issuer: testIssuer, Audience: testAudience, Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), own.sign(t, validClaims(clk.Now()), nil)); err != nil {
		t.Errorf("token signed by the instance's own key: %v", err)
	}
	if n := iss.fetches.Load(); n != 0 {
		t.Errorf("own key caused %d fetches, want 0", n)
	}
	if _, err := v.Verify(t.Context(), sibling.sign(t, validClaims(clk.Now()), nil)); err != nil {
		t.Errorf("token signed by a sibling's key: %v", err)
	}
	forged := newSigner(t).sign(t, validClaims(clk.Now()), nil)
	if _, err := v.Verify(t.Context(), forged); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("token signed by an unknown key: %v, want ErrInvalidToken", err)
	}
}
