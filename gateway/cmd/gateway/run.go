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
	"github.com/tracecart/tracecart/shared/discovery"
	"github.com/tracecart/tracecart/shared/lifecycle"
	"github.com/tracecart/tracecart/shared/telemetry"
)

// run wires the gateway from its parts and serves until ctx is cancelled or SIGTERM arrives.
// Every error met on the way out, telemetry flush included, is joined into err. What the
// gateway is made of (transport chain, token check, rate limit, cache, proxies, routes) is
// assembled in newHandler (wiring.go).
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) (err error) {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	// The gateway's HTTP_ADDR is the public door of the shop: its metrics and exact version are
	// for operators and Prometheus only, so they get a listener of their own by default.
	cfg, err := config.Load[Config](config.WithDefaults(getenv, map[string]string{
		"SERVICE_NAME":       "gateway",
		"INTERNAL_HTTP_ADDR": ":8081",
	}))
	if err != nil {
		return fmt.Errorf("load config: %w", err)
	}
	tuneGC(getenv)

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

	registry, err := consul.NewClient(&consul.Config{Address: cfg.ConsulAddr, Token: string(cfg.ConsulToken)})
	if err != nil {
		return fmt.Errorf("consul client: %w", err)
	}
	resolver := discovery.NewConsulResolver(registry, discovery.WithLogger(tel.Logger))
	defer func() { err = errors.Join(err, resolver.Close()) }()

	handler, err := newHandler(cfg, tel, resolver)
	if err != nil {
		return err
	}

	return lifecycle.Serve(ctx, lifecycle.Options{
		Service: cfg.ServiceName, Version: cfg.Version,
		Addr: cfg.HTTPAddr, InternalAddr: cfg.InternalHTTPAddr, AdvertiseAddress: cfg.AdvertiseAddress,
		Handler: handler, Metrics: tel.MetricsHandler,
		Consul:     registry,
		DrainDelay: cfg.DrainDelay, ShutdownTimeout: cfg.ShutdownTimeout,
		Logger: tel.Logger,
	})
}
