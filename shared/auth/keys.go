package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWKSMaxAge is how long clients and caches may keep the published key set. It matches
// DefaultRefreshInterval: a Verifier would not look sooner anyway, except for an unknown key.
const JWKSMaxAge = 5 * time.Minute

// Key is an Ed25519 private key with its key ID ("kid").
//
// The ID is the key's RFC 7638 JWK thumbprint, not a random string, so every replica of
// user-service loading the same PEM publishes the same ID, and the ID can be recomputed from
// the public key alone.
type Key struct {
	id      string
	private ed25519.PrivateKey
}

// GenerateKey returns a new random key, for tests and for a development setup with no
// configured key (tokens then die with the process that signed them).
func GenerateKey() (Key, error) {
	_, private, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Key{}, fmt.Errorf("generate ed25519 key: %w", err)
	}
	return NewKey(private)
}

// NewKey wraps an existing Ed25519 private key.
func NewKey(private ed25519.PrivateKey) (Key, error) {
	if len(private) != ed25519.PrivateKeySize {
		return Key{}, fmt.Errorf("ed25519 private key is %d bytes, want %d", len(private), ed25519.PrivateKeySize)
	}
	public := private.Public().(ed25519.PublicKey)
	return Key{id: thumbprint(public), private: private}, nil
}

// ParseKeysPEM reads every "PRIVATE KEY" block (PKCS#8, as written by
// `openssl genpkey -algorithm ed25519`) from data, in order. It is how user-service loads
// its keys from configuration: during a rotation the variable holds the new key first and
// the old one after it, still published until the tokens it signed have expired.
func ParseKeysPEM(data []byte) ([]Key, error) {
	var keys []Key
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			if len(bytes.TrimSpace(rest)) > 0 {
				return nil, fmt.Errorf("parse key %d: not a PEM block", len(keys)+1)
			}
			break
		}
		if block.Type != "PRIVATE KEY" {
			return nil, fmt.Errorf("parse key %d: PEM block is %q, want \"PRIVATE KEY\" (PKCS#8)", len(keys)+1, block.Type)
		}
		parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse key %d: %w", len(keys)+1, err)
		}
		private, ok := parsed.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("parse key %d: key is %T, want Ed25519", len(keys)+1, parsed)
		}
		key, err := NewKey(private)
		if err != nil {
			return nil, fmt.Errorf("parse key %d: %w", len(keys)+1, err)
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil, errors.New("parse keys: no PEM block found")
	}
	return keys, nil
}

// ID returns the key's ID, the "kid" of the tokens it signs.
func (k Key) ID() string { return k.id }

// Public returns the public half of the key.
func (k Key) Public() ed25519.PublicKey { return k.private.Public().(ed25519.PublicKey) }

// MarshalPEM encodes the private key as a PKCS#8 PEM block, the form ParseKeysPEM reads.
func (k Key) MarshalPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.private)
	if err != nil {
		return nil, fmt.Errorf("marshal key %s: %w", k.id, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// JWK returns the public key as a JSON Web Key.
func (k Key) JWK() JWK {
	return JWK{
		KeyType:   "OKP",
		Curve:     "Ed25519",
		X:         base64.RawURLEncoding.EncodeToString(k.Public()),
		KeyID:     k.id,
		Use:       "sig",
		Algorithm: jwt.SigningMethodEdDSA.Alg(),
	}
}

// thumbprint computes the RFC 7638 thumbprint of an Ed25519 public key (RFC 8037 §2): the
// SHA-256 of its required members in lexicographic order, without whitespace.
func thumbprint(public ed25519.PublicKey) string {
	canonical := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(public) + `"}`
	sum := sha256.Sum256([]byte(canonical))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// JWK is a public JSON Web Key (RFC 7517) of type OKP (RFC 8037), the only kind tracecart uses.
type JWK struct {
	KeyType   string `json:"kty"`
	Curve     string `json:"crv"`
	X         string `json:"x"`
	KeyID     string `json:"kid"`
	Use       string `json:"use,omitempty"`
	Algorithm string `json:"alg,omitempty"`
}

// JWKS is a JSON Web Key Set, the document user-service publishes and Verifier fetches.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// KeySet is the issuing side: the keys user-service signs with and publishes. The first key
// signs; the others are only published, so tokens they signed before a rotation still verify.
// A KeySet does not change after NewKeySet and is safe for concurrent use.
type KeySet struct {
	signing Key
	keys    []Key
	jwks    []byte // the published document, encoded once
}

// NewKeySet returns a KeySet that signs with keys[0] and publishes all of keys.
func NewKeySet(keys ...Key) (*KeySet, error) {
	if len(keys) == 0 {
		return nil, errors.New("new key set: no keys")
	}
	seen := make(map[string]bool, len(keys))
	for i, k := range keys {
		if k.private == nil {
			return nil, fmt.Errorf("new key set: key %d is the zero Key", i+1)
		}
		if seen[k.id] {
			return nil, fmt.Errorf("new key set: key %s given twice", k.id)
		}
		seen[k.id] = true
	}
	s := &KeySet{signing: keys[0], keys: append([]Key(nil), keys...)}
	jwks, err := json.Marshal(s.JWKS())
	if err != nil {
		return nil, fmt.Errorf("new key set: encode JWKS: %w", err)
	}
	s.jwks = jwks
	return s, nil
}

// Sign returns claims as a compact JWT signed by the set's first key, with the header
// {"alg":"EdDSA","typ":"JWT","kid":...}. It refuses claims without an expiry: a token that
// never expires cannot be taken back. Setting iss, aud, sub and iat is the caller's job.
func (s *KeySet) Sign(claims Claims) (string, error) {
	if claims.ExpiresAt == nil {
		return "", errors.New("sign token: claims have no expiry")
	}
	token := jwt.NewWithClaims(jwt.SigningMethodEdDSA, &claims)
	token.Header["kid"] = s.signing.id
	signed, err := token.SignedString(s.signing.private)
	if err != nil {
		return "", fmt.Errorf("sign token with key %s: %w", s.signing.id, err)
	}
	return signed, nil
}

// JWKS returns the public keys of the set, signing key first.
func (s *KeySet) JWKS() JWKS {
	set := JWKS{Keys: make([]JWK, 0, len(s.keys))}
	for _, k := range s.keys {
		set.Keys = append(set.Keys, k.JWK())
	}
	return set
}

// JWKSHandler serves the public key set (conventionally at /.well-known/jwks.json) with a
// Cache-Control max-age of JWKSMaxAge.
func (s *KeySet) JWKSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(JWKSMaxAge/time.Second)))
		_, _ = w.Write(s.jwks) // the client has gone if this fails; nothing left to do
	})
}
