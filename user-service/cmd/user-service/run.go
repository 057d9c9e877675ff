package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/tracecart/tracecart/shared/bootstrap"
	"github.com/tracecart/tracecart/shared/httpclient"
	"github.com/tracecart/tracecart/user-service/internal/adapters/faults"
	"github.com/tracecart/tracecart/user-service/internal/adapters/httpapi"
	"github.com/tracecart/tracecart/user-service/internal/adapters/postgres"
	"github.com/tracecart/tracecart/user-service/internal/adapters/saga"
	"github.com/tracecart/tracecart/user-service/internal/app"
	"github.com/tracecart/tracecart/user-service/migrations"
)

// run wires user-service from its parts and serves until ctx is cancelled or SIGTERM arrives.
// Every error met on the way out, telemetry flush included, is joined into err.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) (err error) {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	svc, err := bootstrap.Start(ctx, bootstrap.Options{
		Service: cfg.Service, Postgres: cfg.Postgres, Kafka: cfg.Kafka, Migrations: migrations.Set, Stdout: stdout})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, svc.Close()) }()

	keys, tokens, hasher, err := newCredentials(ctx, cfg, svc.Log) // wiring.go: signing keys, token issuer, Argon2id
	if err != nil {
		return err
	}
	store := postgres.New(svc.DB)       // the users, wallets and payments repositories
	demoFaults := faults.New(svc.Flags) // the scenario flags' faults, all off by default
	users, err := app.New(app.Deps{Users: store, Wallets: store, Payments: store,
		Hasher: hasher, Tokens: tokens, Declines: demoFaults, MeterProvider: svc.Tel.MeterProvider})
	if err != nil {
		return err
	}
	if err := seedDemoUsers(ctx, cfg, users, svc.Log); err != nil { // only with SEED_DEMO_DATA
		return err
	}
	// The payment step of the saga: inventory.reserved → charge, order.cancelled → refund.
	if err := svc.ConsumeSaga(saga.Routes(users, demoFaults)); err != nil {
		return err
	}

	// The client that fetches the key set sibling instances publish; each line wraps the one above.
	var t http.RoundTripper = httpclient.NewBaseTransport(httpclient.Timeouts{})                                           // pooled connections, a timeout per phase
	t = httpclient.NewResolvingTransport(t, svc.Resolver)                                                                  // "user-service" → a healthy instance, from Consul
	t = httpclient.NewRetryTransport(t, httpclient.RetryPolicy{})                                                          // GETs retried with jittered backoff
	if t, err = httpclient.NewBreakerTransport(t, httpclient.BreakerSettings{}, svc.BreakerMeter(), svc.Log); err != nil { // fail fast while they are unwell
		return err
	}
	t = otelhttp.NewTransport(t, svc.TracingOptions()...)                                          // a client span, the traceparent header
	verifier, err := newVerifier(cfg, keys, &http.Client{Transport: t, Timeout: 10 * time.Second}) // wiring.go
	if err != nil {
		return err
	}
	api, err := httpapi.NewServer(httpapi.Deps{App: users, Verifier: verifier, JWKS: keys.JWKSHandler(), Router: svc.RouterOptions()})
	if err != nil {
		return err
	}
	return svc.Serve(ctx, api)
}
