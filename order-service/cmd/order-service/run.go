package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	consul "github.com/hashicorp/consul/api"

	"github.com/tracecart/tracecart/order-service/internal/adapters/httpapi"
	"github.com/tracecart/tracecart/order-service/internal/adapters/postgres"
	"github.com/tracecart/tracecart/order-service/internal/adapters/productservice"
	"github.com/tracecart/tracecart/order-service/internal/saga"
	"github.com/tracecart/tracecart/order-service/migrations"
	"github.com/tracecart/tracecart/shared/auth"
	"github.com/tracecart/tracecart/shared/config"
	"github.com/tracecart/tracecart/shared/discovery"
	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/httpclient"
	"github.com/tracecart/tracecart/shared/inbox"
	"github.com/tracecart/tracecart/shared/kafka"
	"github.com/tracecart/tracecart/shared/lifecycle"
	"github.com/tracecart/tracecart/shared/outbox"
	pgkit "github.com/tracecart/tracecart/shared/postgres"
	"github.com/tracecart/tracecart/shared/telemetry"
)

// Config is everything order-service reads from its environment.
type Config struct {
	config.Service
	config.Postgres
	config.Kafka

	// ProductServiceURL is where orders are priced; its host is a service name that Consul
	// resolves, unless it has a port.
	ProductServiceURL string `env:"PRODUCT_SERVICE_URL" envDefault:"http://product-service"`
	// JWKSURL is where user-service publishes the keys that sign access tokens.
	JWKSURL     string `env:"JWKS_URL" envDefault:"http://user-service/.well-known/jwks.json"`
	JWTIssuer   string `env:"JWT_ISSUER" envDefault:"tracecart"`
	JWTAudience string `env:"JWT_AUDIENCE" envDefault:"tracecart"`

	// SagaTimeout is how long an order may stay PENDING before it is cancelled.
	SagaTimeout time.Duration `env:"SAGA_TIMEOUT" envDefault:"30s"`
	// SagaSweepInterval is how often the timeout is checked.
	SagaSweepInterval time.Duration `env:"SAGA_SWEEP_INTERVAL" envDefault:"1s"`

	// ReconcileGrace is how long a paid order's refund and restock may take after its
	// cancellation before order.cancelled is announced again; the wait between announcements
	// starts there and doubles up to ReconcileMaxBackoff.
	ReconcileGrace      time.Duration `env:"RECONCILE_GRACE" envDefault:"60s"`
	ReconcileMaxBackoff time.Duration `env:"RECONCILE_MAX_BACKOFF" envDefault:"5m"`
	// ReconcileMaxAttempts is how often it is announced again before only an alert is left.
	ReconcileMaxAttempts int `env:"RECONCILE_MAX_ATTEMPTS" envDefault:"5"`
	// ReconcileInterval is how often the reconciler looks.
	ReconcileInterval time.Duration `env:"RECONCILE_INTERVAL" envDefault:"5s"`
}

// Validate checks what the struct tags cannot, the shared settings included.
func (c *Config) Validate() error {
	errs := []error{
		c.Service.Validate(),
		config.CheckHTTPURL("PRODUCT_SERVICE_URL", c.ProductServiceURL),
		config.CheckHTTPURL("JWKS_URL", c.JWKSURL),
	}
	for _, v := range []struct {
		key string
		d   time.Duration
	}{
		{"SAGA_TIMEOUT", c.SagaTimeout}, {"SAGA_SWEEP_INTERVAL", c.SagaSweepInterval},
		{"RECONCILE_GRACE", c.ReconcileGrace}, {"RECONCILE_MAX_BACKOFF", c.ReconcileMaxBackoff},
		{"RECONCILE_INTERVAL", c.ReconcileInterval},
	} {
		if v.d <= 0 {
			errs = append(errs, &config.VarError{Key: v.key, Err: fmt.Errorf("must be positive, got %s", v.d)})
		}
	}
	if c.ReconcileMaxAttempts < 1 {
		errs = append(errs, &config.VarError{Key: "RECONCILE_MAX_ATTEMPTS", Err: fmt.Errorf("must be at least 1, got %d", c.ReconcileMaxAttempts)})
	}
	return errors.Join(errs...)
}

// breakerOpenTime is how long a failing upstream is left alone. Clients told to retry (the 503
// of an unavailable catalogue) are told to wait as long.
const breakerOpenTime = 5 * time.Second

// run wires order-service from its parts and serves until ctx is cancelled or SIGTERM arrives.
// Every error met on the way out, telemetry flush included, is joined into err.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) (err error) {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := config.Load[Config](config.WithDefaults(getenv, map[string]string{
		"SERVICE_NAME": "order-service",
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

	// The database: the orders, the outbox that publishes their events, the inbox that makes
	// the saga's events count once.
	db, err := pgkit.Open(ctx, string(cfg.DatabaseURL),
		pgkit.WithTracerProvider(tel.TracerProvider), pgkit.WithMeterProvider(tel.MeterProvider))
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	if err := pgkit.Migrate(ctx, db, migrations.Set, outbox.Migrations, inbox.Migrations); err != nil {
		return fmt.Errorf("migrate database: %w", err)
	}
	store := postgres.NewStore(db)

	// Kafka: the relay publishes the outbox; the consumer reads the saga's outcomes.
	topics := []kafka.TopicConfig{
		{Name: events.TopicOrders, Partitions: cfg.Partitions},
		{Name: events.TopicInventory, Partitions: cfg.Partitions},
		{Name: events.TopicPayments, Partitions: cfg.Partitions},
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

	metrics, err := saga.NewMetrics(tel.MeterProvider, store)
	if err != nil {
		return fmt.Errorf("saga metrics: %w", err)
	}
	handler, err := saga.NewHandler(db, store, saga.HandlerOptions{Consumer: cfg.ServiceName, Metrics: metrics, Logger: log})
	if err != nil {
		return err
	}
	consumer := kafka.NewConsumer(cfg.Brokers, kafka.ConsumerOptions{
		GroupID: cfg.ServiceName, Topics: saga.Topics, Handler: handler.Handle,
		Logger: log, TracerProvider: tel.TracerProvider, MeterProvider: tel.MeterProvider, Propagator: tel.Propagator,
	})
	defer func() { err = errors.Join(err, consumer.Close()) }()
	pruner, err := inbox.NewPruner(db, cfg.InboxRetention, 0, log)
	if err != nil {
		return err
	}
	sweeper, err := saga.NewSweeper(db, store, saga.SweeperOptions{
		Timeout: cfg.SagaTimeout, Interval: cfg.SagaSweepInterval,
		Metrics: metrics, Logger: log, TracerProvider: tel.TracerProvider,
	})
	if err != nil {
		return err
	}
	reconciler, err := saga.NewReconciler(db, store, saga.ReconcilerOptions{
		Grace: cfg.ReconcileGrace, MaxBackoff: cfg.ReconcileMaxBackoff, MaxAttempts: cfg.ReconcileMaxAttempts,
		Interval: cfg.ReconcileInterval, Logger: log, TracerProvider: tel.TracerProvider, MeterProvider: tel.MeterProvider,
	})
	if err != nil {
		return err
	}

	// Calls to other services: product-service for prices, user-service for the token keys.
	// Both go through Consul, a circuit breaker per upstream, retries and timeouts; nothing is
	// called at start-up, so order-service starts without them.
	registry, err := consul.NewClient(&consul.Config{Address: cfg.ConsulAddr, Token: string(cfg.ConsulToken)})
	if err != nil {
		return fmt.Errorf("consul client: %w", err)
	}
	resolver := discovery.NewConsulResolver(registry, discovery.WithLogger(log))
	defer func() { err = errors.Join(err, resolver.Close()) }()
	upstreams, err := httpclient.New(httpclient.Options{
		Resolver: resolver,
		Breaker:  httpclient.BreakerSettings{OpenTimeout: breakerOpenTime},
		Timeouts: httpclient.Timeouts{Request: 5 * time.Second},
		Logger:   log, TracerProvider: tel.TracerProvider, MeterProvider: tel.MeterProvider, Propagators: tel.Propagator,
	})
	if err != nil {
		return err
	}
	catalog, err := productservice.New(upstreams, cfg.ProductServiceURL)
	if err != nil {
		return err
	}
	verifier, err := auth.NewVerifier(auth.VerifierOptions{
		JWKSURL: cfg.JWKSURL, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, HTTPClient: upstreams,
	})
	if err != nil {
		return err
	}

	api, err := httpapi.NewServer(httpapi.Options{
		ServiceName: cfg.ServiceName, Logger: log,
		TracerProvider: tel.TracerProvider, MeterProvider: tel.MeterProvider, Propagator: tel.Propagator,
		Verifier: verifier, Orders: store, Catalog: catalog, RetryAfter: breakerOpenTime,
	})
	if err != nil {
		return fmt.Errorf("build http api: %w", err)
	}

	return lifecycle.Serve(ctx, lifecycle.Options{
		Service: cfg.ServiceName, Version: cfg.Version,
		Addr: cfg.HTTPAddr, InternalAddr: cfg.InternalHTTPAddr, AdvertiseAddress: cfg.AdvertiseAddress,
		Handler: api, Metrics: tel.MetricsHandler,
		Ready: []lifecycle.Check{
			{Name: "postgres", Check: db.Ping},
			{Name: "saga consumer", Check: consumer.Stalled, Advisory: true},
		},
		Consul: registry,
		Workers: []lifecycle.Worker{
			{Name: "outbox relay", Run: relay.Run},
			{Name: "saga consumer", Run: consumer.Run},
			{Name: "inbox pruning", Run: pruner.Run},
			{Name: "saga timeout", Run: sweeper.Run},
			{Name: "compensation reconciler", Run: reconciler.Run},
		},
		DrainDelay: cfg.DrainDelay, ShutdownTimeout: cfg.ShutdownTimeout,
		Logger: log,
	})
}
