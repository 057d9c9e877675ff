package postgres

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracecart/tracecart/product-service/internal/app"
	"github.com/tracecart/tracecart/product-service/internal/domain/catalog"
	"github.com/tracecart/tracecart/shared/featureflag"
)

// DEMO FAULT. Nothing in this file is product-service's behaviour: it is the contention scenario
// (docs/walkthroughs/08-contention.md), after Jaeger's HotROD, whose customer service queries
// its database over one connection. While the flag is on, every product read queues for the
// one simulated connection, so under concurrent orders reads wait for each other, and the wait
// grows with the number of requests in flight. A trace shows it as a span of its own, which is
// the lesson: latency that comes from queueing, found by looking at where the time went.

// FlagSingleConnection is the scenario flag key (`make scenario NAME=contention`).
const FlagSingleConnection = "productSingleConnection"

// WaitSpanName is the span a read spends queueing for the single connection.
const WaitSpanName = "wait for the single connection"

// singleConnectionHold is how long a read holds the single connection on top of its query. The
// query alone takes about a millisecond on the demo, too little for a queue to show at the
// concurrency a laptop makes; HotROD's simulated database is slow on purpose for the same reason.
const singleConnectionHold = 20 * time.Millisecond

// SingleConnection is a demo fault around the catalogue: its reads (Get and List) go one at a
// time while FlagSingleConnection is on. Writes pass straight through.
type SingleConnection struct {
	app.Products
	flags  *featureflag.Flags
	tracer trace.Tracer
	// conn holds a token while a read uses the one connection.
	conn chan struct{}
	// queued counts the reads waiting for or holding the connection.
	queued atomic.Int64
	// hold is singleConnectionHold; tests shorten it.
	hold time.Duration
}

var _ app.Products = (*SingleConnection)(nil)

// WithSingleConnection returns products with the contention fault in front of its reads,
// switched by flags (nil: always off), tracing the wait with tracers.
func WithSingleConnection(products app.Products, flags *featureflag.Flags, tracers trace.TracerProvider) *SingleConnection {
	return &SingleConnection{
		Products: products, flags: flags,
		tracer: tracers.Tracer("github.com/tracecart/tracecart/product-service/internal/adapters/postgres"),
		conn:   make(chan struct{}, 1), hold: singleConnectionHold,
	}
}

// Get returns product id, over the single connection while the fault is on.
func (s *SingleConnection) Get(ctx context.Context, id uuid.UUID) (catalog.Product, error) {
	release, err := s.acquire(ctx)
	if err != nil {
		return catalog.Product{}, fmt.Errorf("product %s: %w", id, err)
	}
	defer release()
	return s.Products.Get(ctx, id)
}

// List returns one page of the catalogue, over the single connection while the fault is on.
func (s *SingleConnection) List(ctx context.Context, f catalog.Filter) (catalog.Page, error) {
	release, err := s.acquire(ctx)
	if err != nil {
		return catalog.Page{}, fmt.Errorf("list products: %w", err)
	}
	defer release()
	return s.Products.List(ctx, f)
}

// acquire waits for the single connection if the fault is on, in a span that says how many
// reads were ahead, and returns the function that gives it back. With the fault off it returns
// at once and records nothing. The flag is evaluated in the caller's span (the read's server
// span), so that span carries the feature_flag.evaluation event.
func (s *SingleConnection) acquire(ctx context.Context) (release func(), err error) {
	if !s.flags.Bool(ctx, FlagSingleConnection) {
		return func() {}, nil
	}
	ahead := s.queued.Add(1) - 1
	_, span := s.tracer.Start(ctx, WaitSpanName,
		trace.WithAttributes(attribute.Int64("tracecart.demo.reads_ahead", ahead)))
	select {
	case s.conn <- struct{}{}:
		span.End()
	case <-ctx.Done():
		s.queued.Add(-1)
		span.SetStatus(codes.Error, "gave up waiting")
		span.End()
		return nil, ctx.Err()
	}
	// The simulated connection's own slowness, while it is held.
	timer := time.NewTimer(s.hold)
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
	timer.Stop()
	return func() {
		<-s.conn
		s.queued.Add(-1)
	}, nil
}
