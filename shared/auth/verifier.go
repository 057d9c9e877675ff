package auth

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Defaults for VerifierOptions' zero values.
const (
	// DefaultRefreshInterval is how old the cached key set may grow before a Verify fetches it again.
	DefaultRefreshInterval = 5 * time.Minute
	// DefaultMinRefreshInterval is the least time between two fetches of the key set, so a
	// flood of tokens with made-up key IDs cannot turn into a flood of requests to user-service.
	DefaultMinRefreshInterval = 5 * time.Second
	// DefaultLeeway absorbs clock skew between the issuer and the verifier on exp, nbf and iat.
	DefaultLeeway = 30 * time.Second
	// DefaultFetchTimeout bounds one fetch of the key set.
	DefaultFetchTimeout = 5 * time.Second
	// DefaultKeyRetention is how long a key stays trusted after the last key set that
	// published it: the longest token lifetime user-service allows (TOKEN_TTL ≤ 24h), so every
	// token a withdrawn key signed has expired before the verifier forgets the key.
	DefaultKeyRetention = 24 * time.Hour
)

const (
	// maxTokenLength rejects absurd tokens before any decoding work; ours are a few hundred bytes.
	maxTokenLength = 8 << 10
	// maxJWKSSize bounds the key set document read from the network.
	maxJWKSSize = 1 << 20
)

// VerifierOptions configures a Verifier. Issuer and Audience are required, and at least one of
// JWKSURL and KeySet.
type VerifierOptions struct {
	// JWKSURL is where the issuer publishes its key set, such as
	// "http://user-service:8080/.well-known/jwks.json".
	JWKSURL string
	// KeySet is for the issuer itself: its own keys are trusted directly, with no fetching.
	// Alone, an unknown key ID is simply invalid. With JWKSURL too (an issuer running as several
	// instances), a key ID that is not in KeySet is looked up in the published set, which is
	// how an instance accepts tokens its siblings signed with a key it does not hold yet.
	KeySet *KeySet
	// Issuer is the required value of the iss claim.
	Issuer string
	// Audience must be one of the values of the aud claim.
	Audience string
	// HTTPClient fetches the key set; pass an instrumented client to see the fetches in traces.
	// Nil means a plain client with DefaultFetchTimeout.
	HTTPClient *http.Client
	// RefreshInterval: zero means DefaultRefreshInterval.
	RefreshInterval time.Duration
	// MinRefreshInterval: zero means DefaultMinRefreshInterval.
	MinRefreshInterval time.Duration
	// Leeway: zero means DefaultLeeway.
	Leeway time.Duration
	// KeyRetention is how long a fetched key stays trusted after the last fetch that still
	// listed it; zero means DefaultKeyRetention. See Verifier for why keys are kept at all.
	KeyRetention time.Duration
	// Now is the clock for both the token's times and the cache's age; nil means time.Now.
	// Tests set it to move time without sleeping.
	Now func() time.Time
}

// Verifier checks access tokens against the issuer's published key set. It fetches the set
// lazily on first use and caches it; it fetches again when the cache is older than
// RefreshInterval or a token names a key it does not know, but never more often than once per
// MinRefreshInterval. When a fetch fails it keeps the keys it has, so user-service being
// briefly down does not log everyone out.
//
// A fetch adds to the keys the Verifier knows rather than replacing them: a key stays trusted
// until KeyRetention has passed since the last fetch that listed it. Several user-service
// instances answer the JWKS URL in turn, and during a rotation they do not all publish the same
// set at the same moment; a verifier that replaced its set on every fetch would refuse tokens
// at random, depending on which instance answered last. The price is that withdrawing a key
// does not revoke it at once: a leaked key is cut off by restarting the verifiers.
//
// It is safe for concurrent use.
type Verifier struct {
	jwksURL      string
	static       bool                         // only local keys: never fetch
	local        map[string]ed25519.PublicKey // from VerifierOptions.KeySet, trusted for good
	client       *http.Client
	parser       *jwt.Parser
	now          func() time.Time
	refreshEvery time.Duration
	minRefresh   time.Duration
	retention    time.Duration

	// fetching is a one-slot semaphore held while fetching the key set, so concurrent Verify
	// calls wanting a fresh set share one fetch instead of each making their own.
	fetching chan struct{}

	mu          sync.Mutex
	keys        map[string]fetchedKey // nil until the first successful fetch
	fetchedAt   time.Time             // of the last successful fetch
	attemptedAt time.Time             // of the last fetch, successful or not
	fetchErr    error                 // of the last fetch, nil if it succeeded
}

// fetchedKey is a key learnt from the published set, with the time of the last fetch that
// listed it.
type fetchedKey struct {
	public   ed25519.PublicKey
	lastSeen time.Time
}

// NewVerifier returns a Verifier for opts. It does not fetch anything yet.
func NewVerifier(opts VerifierOptions) (*Verifier, error) {
	if opts.KeySet == nil || opts.JWKSURL != "" {
		u, err := url.Parse(opts.JWKSURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("new verifier: JWKS URL %q is not an http(s) URL", opts.JWKSURL)
		}
	}
	if opts.Issuer == "" || opts.Audience == "" {
		return nil, errors.New("new verifier: issuer and audience are required")
	}
	if opts.RefreshInterval < 0 || opts.MinRefreshInterval < 0 || opts.Leeway < 0 || opts.KeyRetention < 0 {
		return nil, errors.New("new verifier: intervals and leeway must not be negative")
	}
	v := &Verifier{
		jwksURL:      opts.JWKSURL,
		client:       opts.HTTPClient,
		now:          opts.Now,
		refreshEvery: cmp.Or(opts.RefreshInterval, DefaultRefreshInterval),
		minRefresh:   cmp.Or(opts.MinRefreshInterval, DefaultMinRefreshInterval),
		retention:    cmp.Or(opts.KeyRetention, DefaultKeyRetention),
		fetching:     make(chan struct{}, 1),
	}
	if v.client == nil {
		v.client = &http.Client{Timeout: DefaultFetchTimeout}
	}
	if opts.KeySet != nil {
		v.static, v.local = opts.JWKSURL == "", make(map[string]ed25519.PublicKey, len(opts.KeySet.keys))
		for _, k := range opts.KeySet.keys {
			v.local[k.ID()] = k.Public()
		}
	}
	if v.now == nil {
		v.now = time.Now
	}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(opts.Issuer),
		jwt.WithAudience(opts.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cmp.Or(opts.Leeway, DefaultLeeway)),
		jwt.WithTimeFunc(v.now),
		jwt.WithStrictDecoding(),
	)
	return v, nil
}

// Verify checks token and returns its claims. A token that must not be trusted gets an error
// wrapping ErrInvalidToken (ErrExpired if it is only too old); a token that cannot be checked
// because no key set could be fetched gets one wrapping ErrKeysUnavailable.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	if len(token) > maxTokenLength {
		return nil, fmt.Errorf("verify token: %w: longer than %d bytes", ErrInvalidToken, maxTokenLength)
	}
	var unavailable error // set when the key lookup failed for want of keys, not because of the token
	claims := new(Claims)
	_, err := v.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("no key ID (kid) in header")
		}
		key, err := v.publicKey(ctx, kid)
		if err != nil && (errors.Is(err, ErrKeysUnavailable) || ctx.Err() != nil) {
			unavailable = err
		}
		return key, err
	})
	switch {
	case unavailable != nil:
		return nil, fmt.Errorf("verify token: %w", unavailable)
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, fmt.Errorf("verify token: %w", ErrExpired)
	case err != nil:
		return nil, fmt.Errorf("verify token: %w: %w", ErrInvalidToken, err)
	case claims.Subject == "":
		return nil, fmt.Errorf("verify token: %w: no subject", ErrInvalidToken)
	}
	return claims, nil
}

// errUnknownKey is the key lookup's answer for a kid that the issuer does not publish.
var errUnknownKey = errors.New("signing key unknown to the issuer's key set")

// publicKey returns the key with ID kid, refreshing the cached key set when it is stale or
// lacks kid.
func (v *Verifier) publicKey(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	if key, ok := v.local[kid]; ok {
		return key, nil
	}
	if v.static {
		return nil, errUnknownKey
	}
	key, found, stale := v.lookup(kid)
	switch {
	case found && !stale:
		return key, nil
	case found:
		// The cached key still verifies, so refresh only if no one else is doing it already,
		// and never make this request wait for another's fetch.
		select {
		case v.fetching <- struct{}{}:
			v.refresh(ctx)
			<-v.fetching
		default:
			return key, nil
		}
	default:
		// Unknown key: it may be new since the last fetch, so wait for a fresh set.
		select {
		case v.fetching <- struct{}{}:
			v.refresh(ctx)
			<-v.fetching
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for key set: %w", ctx.Err())
		}
	}

	if key, found, _ := v.lookup(kid); found {
		return key, nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.keys == nil {
		return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, v.fetchErr)
	}
	return nil, errUnknownKey
}

// lookup returns the cached key with ID kid unless it is past its retention, and whether the
// cache is due for a refresh.
func (v *Verifier) lookup(kid string) (key ed25519.PublicKey, found, stale bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.now()
	k, found := v.keys[kid]
	if found && now.Sub(k.lastSeen) >= v.retention {
		found = false
	}
	return k.public, found, now.Sub(v.fetchedAt) >= v.refreshEvery
}

// refresh fetches the key set unless a fetch happened less than MinRefreshInterval ago.
// A failed fetch keeps the previous keys. The caller holds the fetching semaphore.
func (v *Verifier) refresh(ctx context.Context) {
	now := v.now()
	v.mu.Lock()
	if !v.attemptedAt.IsZero() && now.Sub(v.attemptedAt) < v.minRefresh {
		v.mu.Unlock()
		return
	}
	v.attemptedAt = now
	v.mu.Unlock()

	// The fetch serves every request waiting for it, so it must not be cut short because the
	// request that happened to start it went away; DefaultFetchTimeout bounds it instead.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultFetchTimeout)
	defer cancel()
	keys, err := v.fetch(ctx)

	v.mu.Lock()
	defer v.mu.Unlock()
	v.fetchErr = err
	if err != nil {
		return
	}
	// Merge: the keys just fetched are seen now; a key missing from this set is kept until its
	// retention runs out, and only then forgotten.
	if v.keys == nil {
		v.keys = make(map[string]fetchedKey, len(keys))
	}
	for kid, public := range keys {
		v.keys[kid] = fetchedKey{public: public, lastSeen: now}
	}
	for kid, k := range v.keys {
		if now.Sub(k.lastSeen) >= v.retention {
			delete(v.keys, kid)
		}
	}
	v.fetchedAt = now
}

// fetch downloads and decodes the key set. Keys other than Ed25519 signing keys are skipped,
// since a JWKS may legitimately publish keys for other uses; a set with none is an error.
func (v *Verifier) fetch(ctx context.Context) (map[string]ed25519.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.jwksURL, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch key set: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch key set: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch key set from %s: status %s", v.jwksURL, resp.Status)
	}
	var set JWKS
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJWKSSize)).Decode(&set); err != nil {
		return nil, fmt.Errorf("decode key set from %s: %w", v.jwksURL, err)
	}

	keys := make(map[string]ed25519.PublicKey, len(set.Keys))
	for _, k := range set.Keys {
		if k.KeyType != "OKP" || k.Curve != "Ed25519" || k.KeyID == "" ||
			(k.Use != "" && k.Use != "sig") ||
			(k.Algorithm != "" && k.Algorithm != jwt.SigningMethodEdDSA.Alg()) {
			continue
		}
		x, err := base64.RawURLEncoding.Strict().DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			continue
		}
		keys[k.KeyID] = ed25519.PublicKey(x)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("key set from %s has no usable Ed25519 signing key", v.jwksURL)
	}
	return keys, nil
}
