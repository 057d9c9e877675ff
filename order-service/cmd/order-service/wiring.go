package main

import (
	"io"
	"net/http"
	"time"

	"github.com/tracecart/tracecart/order-service/internal/adapters/httpapi"
	"github.com/tracecart/tracecart/order-service/internal/adapters/postgres"
	"github.com/tracecart/tracecart/order-service/internal/app"
	"github.com/tracecart/tracecart/order-service/migrations"
	"github.com/tracecart/tracecart/shared/auth"
	"github.com/tracecart/tracecart/shared/bootstrap"
	"github.com/tracecart/tracecart/shared/httpclient"
	"github.com/tracecart/tracecart/shared/httpserver"
)

// The helpers of run: each turns the configuration into the options of one part, so that run
// itself shows only which parts there are and how they connect.

// upstreamTimeout bounds one call to another service, retries and reading the body included.
const upstreamTimeout = 5 * time.Second

func (c Config) bootstrap(stdout io.Writer) bootstrap.Options {
	return bootstrap.Options{
		Service: c.Service, Postgres: c.Postgres, Kafka: c.Kafka, Migrations: migrations.Set, Stdout: stdout,
		RelayPausedFlag: "outboxRelayPaused", // a demo fault: docs/walkthroughs/06-relay-paused.md
	}
}

// breaker is the circuit breaker in front of each upstream, from the BREAKER_* variables.
func (c Config) breaker() httpclient.BreakerSettings {
	return httpclient.BreakerSettings{
		FailureRatio: c.BreakerFailureRatio, MinimumCalls: c.BreakerMinimumCalls,
		Window: c.BreakerWindow, OpenTimeout: c.BreakerOpenTimeout,
	}
}

func (c Config) verifier(client *http.Client) auth.VerifierOptions {
	return auth.VerifierOptions{JWKSURL: c.JWKSURL, Issuer: c.JWTIssuer, Audience: c.JWTAudience, HTTPClient: client}
}

func (c Config) app(svc *bootstrap.Service, catalog app.Catalog) app.Options {
	store := postgres.NewStore(svc.DB)
	return app.Options{
		Orders: store, Changes: store, Catalog: catalog,
		Sweep: app.SweepOptions{Timeout: c.SagaTimeout, Interval: c.SagaSweepInterval},
		Reconcile: app.ReconcileOptions{
			Grace: c.ReconcileGrace, MaxBackoff: c.ReconcileMaxBackoff,
			MaxAttempts: c.ReconcileMaxAttempts, Interval: c.ReconcileInterval,
		},
		TracerProvider: svc.Tel.TracerProvider, MeterProvider: svc.Tel.MeterProvider, Logger: svc.Log,
	}
}

// api is what the HTTP API needs. A 503 of an unavailable catalogue tells clients to come back
// when the breaker lets calls through again.
func (c Config) api(svc *bootstrap.Service, verifier *auth.Verifier, orders *app.App) httpapi.Deps {
	return httpapi.Deps{
		Router: httpserver.RouterOptions{
			ServiceName: c.ServiceName, Logger: svc.Log, TracerProvider: svc.Tel.TracerProvider,
			MeterProvider: svc.Tel.MeterProvider, Propagator: svc.Tel.Propagator,
		},
		Verifier: verifier, App: orders, RetryAfter: c.BreakerOpenTimeout,
	}
}
