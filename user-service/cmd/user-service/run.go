package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	consul "github.com/hashicorp/consul/api"

	"github.com/tracecart/tracecart/shared/auth"
	"github.com/tracecart/tracecart/shared/config"
	"github.com/tracecart/tracecart/shared/httpserver"
	"github.com/tracecart/tracecart/shared/inbox"
	"github.com/tracecart/tracecart/shared/kafka"
	"github.com/tracecart/tracecart/shared/lifecycle"
	"github.com/tracecart/tracecart/shared/outbox"
	"github.com/tracecart/tracecart/shared/postgres"
	"github.com/tracecart/tracecart/shared/telemetry"
	"github.com/tracecart/tracecart/user-service/internal/account"
	"github.com/tracecart/tracecart/user-service/internal/httpapi"
	"github.com/tracecart/tracecart/user-service/internal/password"
	userstore "github.com/tracecart/tracecart/user-service/internal/postgres"
	"github.com/tracecart/tracecart/user-service/internal/saga"
	"github.com/tracecart/tracecart/user-service/internal/token"
	"github.com/tracecart/tracecart/user-service/migrations"
)

// Config is everything user-service reads from its environment.
type Config struct {
	config.Service
	config.Postgres
	config.Kafka
	// JWTPrivateKeysPEM holds the token signing keys: one or more PKCS#8 "PRIVATE KEY" PEM
	// blocks of Ed25519 keys (openssl genpkey -algorithm ed25519). The first signs; the others
	// are only published, so tokens they signed before a rotation stay valid. Literal "\n"
	// sequences are read as newlines, for environments that cannot hold multi-line values.
	// Empty means a key generated at start-up: fine for a demo, wrong for production.
	JWTPrivateKeysPEM secret `env:"JWT_PRIVATE_KEYS_PEM"`
	// JWTIssuer and JWTAudience are the iss and aud claims of the tokens; every verifier
	// checks them.
	JWTIssuer   string `env:"JWT_ISSUER" envDefault:"tracecart"`
	JWTAudience string `env:"JWT_AUDIENCE" envDefault:"tracecart"`
	// TokenTTL is how long an access token is valid.
	TokenTTL time.Duration `env:"TOKEN_TTL" envDefault:"1h"`
	// SeedDemoData creates the demo users (alice, bob, admin) at start-up if they are missing.
	SeedDemoData bool `env:"SEED_DEMO_DATA" envDefault:"true"`
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
	return errors.Join(errs...)
}

// run wires user-service from its parts and serves until ctx is cancelled or SIGTERM arrives.
// Every error met on the way out, telemetry flush included, is joined into err.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) (err error) {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := config.Load[Config](config.WithDefaults(getenv, map[string]string{
		"SERVICE_NAME": "user-service",
	}))
	if err != nil {
		return fmt.Errorf("load config: %w", err)
	}

	tel, err := telemetry.Setup(ctx, telemetry.Options{
		ServiceName: cfg.ServiceName, ServiceVersion: cfg.Version, Stdout: stdout, LogLevel: cfg.LogLevel,
	})
	if err != nil {
		return fmt.Errorf("set up telemetry: %w", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		err = errors.Join(err, tel.Shutdown(ctx))
	}()
	log := tel.Logger

	keys, err := signingKeys(ctx, cfg.JWTPrivateKeysPEM, log)
	if err != nil {
		return err
	}

	db, err := postgres.Open(ctx, string(cfg.DatabaseURL),
		postgres.WithTracerProvider(tel.TracerProvider), postgres.WithMeterProvider(tel.MeterProvider))
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	if err := postgres.Migrate(ctx, db, migrations.Set, outbox.Migrations, inbox.Migrations); err != nil {
		return fmt.Errorf("migrate database: %w", err)
	}
	store := userstore.New(db)

	// Argon2id needs memory per hash; one hash per core at a time keeps a burst of logins from
	// needing more memory than the machine has.
	hasher, err := password.NewHasher(password.DefaultParams, runtime.GOMAXPROCS(0))
	if err != nil {
		return err
	}
	accounts, err := account.NewService(store, hasher)
	if err != nil {
		return err
	}
	if cfg.SeedDemoData {
		created, err := accounts.SeedDemoUsers(ctx)
		if err != nil {
			return fmt.Errorf("seed demo data: %w", err)
		}
		log.InfoContext(ctx, "demo users seeded", slog.Int("created", created))
	}

	tokens, err := token.NewIssuer(token.Options{
		Keys: keys, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, TTL: cfg.TokenTTL,
	})
	if err != nil {
		return err
	}
	verifier, err := token.NewVerifier(keys, cfg.JWTIssuer, cfg.JWTAudience)
	if err != nil {
		return err
	}

	topics := []kafka.TopicConfig{
		{Name: "orders", Partitions: cfg.Partitions},
		{Name: "inventory", Partitions: cfg.Partitions},
		{Name: "payments", Partitions: cfg.Partitions},
		{Name: cfg.ServiceName + ".dlq", Partitions: 1},
	}
	if err := kafka.EnsureTopics(ctx, cfg.Brokers, topics...); err != nil {
		return fmt.Errorf("create kafka topics: %w", err)
	}
	producer := kafka.NewProducer(cfg.Brokers, kafka.ProducerOptions{
		Logger: log, TracerProvider: tel.TracerProvider, MeterProvider: tel.MeterProvider, Propagator: tel.Propagator,
	})
	defer func() { err = errors.Join(err, producer.Close()) }()
	relay := outbox.NewRelay(db, producer, outbox.RelayOptions{Logger: log, MeterProvider: tel.MeterProvider})

	payments, err := saga.NewHandler(saga.Options{
		Pool: db, Payments: store, Consumer: cfg.ServiceName,
		TracerProvider: tel.TracerProvider, MeterProvider: tel.MeterProvider,
	})
	if err != nil {
		return err
	}
	consumer := kafka.NewConsumer(cfg.Brokers, kafka.ConsumerOptions{
		GroupID: cfg.ServiceName, Topics: saga.Topics, Handler: payments.Handle,
		Logger: log, TracerProvider: tel.TracerProvider, MeterProvider: tel.MeterProvider, Propagator: tel.Propagator,
	})
	defer func() { err = errors.Join(err, consumer.Close()) }()
	pruner, err := inbox.NewPruner(db, cfg.InboxRetention, 0, log)
	if err != nil {
		return err
	}

	registry, err := consul.NewClient(&consul.Config{Address: cfg.ConsulAddr})
	if err != nil {
		return fmt.Errorf("consul client: %w", err)
	}

	router, err := httpapi.NewRouter(httpserver.RouterOptions{
		ServiceName: cfg.ServiceName, Logger: log,
		TracerProvider: tel.TracerProvider, MeterProvider: tel.MeterProvider, Propagator: tel.Propagator,
	}, httpapi.Deps{
		Accounts: accounts, Store: store, Tokens: tokens, Verifier: verifier, JWKS: keys.JWKSHandler(),
	})
	if err != nil {
		return fmt.Errorf("build router: %w", err)
	}

	return lifecycle.Serve(ctx, lifecycle.Options{
		Service: cfg.ServiceName, Version: cfg.Version,
		Addr: cfg.HTTPAddr, AdvertiseAddress: cfg.AdvertiseAddress,
		Handler: router, Metrics: tel.MetricsHandler,
		Ready: []lifecycle.Check{
			{Name: "postgres", Check: db.Ping},
			{Name: "saga consumer", Check: consumer.Stalled, Advisory: true},
		},
		Consul: registry,
		Workers: []lifecycle.Worker{
			{Name: "outbox relay", Run: relay.Run},
			{Name: "saga consumer", Run: consumer.Run},
			{Name: "inbox pruning", Run: pruner.Run},
		},
		DrainDelay: cfg.DrainDelay, ShutdownTimeout: cfg.ShutdownTimeout,
		Logger: log,
	})
}

// signingKeys loads the token signing keys from JWT_PRIVATE_KEYS_PEM, or generates one when it
// is empty. Only key IDs (public thumbprints) are ever logged, never key material.
func signingKeys(ctx context.Context, pemKeys secret, log *slog.Logger) (*auth.KeySet, error) {
	var keys []auth.Key
	if pemKeys == "" {
		key, err := auth.GenerateKey()
		if err != nil {
			return nil, fmt.Errorf("generate signing key: %w", err)
		}
		keys = []auth.Key{key}
		log.WarnContext(ctx, "JWT_PRIVATE_KEYS_PEM is empty: signing tokens with a key generated at start-up; "+
			"tokens will not survive a restart and other instances will not accept them (demo only)",
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

// secret is a configuration value that must never be printed: fmt, slog and JSON all show
// "[redacted]" instead (compare config.DSN). Convert it with string(s) where it is used.
type secret string

// String returns "[redacted]", or "" for an empty secret, so a log can say whether it is set.
func (s secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString keeps %#v redacted too.
func (s secret) GoString() string { return "secret(" + s.String() + ")" }

// LogValue makes slog log the redacted form.
func (s secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText makes encoding/json write the redacted form.
func (s secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
