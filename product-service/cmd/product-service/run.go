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

	"github.com/tracecart/tracecart/product-service/internal/catalog"
	"github.com/tracecart/tracecart/product-service/internal/httpapi"
	"github.com/tracecart/tracecart/product-service/internal/orderservice"
	store "github.com/tracecart/tracecart/product-service/internal/postgres"
	"github.com/tracecart/tracecart/product-service/internal/saga"
	"github.com/tracecart/tracecart/product-service/migrations"
	"github.com/tracecart/tracecart/shared/auth"
	"github.com/tracecart/tracecart/shared/config"
	"github.com/tracecart/tracecart/shared/discovery"
	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/httpclient"
	"github.com/tracecart/tracecart/shared/httpserver"
	"github.com/tracecart/tracecart/shared/inbox"
	"github.com/tracecart/tracecart/shared/kafka"
	"github.com/tracecart/tracecart/shared/lifecycle"
	"github.com/tracecart/tracecart/shared/outbox"
	"github.com/tracecart/tracecart/shared/postgres"
	"github.com/tracecart/tracecart/shared/telemetry"
)

// Config is everything product-service reads from its environment.
type Config struct {
	config.Service
	config.Postgres
	config.Kafka

	// JWKSURL is where user-service publishes the public keys of the access tokens admins send.
	// A host without a port is a service name, resolved through Consul; a host:port is dialled
	// as written.
	JWKSURL string `env:"JWKS_URL" envDefault:"http://user-service/.well-known/jwks.json"`
	// JWTIssuer and JWTAudience are the iss and aud claims an access token must carry.
	JWTIssuer   string `env:"JWT_ISSUER" envDefault:"tracecart"`
	JWTAudience string `env:"JWT_AUDIENCE" envDefault:"tracecart"`
	// SeedDemoData inserts the demo catalogue at start-up where it is missing.
	SeedDemoData bool `env:"SEED_DEMO_DATA" envDefault:"true"`

	// OrderServiceURL is where the reconciler asks how an order ended; its host is a service
	// name that Consul resolves, unless it has a port.
	OrderServiceURL string `env:"ORDER_SERVICE_URL" envDefault:"http://order-service"`
	// ReconcileAfter is how long a reservation may stay RESERVED (normally milliseconds, while
	// the payment is taken) before the reconciler asks order-service how its order ended. It is
	// a little longer than order-service's SAGA_TIMEOUT (30s), so that an order still PENDING is
	// left to order-service's own timeout.
	ReconcileAfter time.Duration `env:"RECONCILE_AFTER" envDefault:"45s"`
	// ReconcileInterval is how often the reconciler looks for such reservations.
	ReconcileInterval time.Duration `env:"RECONCILE_INTERVAL" envDefault:"10s"`
}

// Validate checks what the struct tags cannot, the embedded Service's rules included.
func (c *Config) Validate() error {
	errs := []error{
		c.Service.Validate(),
		config.CheckHTTPURL("JWKS_URL", c.JWKSURL),
		config.CheckHTTPURL("ORDER_SERVICE_URL", c.OrderServiceURL),
	}
	for _, v := range []struct {
		key string
		d   time.Duration
	}{{"RECONCILE_AFTER", c.ReconcileAfter}, {"RECONCILE_INTERVAL", c.ReconcileInterval}} {
		if v.d <= 0 {
			errs = append(errs, &config.VarError{Key: v.key, Err: fmt.Errorf("must be positive, got %s", v.d)})
		}
	}
	return errors.Join(errs...)
}

// run wires product-service from its parts and serves until ctx is cancelled or SIGTERM arrives.
// Every error met on the way out, telemetry flush included, is joined into err.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) (err error) {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := config.Load[Config](config.WithDefaults(getenv, map[string]string{
		"SERVICE_NAME": "product-service",
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

	db, err := postgres.Open(ctx, string(cfg.DatabaseURL),
		postgres.WithTracerProvider(tel.TracerProvider), postgres.WithMeterProvider(tel.MeterProvider))
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	if err := postgres.Migrate(ctx, db, migrations.Set, outbox.Migrations, inbox.Migrations); err != nil {
		return fmt.Errorf("migrate database: %w", err)
	}
	products := store.NewCatalog(db)
	if cfg.SeedDemoData {
		n, err := products.Seed(ctx, catalog.DemoProducts())
		if err != nil {
			return err
		}
		log.InfoContext(ctx, "demo catalogue seeded", "inserted", n)
	}

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

	// The saga: order.created, order.confirmed, order.cancelled and payment.failed, each applied
	// once in the transaction that records it in the inbox and writes the answer to the outbox.
	sagaHandler, err := saga.NewHandler(db, store.Inventory{}, saga.Options{
		Consumer: cfg.ServiceName, MeterProvider: tel.MeterProvider,
	})
	if err != nil {
		return err
	}
	consumer := kafka.NewConsumer(cfg.Brokers, kafka.ConsumerOptions{
		GroupID: cfg.ServiceName, Topics: saga.Topics, Handler: sagaHandler.Handle, Logger: log,
		TracerProvider: tel.TracerProvider, MeterProvider: tel.MeterProvider, Propagator: tel.Propagator,
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

	// Calls to other services: user-service for the keys of admin tokens, fetched on the first
	// request that carries a token (not at start-up, so product-service starts whether or not
	// user-service is up), and order-service for the reconciler. Both go through Consul, a
	// circuit breaker per upstream, retries and timeouts.
	resolver := discovery.NewConsulResolver(registry, discovery.WithLogger(log))
	defer func() { err = errors.Join(err, resolver.Close()) }()
	upstreams, err := httpclient.New(httpclient.Options{
		Resolver: resolver, Logger: log,
		Timeouts:       httpclient.Timeouts{Request: 5 * time.Second},
		TracerProvider: tel.TracerProvider, MeterProvider: tel.MeterProvider, Propagators: tel.Propagator,
	})
	if err != nil {
		return fmt.Errorf("http client: %w", err)
	}
	verifier, err := auth.NewVerifier(auth.VerifierOptions{
		JWKSURL: cfg.JWKSURL, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, HTTPClient: upstreams,
	})
	if err != nil {
		return fmt.Errorf("token verifier: %w", err)
	}

	// The reconciler: reservations whose saga event was lost are settled as order-service says
	// the order ended.
	orders, err := orderservice.New(upstreams, cfg.OrderServiceURL)
	if err != nil {
		return err
	}
	reconciler, err := saga.NewReconciler(db, store.Inventory{}, orders, saga.ReconcilerOptions{
		After: cfg.ReconcileAfter, Interval: cfg.ReconcileInterval, Logger: log,
		TracerProvider: tel.TracerProvider, MeterProvider: tel.MeterProvider,
	})
	if err != nil {
		return err
	}

	api, err := httpapi.NewServer(httpserver.RouterOptions{
		ServiceName: cfg.ServiceName, Logger: log,
		TracerProvider: tel.TracerProvider, MeterProvider: tel.MeterProvider, Propagator: tel.Propagator,
	}, products, verifier)
	if err != nil {
		return fmt.Errorf("build http api: %w", err)
	}

	return lifecycle.Serve(ctx, lifecycle.Options{
		Service: cfg.ServiceName, Version: cfg.Version,
		Addr: cfg.HTTPAddr, AdvertiseAddress: cfg.AdvertiseAddress,
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
			{Name: "reservation reconciler", Run: reconciler.Run},
		},
		DrainDelay: cfg.DrainDelay, ShutdownTimeout: cfg.ShutdownTimeout,
		Logger: log,
	})
}
