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

	"github.com/tracecart/tracecart/shared/config"
	"github.com/tracecart/tracecart/shared/httpserver"
	"github.com/tracecart/tracecart/shared/inbox"
	"github.com/tracecart/tracecart/shared/kafka"
	"github.com/tracecart/tracecart/shared/lifecycle"
	"github.com/tracecart/tracecart/shared/outbox"
	"github.com/tracecart/tracecart/shared/postgres"
	"github.com/tracecart/tracecart/shared/telemetry"
)

// Config is everything order-service reads from its environment.
type Config struct {
	config.Service
	config.Postgres
	config.Kafka
}

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

	db, err := postgres.Open(ctx, string(cfg.DatabaseURL),
		postgres.WithTracerProvider(tel.TracerProvider), postgres.WithMeterProvider(tel.MeterProvider))
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	if err := postgres.Migrate(ctx, db, outbox.Migrations, inbox.Migrations); err != nil {
		return fmt.Errorf("migrate database: %w", err)
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

	registry, err := consul.NewClient(&consul.Config{Address: cfg.ConsulAddr})
	if err != nil {
		return fmt.Errorf("consul client: %w", err)
	}

	router, err := httpserver.NewRouter(httpserver.RouterOptions{
		ServiceName: cfg.ServiceName, Logger: log,
		TracerProvider: tel.TracerProvider, MeterProvider: tel.MeterProvider, Propagator: tel.Propagator,
	})
	if err != nil {
		return fmt.Errorf("build router: %w", err)
	}

	return lifecycle.Serve(ctx, lifecycle.Options{
		Service: cfg.ServiceName, Version: cfg.Version,
		Addr: cfg.HTTPAddr, AdvertiseAddress: cfg.AdvertiseAddress,
		Handler: router, Metrics: tel.MetricsHandler,
		Ready:      []lifecycle.Check{{Name: "postgres", Check: db.Ping}},
		Consul:     registry,
		Workers:    []lifecycle.Worker{{Name: "outbox relay", Run: relay.Run}},
		DrainDelay: cfg.DrainDelay, ShutdownTimeout: cfg.ShutdownTimeout,
		Logger: log,
	})
}
