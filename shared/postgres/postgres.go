// Package postgres is how every tracecart service talks to its database: a traced connection pool
// (Open), schema migrations embedded in the service binary (Migrate) and a transaction helper
// (InTx).
//
// It is deliberately thin. Services write plain SQL through pgx; this package only makes sure that
// every query shows up in the trace of the request that caused it, that a service started before
// its database waits for it instead of crashing, and that the schema is in place before the first
// request arrives.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// DefaultMaxConns is the pool size Open uses unless WithMaxConns says otherwise. pgx's own default
// (four, or the number of CPUs) is too small for a service whose outbox relay holds a connection
// for its batch while HTTP handlers and a Kafka consumer need theirs.
const DefaultMaxConns = 10

// Option changes how Open builds the pool.
type Option func(*options)

type options struct {
	tracerProvider trace.TracerProvider
	meterProvider  metric.MeterProvider
	maxConns       int32
	name           string
}

// WithTracerProvider makes query spans go to tp instead of the global TracerProvider. Tests use it
// to record spans in memory.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tracerProvider = tp }
}

// WithMeterProvider makes query durations and pool statistics go to mp instead of the global
// MeterProvider.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(o *options) { o.meterProvider = mp }
}

// WithMaxConns sets the largest number of connections the pool opens. It overrides the DSN's
// pool_max_conns parameter.
func WithMaxConns(n int32) Option {
	return func(o *options) { o.maxConns = n }
}

// WithName names the pool in its statistics (attribute tracecart.db.pool), so that two pools of
// one service on the same database report separate series.
func WithName(name string) Option {
	return func(o *options) { o.name = name }
}

// Open connects to the database at dsn (a postgres:// URL or a keyword/value string) and returns a
// pool whose queries are traced as OpenTelemetry database client spans.
//
// Spans follow the database semantic conventions (db.system.name "postgresql", db.query.text with
// its $1 placeholders, db.operation.name) and never carry the values of query parameters: those
// are customers' data. Pool statistics (pgxpool.* metrics) are recorded too.
//
// In docker compose a service may start before Postgres accepts connections, so Open pings the
// database until it answers or ctx is done. Give ctx a deadline: without one, Open waits forever.
func Open(ctx context.Context, dsn string, opts ...Option) (*pgxpool.Pool, error) {
	o := options{
		tracerProvider: otel.GetTracerProvider(),
		meterProvider:  otel.GetMeterProvider(),
		maxConns:       DefaultMaxConns,
	}
	for _, opt := range opts {
		opt(&o)
	}

	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors never echo the password back.
		return nil, fmt.Errorf("parse postgres dsn: %w", err)
	}
	cfg.MaxConns = o.maxConns
	cfg.ConnConfig.Tracer = otelpgx.NewTracer(
		otelpgx.WithTracerProvider(o.tracerProvider),
		otelpgx.WithMeterProvider(o.meterProvider),
		// A span for every pool acquire would double the number of spans in each trace; how long
		// queries wait for a connection is in the pgxpool.acquire_duration metric instead.
		otelpgx.WithDisableAcquireTracer(),
	)

	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create postgres pool: %w", err)
	}
	stats := []otelpgx.StatsOption{otelpgx.WithStatsMeterProvider(o.meterProvider)}
	if o.name != "" {
		stats = append(stats, otelpgx.WithStatsAttributes(attribute.String("tracecart.db.pool", o.name)))
	}
	if err := otelpgx.RecordStats(pool, stats...); err != nil {
		pool.Close()
		return nil, fmt.Errorf("record postgres pool statistics: %w", err)
	}
	if err := waitReady(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// waitReady pings the database until it answers, backing off from 100 ms to 2 s between tries, and
// gives up when ctx is done, returning the last ping error so the log says why.
func waitReady(ctx context.Context, pool *pgxpool.Pool) error {
	const maxBackoff = 2 * time.Second
	backoff := 100 * time.Millisecond
	for {
		err := pool.Ping(ctx)
		if err == nil {
			return nil
		}
		timer := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			timer.Stop()
			if errors.Is(err, ctx.Err()) {
				return fmt.Errorf("wait for postgres: %w", err)
			}
			return fmt.Errorf("wait for postgres: %w (last error: %w)", ctx.Err(), err)
		case <-timer.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// readyWait bounds how long Ready waits for a connection: under Consul's one-second check
// timeout, so that the check reports something rather than timing out.
const readyWait = 500 * time.Millisecond

// Ready returns a readiness check for pool that tells a busy pool from a broken database. It
// pings the database; when no connection is free within readyWait but the pool handed out
// connections to others meanwhile, the database is answering and the service is merely busy,
// so the check passes. A plain ping would fail there, and Consul would take a loaded instance
// out of rotation, turning a slow service into an absent one (docs/performance-saga.md). The
// check still fails when the database does not answer or every connection is stuck.
func Ready(pool *pgxpool.Pool) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, readyWait)
		defer cancel()
		before := pool.Stat().AcquireCount()
		err := pool.Ping(ctx)
		if err != nil && ctx.Err() != nil && pool.Stat().AcquireCount() > before {
			return nil
		}
		return err
	}
}
