// Package bootstrap starts the parts every tracecart domain service starts the same way, so a
// service's run holds only its own wiring:
//
//	telemetry   traces, metrics and logs (package telemetry), flushed last on Close
//	database    the pool, migrated: the service's migrations, the outbox's and the inbox's;
//	            and the saga's own pool, for the consumer's transactions and the relay
//	kafka       every topic of the contract and the service's dead-letter topic created, a
//	            producer, the outbox relay that feeds it, and the inbox pruner
//	consul      the client that registers the instance, and a resolver for calling other services
//
// Start returns them as a Service; Service.Consume adds the saga consumer and Service.Serve runs
// it all (package lifecycle) until shutdown. Its small helpers (ConsumeSaga, RouterOptions,
// BreakerMeter, TracingOptions) hand the service's name and telemetry to the parts each service
// builds itself. Everything the package starts, Close stops, in the
// reverse order.
package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"time"

	consul "github.com/hashicorp/consul/api"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/metric"

	"github.com/tracecart/tracecart/shared/config"
	"github.com/tracecart/tracecart/shared/discovery"
	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/featureflag"
	"github.com/tracecart/tracecart/shared/httpclient"
	"github.com/tracecart/tracecart/shared/httpserver"
	"github.com/tracecart/tracecart/shared/inbox"
	"github.com/tracecart/tracecart/shared/kafka"
	"github.com/tracecart/tracecart/shared/lifecycle"
	"github.com/tracecart/tracecart/shared/outbox"
	"github.com/tracecart/tracecart/shared/postgres"
	"github.com/tracecart/tracecart/shared/sagakit"
	"github.com/tracecart/tracecart/shared/telemetry"
)

// Options configures Start: the settings every domain service embeds in its Config, its own
// migrations and where its logs go.
type Options struct {
	Service    config.Service
	Postgres   config.Postgres
	Kafka      config.Kafka
	Migrations postgres.MigrationSet
	Stdout     io.Writer
	// RelayPausedFlag names a scenario flag that pauses the outbox relay while it is on (the
	// relay-paused demo fault: order-service sets it to outboxRelayPaused); empty never pauses.
	RelayPausedFlag string
}

// Service is what Start started. Its fields are for the service's own wiring to use.
type Service struct {
	Tel *telemetry.Telemetry
	Log *slog.Logger
	// DB is the pool for everything but the saga: HTTP handlers, sweepers, reconcilers.
	DB *pgxpool.Pool
	// SagaDB is the saga's own pool: the consumer's inbox transactions (which the use cases'
	// repositories join) and the outbox relay. With one shared pool, a burst of HTTP requests
	// queued the saga's events behind it, and every order waited (docs/performance-saga.md).
	SagaDB   *pgxpool.Pool
	Producer *kafka.Producer
	Registry *consul.Client
	// Resolver finds other services' instances through Consul, for their clients.
	Resolver discovery.Resolver
	// Flags are the scenario flags (shared/featureflag): nil, every flag off, when the service
	// has no FLAGS_FILE.
	Flags *featureflag.Flags
	// SagaOptions are the settings of a saga consumer that only Routes are missing from.
	SagaOptions sagakit.Options

	opts    Options
	workers []lifecycle.Worker
	ready   []lifecycle.Check
	closers []func() error
}

// Start starts the common parts. On error, whatever it had started is stopped again.
func Start(ctx context.Context, opts Options) (s *Service, err error) {
	s = &Service{opts: opts}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.Close())
		}
	}()
	if err := s.startTelemetry(ctx); err != nil {
		return nil, err
	}
	if err := s.openFlags(ctx); err != nil {
		return nil, err
	}
	if err := s.openDatabase(ctx); err != nil {
		return nil, err
	}
	if err := s.startKafka(ctx); err != nil {
		return nil, err
	}
	if s.Registry, err = consul.NewClient(&consul.Config{
		Address: opts.Service.ConsulAddr, Token: string(opts.Service.ConsulToken),
	}); err != nil {
		return nil, fmt.Errorf("consul client: %w", err)
	}
	resolver := discovery.NewConsulResolver(s.Registry, discovery.WithLogger(s.Log))
	s.Resolver = resolver
	s.closers = append(s.closers, resolver.Close)
	s.SagaOptions = sagakit.Options{
		Name: opts.Service.ServiceName, Inbox: inbox.New(s.SagaDB),
		TracerProvider: s.Tel.TracerProvider, MeterProvider: s.Tel.MeterProvider, Logger: s.Log,
	}
	return s, nil
}

func (s *Service) startTelemetry(ctx context.Context) error {
	svc := s.opts.Service
	tel, err := telemetry.Setup(ctx, telemetry.Options{
		ServiceName: svc.ServiceName, ServiceVersion: svc.Version, Stdout: s.opts.Stdout, LogLevel: svc.LogLevel,
	})
	if err != nil {
		return fmt.Errorf("set up telemetry: %w", err)
	}
	s.Tel, s.Log = tel, tel.Logger
	s.closers = append(s.closers, func() error {
		// Flush even when ctx is already cancelled (SIGTERM), but not forever.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return tel.Shutdown(ctx)
	})
	return nil
}

func (s *Service) openFlags(ctx context.Context) error {
	flags, err := featureflag.Open(ctx, s.opts.Service.FlagsFile, s.Log)
	if err != nil {
		return fmt.Errorf("scenario flags: %w", err)
	}
	s.Flags = flags
	s.closers = append(s.closers, func() error { return flags.Close(context.WithoutCancel(ctx)) })
	return nil
}

// openDatabase opens the pool and applies the service's migrations with the outbox's and the
// inbox's (they hold the tables the relay, the kit and the pruner use).
func (s *Service) openDatabase(ctx context.Context) error {
	db, err := postgres.Open(ctx, string(s.opts.Postgres.DatabaseURL),
		postgres.WithTracerProvider(s.Tel.TracerProvider), postgres.WithMeterProvider(s.Tel.MeterProvider))
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	s.DB = db
	s.closers = append(s.closers, func() error { db.Close(); return nil })
	sagaDB, err := postgres.Open(ctx, string(s.opts.Postgres.DatabaseURL), postgres.WithName("saga"),
		postgres.WithMaxConns(sagaConns(s.opts.Kafka.Partitions)),
		postgres.WithTracerProvider(s.Tel.TracerProvider), postgres.WithMeterProvider(s.Tel.MeterProvider))
	if err != nil {
		return fmt.Errorf("open the saga's database pool: %w", err)
	}
	s.SagaDB = sagaDB
	s.closers = append(s.closers, func() error { sagaDB.Close(); return nil })
	if err := postgres.Migrate(ctx, db, s.opts.Migrations, outbox.Migrations, inbox.Migrations); err != nil {
		return fmt.Errorf("migrate database: %w", err)
	}
	s.ready = append(s.ready, lifecycle.Check{Name: "postgres", Check: postgres.Ready(db)})
	return nil
}

// sagaConns sizes the saga's pool from its work: at most one transaction per partition worker
// of the consumer (one per partition of each topic it reads, the saga's topics at most) and one
// batch of the relay.
func sagaConns(partitions int) int32 {
	return int32(len(events.Topics)*max(partitions, 1) + 1)
}

// startKafka creates the topics, the producer, the relay that publishes the outbox through it and
// the pruner that keeps the inbox small. The relay and the pruner run as workers in Serve.
func (s *Service) startKafka(ctx context.Context) error {
	k := s.opts.Kafka
	topics := []kafka.TopicConfig{{Name: s.opts.Service.ServiceName + ".dlq", Partitions: 1}}
	for _, name := range events.Topics {
		topics = append(topics, kafka.TopicConfig{Name: name, Partitions: k.Partitions})
	}
	if err := kafka.EnsureTopics(ctx, k.Brokers, topics...); err != nil {
		return fmt.Errorf("create kafka topics: %w", err)
	}
	s.Producer = kafka.NewProducer(k.Brokers, kafka.ProducerOptions{
		Logger: s.Log, TracerProvider: s.Tel.TracerProvider, MeterProvider: s.Tel.MeterProvider, Propagator: s.Tel.Propagator,
	})
	s.closers = append(s.closers, s.Producer.Close)
	relayOpts := outbox.RelayOptions{Logger: s.Log, MeterProvider: s.Tel.MeterProvider}
	if key := s.opts.RelayPausedFlag; key != "" {
		relayOpts.Paused = func(ctx context.Context) bool { return s.Flags.Bool(ctx, key) }
	}
	relay := outbox.NewRelay(s.SagaDB, s.Producer, relayOpts)
	pruner, err := inbox.NewPruner(s.DB, k.InboxRetention, 0, s.Log)
	if err != nil {
		return err
	}
	s.workers = append(s.workers,
		lifecycle.Worker{Name: "outbox relay", Run: relay.Run},
		lifecycle.Worker{Name: "inbox pruning", Run: pruner.Run})
	return nil
}

// Consume reads the saga's events into c: a Kafka consumer in c's group, on c's topics, run as a
// worker by Serve, with its stall reported as an advisory readiness check.
func (s *Service) Consume(c *sagakit.Consumer) {
	consumer := kafka.NewConsumer(s.opts.Kafka.Brokers, kafka.ConsumerOptions{
		GroupID: c.Name(), Topics: c.Topics(), Handler: c.Handle, Logger: s.Log,
		TracerProvider: s.Tel.TracerProvider, MeterProvider: s.Tel.MeterProvider, Propagator: s.Tel.Propagator,
	})
	s.closers = append(s.closers, consumer.Close)
	s.workers = append(s.workers, lifecycle.Worker{Name: "saga consumer", Run: consumer.Run})
	s.ready = append(s.ready, lifecycle.Check{Name: "saga consumer", Check: consumer.Stalled, Advisory: true})
}

// ConsumeSaga builds the saga consumer of routes (package sagakit, with the settings bootstrap
// prepared in SagaOptions) and reads the saga's events into it (Consume).
func (s *Service) ConsumeSaga(routes sagakit.Routes) error {
	opts := s.SagaOptions
	opts.Routes = routes
	consumer, err := sagakit.NewConsumer(opts)
	if err != nil {
		return err
	}
	s.Consume(consumer)
	return nil
}

// RouterOptions are the shared HTTP router's settings for this service: its name and telemetry.
func (s *Service) RouterOptions() httpserver.RouterOptions {
	return httpserver.RouterOptions{
		ServiceName: s.opts.Service.ServiceName, Logger: s.Log,
		TracerProvider: s.Tel.TracerProvider, MeterProvider: s.Tel.MeterProvider, Propagator: s.Tel.Propagator,
	}
}

// BreakerMeter is the meter a client breaker (httpclient.NewBreakerTransport) reports its state
// under: shared/httpclient's, so the metric reads the same in every service.
func (s *Service) BreakerMeter() metric.Meter { return httpclient.Meter(s.Tel.MeterProvider) }

// TracingOptions point otelhttp's client spans and propagation at this service's telemetry.
func (s *Service) TracingOptions() []otelhttp.Option {
	return []otelhttp.Option{
		otelhttp.WithTracerProvider(s.Tel.TracerProvider),
		otelhttp.WithMeterProvider(s.Tel.MeterProvider),
		otelhttp.WithPropagators(s.Tel.Propagator),
	}
}

// Serve serves api and runs the common workers and the service's own until ctx is cancelled or
// one of them fails (lifecycle.Serve).
func (s *Service) Serve(ctx context.Context, api http.Handler, workers ...lifecycle.Worker) error {
	svc := s.opts.Service
	return lifecycle.Serve(ctx, lifecycle.Options{
		Service: svc.ServiceName, Version: svc.Version,
		Addr: svc.HTTPAddr, InternalAddr: svc.InternalHTTPAddr, AdvertiseAddress: svc.AdvertiseAddress,
		Handler: api, Metrics: s.Tel.MetricsHandler, Ready: s.ready, Consul: s.Registry,
		Workers:    append(slices.Clone(s.workers), workers...),
		DrainDelay: svc.DrainDelay, ShutdownTimeout: svc.ShutdownTimeout, Logger: s.Log,
	})
}

// Close stops what Start and Consume started, the last started first, and returns every error
// met, joined. Telemetry is flushed last, so the spans of the shutdown itself are exported.
func (s *Service) Close() error {
	var errs []error
	for _, closeFn := range slices.Backward(s.closers) {
		errs = append(errs, closeFn())
	}
	s.closers = nil
	return errors.Join(errs...)
}
