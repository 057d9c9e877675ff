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
	"github.com/tracecart/tracecart/shared/lifecycle"
	"github.com/tracecart/tracecart/shared/telemetry"
)

// Config is everything the gateway reads from its environment.
type Config struct {
	config.Service
}

// run wires the gateway from its parts and serves until ctx is cancelled or SIGTERM arrives.
// Every error met on the way out, telemetry flush included, is joined into err.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) (err error) {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := config.Load[Config](config.WithDefaults(getenv, map[string]string{
		"SERVICE_NAME": "gateway",
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

	registry, err := consul.NewClient(&consul.Config{Address: cfg.ConsulAddr})
	if err != nil {
		return fmt.Errorf("consul client: %w", err)
	}

	router, err := httpserver.NewRouter(httpserver.RouterOptions{
		ServiceName: cfg.ServiceName, Logger: tel.Logger,
		TracerProvider: tel.TracerProvider, MeterProvider: tel.MeterProvider, Propagator: tel.Propagator,
	})
	if err != nil {
		return fmt.Errorf("build router: %w", err)
	}

	return lifecycle.Serve(ctx, lifecycle.Options{
		Service: cfg.ServiceName, Version: cfg.Version,
		Addr: cfg.HTTPAddr, AdvertiseAddress: cfg.AdvertiseAddress,
		Handler: router, Metrics: tel.MetricsHandler,
		Consul:     registry,
		DrainDelay: cfg.DrainDelay, ShutdownTimeout: cfg.ShutdownTimeout,
		Logger: tel.Logger,
	})
}
