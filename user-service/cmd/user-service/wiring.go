package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/tracecart/tracecart/shared/auth"
	"github.com/tracecart/tracecart/shared/config"
	"github.com/tracecart/tracecart/user-service/internal/adapters/password"
	"github.com/tracecart/tracecart/user-service/internal/adapters/token"
	"github.com/tracecart/tracecart/user-service/internal/app"
)

// The parts of run's wiring diagram that take more than a statement: each builds one part from
// the configuration and logs what an operator needs to know about it.

// newCredentials builds what user-service needs to deal in secrets: the token signing keys, the
// issuer that signs access tokens with them, and the password hasher.
func newCredentials(ctx context.Context, cfg Config, log *slog.Logger) (*auth.KeySet, *token.Issuer, *password.Hasher, error) {
	keys, err := signingKeys(ctx, cfg.JWTPrivateKeysPEM, log)
	if err != nil {
		return nil, nil, nil, err
	}
	tokens, err := token.NewIssuer(token.Options{Keys: keys, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, TTL: cfg.TokenTTL})
	if err != nil {
		return nil, nil, nil, err
	}
	hasher, err := newHasher(ctx, cfg, log)
	if err != nil {
		return nil, nil, nil, err
	}
	return keys, tokens, hasher, nil
}

// newVerifier returns the verifier of the private routes: this instance's own keys are trusted
// directly, and any other key is looked up with jwks in the set the instances publish, through
// Consul, since a sibling may sign with a key this instance does not hold yet.
func newVerifier(cfg Config, keys *auth.KeySet, jwks *http.Client) (*auth.Verifier, error) {
	return token.NewVerifier(token.VerifierOptions{
		Keys: keys, JWKSURL: cfg.JWKSURL, HTTPClient: jwks, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience,
	})
}

// newHasher returns the password hasher within the configured memory budget. Argon2id needs
// memory per hash: the budget, not the number of cores, decides how many run at once, so a burst
// of logins on a many-core host cannot exceed the container's memory.
func newHasher(ctx context.Context, cfg Config, log *slog.Logger) (*password.Hasher, error) {
	budget := cfg.passwordHashMemory()
	hasher, err := password.NewHasher(password.DefaultParams, uint64(budget)>>10)
	if err != nil {
		return nil, err
	}
	log.InfoContext(ctx, "password hashing bounded", slog.String("memory_budget", budget.String()),
		slog.Int("concurrent_hashes", hasher.Concurrency()))
	return hasher, nil
}

// seedDemoUsers creates the demo users when SEED_DEMO_DATA asks for them.
func seedDemoUsers(ctx context.Context, cfg Config, users *app.App, log *slog.Logger) error {
	if !cfg.SeedDemoData {
		return nil
	}
	created, err := users.SeedDemoUsers(ctx)
	if err != nil {
		return fmt.Errorf("seed demo data: %w", err)
	}
	log.InfoContext(ctx, "demo users seeded", slog.Int("created", created))
	return nil
}

// signingKeys loads the token signing keys from JWT_PRIVATE_KEYS_PEM, or generates one when it
// is empty (which Validate allows only in DEMO_MODE). Only key IDs (public thumbprints) are
// ever logged, never key material.
func signingKeys(ctx context.Context, pemKeys config.Secret, log *slog.Logger) (*auth.KeySet, error) {
	var keys []auth.Key
	if pemKeys == "" {
		key, err := auth.GenerateKey()
		if err != nil {
			return nil, fmt.Errorf("generate signing key: %w", err)
		}
		keys = []auth.Key{key}
		log.WarnContext(ctx, "JWT_PRIVATE_KEYS_PEM is empty: signing tokens with a key generated at start-up; "+
			"tokens will not survive a restart and other instances will not accept them (DEMO_MODE only)",
			slog.String("kid", key.ID()))
	} else {
		var err error
		keys, err = auth.ParseKeysPEM([]byte(strings.ReplaceAll(string(pemKeys), `\n`, "\n")))
		if err != nil {
			return nil, fmt.Errorf("load config: %w", &config.VarError{Key: "JWT_PRIVATE_KEYS_PEM", Err: err})
		}
		ids := make([]string, len(keys))
		for i, k := range keys {
			ids[i] = k.ID()
		}
		log.InfoContext(ctx, "token signing keys loaded", slog.String("signing_kid", ids[0]), slog.Any("published_kids", ids))
	}
	set, err := auth.NewKeySet(keys...)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", &config.VarError{Key: "JWT_PRIVATE_KEYS_PEM", Err: err})
	}
	return set, nil
}
