package auth_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tracecart/tracecart/shared/auth"
)

// TestKeyIDIsThumbprint checks the key ID against the example of RFC 8037, Appendix A.3.
func TestKeyIDIsThumbprint(t *testing.T) {
	seed, err := base64.RawURLEncoding.DecodeString("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
	if err != nil {
		t.Fatal(err)
	}
	key, err := auth.NewKey(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		t.Fatalf("NewKey: %v", err)
	}
	if got, want := key.ID(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; got != want {
		t.Errorf("ID = %q, want the RFC 8037 thumbprint %q", got, want)
	}
	if got, want := key.JWK().X, "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"; got != want {
		t.Errorf("JWK x = %q, want %q", got, want)
	}
}

func TestParseKeysPEM(t *testing.T) {
	first, second := newSigner(t), newSigner(t)
	pem1, err := first.MarshalPEM()
	if err != nil {
		t.Fatalf("MarshalPEM: %v", err)
	}
	pem2, err := second.MarshalPEM()
	if err != nil {
		t.Fatalf("MarshalPEM: %v", err)
	}

	keys, err := auth.ParseKeysPEM(append(append(pem1, '\n'), pem2...))
	if err != nil {
		t.Fatalf("ParseKeysPEM: %v", err)
	}
	if len(keys) != 2 || keys[0].ID() != first.ID() || keys[1].ID() != second.ID() {
		t.Fatalf("ParseKeysPEM returned %d keys, want %s then %s", len(keys), first.ID(), second.ID())
	}
	if !keys[0].Public().Equal(first.Public()) {
		t.Error("parsed key differs from the marshalled one")
	}
}

func TestParseKeysPEMRejects(t *testing.T) {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	good, err := newSigner(t).MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"not PEM", []byte("hello")},
		{"a good key followed by junk", append(good, []byte("junk")...)},
		{"ECDSA key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER})},
		{"not PKCS#8", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})},
		{"public key", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}})},
		{"corrupt DER", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if keys, err := auth.ParseKeysPEM(tt.data); err == nil {
				t.Errorf("ParseKeysPEM = %d keys, want an error", len(keys))
			}
		})
	}
}

func TestNewKeySetRejects(t *testing.T) {
	k := newSigner(t)
	if _, err := auth.NewKeySet(); err == nil {
		t.Error("NewKeySet() with no keys: want an error")
	}
	if _, err := auth.NewKeySet(k.Key, k.Key); err == nil {
		t.Error("NewKeySet with the same key twice: want an error")
	}
	if _, err := auth.NewKeySet(auth.Key{}); err == nil {
		t.Error("NewKeySet with the zero Key: want an error")
	}
}

func TestSign(t *testing.T) {
	current, previous := newSigner(t), newSigner(t)
	keys := newKeySet(t, current, previous)
	now := time.Now()

	token := signValid(t, keys, now)

	header := decodeSegment[map[string]any](t, token, 0)
	want := map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": current.ID()}
	if !reflect.DeepEqual(header, want) {
		t.Errorf("header = %v, want %v", header, want)
	}
	// The signature must check out with the first key's public half, and only with it.
	parts := strings.Split(token, ".")
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(current.Public(), []byte(parts[0]+"."+parts[1]), sig) {
		t.Error("signature does not verify with the signing key")
	}
	if ed25519.Verify(previous.Public(), []byte(parts[0]+"."+parts[1]), sig) {
		t.Error("signature verifies with the second key, which must not sign")
	}

	noExpiry := *validClaims(now)
	noExpiry.ExpiresAt = nil
	if _, err := keys.Sign(noExpiry); err == nil {
		t.Error("Sign without exp: want an error")
	}
}

func TestJWKSHandler(t *testing.T) {
	current, previous := newSigner(t), newSigner(t)
	keys := newKeySet(t, current, previous)

	rec := httptest.NewRecorder()
	keys.JWKSHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))

	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200", rec.Code)
	}
	if got := rec.Header().Get("Cache-Control"); got != "public, max-age=300" {
		t.Errorf("Cache-Control = %q, want public, max-age=300", got)
	}
	if got := rec.Header().Get("Content-Type"); got != "application/jwk-set+json" {
		t.Errorf("Content-Type = %q, want application/jwk-set+json", got)
	}

	var doc struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("decode JWKS: %v", err)
	}
	var want []map[string]string
	for _, k := range []signer{current, previous} {
		want = append(want, map[string]string{
			"kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA",
			"kid": k.ID(), "x": base64.RawURLEncoding.EncodeToString(k.Public()),
		})
	}
	// Exact equality also proves no private member ("d") is published.
	if !reflect.DeepEqual(doc.Keys, want) {
		t.Errorf("JWKS keys =\n%v\nwant\n%v", doc.Keys, want)
	}
	if bytes.Contains(rec.Body.Bytes(), []byte(base64.RawURLEncoding.EncodeToString(current.private.Seed()))) {
		t.Error("JWKS contains the private key")
	}
}

func TestHasRole(t *testing.T) {
	c := auth.Claims{Roles: []string{"customer", "admin"}}
	if !c.HasRole("admin") || c.HasRole("root") || (&auth.Claims{}).HasRole("") {
		t.Errorf("HasRole answers wrongly for roles %v", c.Roles)
	}
}

// decodeSegment decodes part i of a compact JWT as JSON.
func decodeSegment[T any](t *testing.T, token string, i int) T {
	t.Helper()
	var out T
	parts := strings.Split(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatalf("decode segment %d: %v", i, err)
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("unmarshal segment %d: %v", i, err)
	}
	return out
}
