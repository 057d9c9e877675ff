// Package app holds user-service's use cases, one file each, named after what it does:
// register, login, seed the demo users, get and list users, top up and read a wallet, and the
// payment step of the order saga, charge and refund. Each loads what it needs through a port
// (ports.go), asks the domain (packages account and wallet) what to do, and saves the answer
// with the events that announce it. It knows no SQL, HTTP or Kafka: the adapters call it and
// implement its ports.
package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracecart/tracecart/shared/aftercommit"
	"github.com/tracecart/tracecart/shared/events"
)

// MetricPayments counts the payment step's outcomes: outcome is "succeeded", "failed" (with a
// reason) or "refunded". Dashboards show the saga's success rate from it.
const MetricPayments = "tracecart.payments"

// instrumentationName names this package as the scope of its metrics.
const instrumentationName = "github.com/tracecart/tracecart/user-service/internal/app"

// Deps are the App's ports and where it reports its metrics. All are required but Declines,
// a demo fault: nil declines nothing.
type Deps struct {
	Users         Users
	Wallets       Wallets
	Payments      Payments
	Hasher        PasswordHasher
	Tokens        Tokens
	Declines      Declines
	MeterProvider metric.MeterProvider
}

// App is user-service's application layer: every use case is a method of it.
type App struct {
	users    Users
	wallets  Wallets
	payments Payments
	hasher   PasswordHasher
	tokens   Tokens
	declines Declines
	// decoy is a hash of a random password, checked when a login names an unknown email so
	// that the answer takes as long as for a known one.
	decoy string
	// paid counts MetricPayments.
	paid metric.Int64Counter
}

// New returns the App on d's ports.
func New(d Deps) (*App, error) {
	if d.Users == nil || d.Wallets == nil || d.Payments == nil || d.Hasher == nil || d.Tokens == nil || d.MeterProvider == nil {
		return nil, errors.New("new app: every dependency is required")
	}
	decoy, err := d.Hasher.Hash(uuid.NewString())
	if err != nil {
		return nil, fmt.Errorf("new app: %w", err)
	}
	paid, err := d.MeterProvider.Meter(instrumentationName).Int64Counter(MetricPayments,
		metric.WithUnit("{payment}"),
		metric.WithDescription("Outcomes of the saga's payment step: succeeded, failed (by reason), refunded."))
	if err != nil {
		return nil, fmt.Errorf("new app: %w", err)
	}
	return &App{users: d.Users, wallets: d.Wallets, payments: d.Payments, hasher: d.Hasher, tokens: d.Tokens,
		declines: d.Declines, decoy: decoy, paid: paid}, nil
}

// countPayment counts a payment outcome once the unit of work ctx belongs to has committed (at
// once outside one), so an attempt that rolls back and is retried is not counted twice. It also
// names the outcome on the current span (the saga consumer's "handle <event type>").
func (a *App) countPayment(ctx context.Context, outcome, reason string) {
	attrs := []attribute.KeyValue{attribute.String("outcome", outcome)}
	if reason != "" {
		attrs = append(attrs, attribute.String("reason", reason))
	}
	aftercommit.Do(ctx, func() {
		trace.SpanFromContext(ctx).SetAttributes(attribute.String("payment.outcome", outcome))
		a.paid.Add(ctx, 1, metric.WithAttributes(attrs...))
	})
}

// one turns the result of building one event into the list a repository's decide returns.
func one(msg events.Message, err error) ([]events.Message, error) {
	if err != nil {
		return nil, err
	}
	return []events.Message{msg}, nil
}
