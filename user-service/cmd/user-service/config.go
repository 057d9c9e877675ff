package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/tracecart/tracecart/shared/config"
)

// Config is everything user-service reads from its environment.
type Config struct {
	config.Service
	config.Postgres
	config.Kafka
	// JWTPrivateKeysPEM holds the token signing keys: one or more PKCS#8 "PRIVATE KEY" PEM
	// blocks of Ed25519 keys (openssl genpkey -algorithm ed25519). The first signs; the others
	// are only published, so tokens they signed before a rotation stay valid, and a new key
	// can be published before it signs (shared/auth documents the rotation). Literal "\n"
	// sequences are read as newlines, for environments that cannot hold multi-line values.
	// Required unless DemoMode is set.
	JWTPrivateKeysPEM config.Secret `env:"JWT_PRIVATE_KEYS_PEM"`
	// DemoMode is the explicit opt-in to shortcuts no deployment should take: today, starting
	// without JWT_PRIVATE_KEYS_PEM and signing with a key generated at start-up, which logs
	// everybody out on every restart and makes sibling instances refuse each other's tokens.
	DemoMode bool `env:"DEMO_MODE"`
	// JWKSURL is where this instance looks up a key it does not hold: the key set every
	// user-service instance publishes, reached through Consul, so a token signed by a sibling
	// with a key not configured here yet (mid-rotation) is still accepted.
	JWKSURL string `env:"JWKS_URL" envDefault:"http://user-service/.well-known/jwks.json"`
	// JWTIssuer and JWTAudience are the iss and aud claims of the tokens; every verifier
	// checks them.
	JWTIssuer   string `env:"JWT_ISSUER" envDefault:"tracecart"`
	JWTAudience string `env:"JWT_AUDIENCE" envDefault:"tracecart"`
	// TokenTTL is how long an access token is valid.
	TokenTTL time.Duration `env:"TOKEN_TTL" envDefault:"1h"`
	// SeedDemoData creates the demo users (alice, bob, admin) at start-up if they are missing.
	// Off unless asked for: the demo admin's password is published in the README.
	SeedDemoData bool `env:"SEED_DEMO_DATA" envDefault:"false"`
	// PasswordHashMemory is how much memory password hashes running at once may use together
	// (Argon2id takes password.DefaultParams.MemoryKiB, 19 MiB, per hash). Zero means half of
	// GOMEMLIMIT when that is set, else defaultPasswordHashMemory. It bounds how many logins
	// hash at the same time, so a burst of them waits instead of exhausting the container.
	PasswordHashMemory config.ByteSize `env:"PASSWORD_HASH_MEMORY"`
	// GoMemLimit is the Go runtime's soft memory limit, read here only to size the budget above.
	GoMemLimit config.ByteSize `env:"GOMEMLIMIT"`
}

// defaultPasswordHashMemory is the hashing budget when neither PASSWORD_HASH_MEMORY nor
// GOMEMLIMIT is set: three hashes at a time with the default parameters.
const defaultPasswordHashMemory = 64 << 20

// passwordHashMemory resolves the hashing budget from the configuration.
func (c *Config) passwordHashMemory() config.ByteSize {
	switch {
	case c.PasswordHashMemory > 0:
		return c.PasswordHashMemory
	case c.GoMemLimit > 0:
		// Half: the rest is for everything else the process holds (pools, buffers, telemetry).
		return c.GoMemLimit / 2
	default:
		return defaultPasswordHashMemory
	}
}

// Validate checks what the struct tags cannot, the shared service settings included.
func (c *Config) Validate() error {
	errs := []error{c.Service.Validate()}
	if c.TokenTTL <= 0 || c.TokenTTL > 24*time.Hour {
		errs = append(errs, &config.VarError{Key: "TOKEN_TTL", Err: fmt.Errorf("must be between 1s and 24h, got %s", c.TokenTTL)})
	}
	if c.JWTIssuer == "" {
		errs = append(errs, &config.VarError{Key: "JWT_ISSUER", Err: config.ErrRequired})
	}
	if c.JWTAudience == "" {
		errs = append(errs, &config.VarError{Key: "JWT_AUDIENCE", Err: config.ErrRequired})
	}
	if c.JWTPrivateKeysPEM == "" && !c.DemoMode {
		errs = append(errs, &config.VarError{Key: "JWT_PRIVATE_KEYS_PEM", Err: fmt.Errorf(
			"%w: tokens must be signed with configured keys (set DEMO_MODE=true to sign with a throwaway key)", config.ErrRequired)})
	}
	errs = append(errs, config.CheckHTTPURL("JWKS_URL", c.JWKSURL))
	return errors.Join(errs...)
}

// loadConfig reads the Config from getenv, with user-service's defaults, and validates it.
func loadConfig(getenv func(string) string) (Config, error) {
	cfg, err := config.Load[Config](config.WithDefaults(getenv, map[string]string{
		"SERVICE_NAME": "user-service",
	}))
	if err != nil {
		return Config{}, fmt.Errorf("load config: %w", err)
	}
	return cfg, nil
}
