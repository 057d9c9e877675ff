// Package saga is user-service's part of the order saga: the payment step. It consumes the
// "inventory" and "orders" topics and
//
//   - on inventory.reserved takes the order's total from the customer's wallet and publishes
//     payment.succeeded, or payment.failed (insufficient_funds, unknown_user);
//   - on order.cancelled gives a taken payment back and publishes payment.refunded, or, when
//     the cancellation overtakes the reservation, leaves a tombstone so the late reservation
//     takes no money.
//
// Every event is handled in one database transaction that records its ID in the inbox, applies
// the effect and writes the resulting event to the outbox: a redelivered event changes nothing,
// and an event is announced if and only if its effect was committed.
package saga

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/inbox"
	"github.com/tracecart/tracecart/shared/kafka"
	"github.com/tracecart/tracecart/shared/outbox"
	"github.com/tracecart/tracecart/user-service/internal/wallet"
)

// Topics are the topics the payment step consumes.
var Topics = []string{events.TopicInventory, events.TopicOrders}

// Payments applies the payment step's effects inside the caller's transaction (postgres.Store).
type Payments interface {
	Charge(ctx context.Context, tx pgx.Tx, orderID, userID uuid.UUID, amountCents int64) (wallet.ChargeDecision, error)
	Cancel(ctx context.Context, tx pgx.Tx, orderID, userID uuid.UUID) (wallet.CancelOutcome, wallet.Payment, error)
}

// MetricPayments counts the payment step's outcomes: outcome is "succeeded", "failed" (with a
// reason) or "refunded". Dashboards show the saga's success rate from it.
const MetricPayments = "tracecart.payments"

// instrumentationName names this package as the scope of its spans and metrics.
const instrumentationName = "github.com/tracecart/tracecart/user-service/internal/saga"

// Options configures a Handler. Pool, Payments and Consumer are required.
type Options struct {
	Pool     *pgxpool.Pool
	Payments Payments
	// Consumer names the effect in the inbox; it is the consumer group, "user-service".
	Consumer string
	// TracerProvider and MeterProvider default to the OpenTelemetry globals.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
}

// Handler handles the saga's events for user-service.
type Handler struct {
	opts     Options
	tracer   trace.Tracer
	payments metric.Int64Counter
}

// NewHandler returns a Handler; pass its Handle method to kafka.NewConsumer.
func NewHandler(opts Options) (*Handler, error) {
	if opts.Pool == nil || opts.Payments == nil || opts.Consumer == "" {
		return nil, errors.New("new saga handler: Pool, Payments and Consumer are required")
	}
	if opts.TracerProvider == nil {
		opts.TracerProvider = otel.GetTracerProvider()
	}
	if opts.MeterProvider == nil {
		opts.MeterProvider = otel.GetMeterProvider()
	}
	payments, err := opts.MeterProvider.Meter(instrumentationName).Int64Counter(MetricPayments,
		metric.WithUnit("{payment}"),
		metric.WithDescription("Outcomes of the saga's payment step: succeeded, failed (by reason), refunded."))
	if err != nil {
		return nil, fmt.Errorf("new saga handler: %w", err)
	}
	return &Handler{opts: opts, tracer: opts.TracerProvider.Tracer(instrumentationName), payments: payments}, nil
}

// Handle is the kafka.Handler of the payment step. An event it cannot decode is a
// kafka.Permanent error, dead-lettered at once; a database error is returned as it is, so the
// consumer retries. Events of other types on the same topics are for other services: they are
// recorded in the inbox and otherwise ignored.
func (h *Handler) Handle(ctx context.Context, rec kafka.Record) error {
	env, err := events.Decode(rec.Value)
	if err != nil {
		return kafka.Permanent(fmt.Errorf("decode event from %s: %w", rec.Topic, err))
	}
	ctx, span := h.tracer.Start(ctx, "handle "+env.Type, trace.WithAttributes(
		attribute.String("order.id", env.OrderID.String()),
		attribute.String("event.id", env.ID.String()),
		attribute.String("event.type", env.Type),
	))
	defer span.End()

	var (
		effect func(pgx.Tx) error
		result outcome
	)
	switch env.Type {
	case events.InventoryReserved:
		p, err := events.DecodePayload[events.InventoryReservedPayload](env)
		if err == nil && (p.UserID == uuid.Nil || p.TotalCents <= 0) {
			err = fmt.Errorf("%w: %s needs a user_id and a positive total_cents", events.ErrMalformed, env.Type)
		}
		if err != nil {
			return h.permanent(span, err)
		}
		effect = func(tx pgx.Tx) (err error) { result, err = h.charge(ctx, tx, env, p); return err }
	case events.OrderCancelled:
		p, err := events.DecodePayload[events.OrderCancelledPayload](env)
		if err != nil {
			return h.permanent(span, err)
		}
		effect = func(tx pgx.Tx) (err error) { result, err = h.cancel(ctx, tx, env, p); return err }
	default:
		effect = func(pgx.Tx) error { return nil } // for product-service or order-service
	}

	duplicate, err := inbox.Handle(ctx, h.opts.Pool, h.opts.Consumer, env.ID.String(), effect)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return fmt.Errorf("handle %s %s of order %s: %w", env.Type, env.ID, env.OrderID, err)
	}
	span.SetAttributes(attribute.Bool("event.duplicate", duplicate))
	if !duplicate && result.name != "" {
		span.SetAttributes(attribute.String("payment.outcome", result.name))
		// Counted after the commit, so a rolled-back attempt is not counted twice.
		h.payments.Add(ctx, 1, metric.WithAttributes(result.attrs()...))
	}
	return nil
}

// permanent marks a payload error as permanent and records it on the span.
func (h *Handler) permanent(span trace.Span, err error) error {
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
	return kafka.Permanent(err)
}

// outcome is what an event led to, for the span and the payments counter; name is "" when
// the event had no effect worth counting.
type outcome struct {
	name   string
	reason string
}

func (o outcome) attrs() []attribute.KeyValue {
	attrs := []attribute.KeyValue{attribute.String("outcome", o.name)}
	if o.reason != "" {
		attrs = append(attrs, attribute.String("reason", o.reason))
	}
	return attrs
}

// charge takes payment for a reserved order and writes payment.succeeded or payment.failed.
func (h *Handler) charge(ctx context.Context, tx pgx.Tx, env events.Envelope, p events.InventoryReservedPayload) (outcome, error) {
	decision, err := h.opts.Payments.Charge(ctx, tx, env.OrderID, p.UserID, p.TotalCents)
	if err != nil {
		return outcome{}, err
	}
	switch decision.Outcome {
	case wallet.ChargePay:
		return outcome{name: "succeeded"}, publish(ctx, tx, env.OrderID, events.PaymentSucceeded,
			events.PaymentSucceededPayload{UserID: p.UserID, AmountCents: p.TotalCents})
	case wallet.ChargeFail:
		return outcome{name: "failed", reason: decision.Reason}, publish(ctx, tx, env.OrderID, events.PaymentFailed,
			events.PaymentFailedPayload{UserID: p.UserID, Reason: decision.Reason})
	}
	return outcome{}, nil // cancelled before the reservation, or already charged
}

// cancel gives back a cancelled order's payment and writes payment.refunded, or leaves a
// tombstone for a reservation that has not arrived yet.
func (h *Handler) cancel(ctx context.Context, tx pgx.Tx, env events.Envelope, p events.OrderCancelledPayload) (outcome, error) {
	result, payment, err := h.opts.Payments.Cancel(ctx, tx, env.OrderID, p.UserID)
	if err != nil {
		return outcome{}, err
	}
	if result != wallet.CancelRefund {
		return outcome{}, nil
	}
	return outcome{name: "refunded"}, publish(ctx, tx, env.OrderID, events.PaymentRefunded,
		events.PaymentRefundedPayload{UserID: payment.UserID, AmountCents: payment.AmountCents})
}

// publish writes a new event about orderID to the payments topic through the outbox, in tx.
func publish(ctx context.Context, tx pgx.Tx, orderID uuid.UUID, eventType string, payload any) error {
	env, err := events.New(eventType, orderID, payload)
	if err != nil {
		return err
	}
	value, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("encode %s envelope: %w", eventType, err)
	}
	return outbox.Add(ctx, tx, outbox.Message{
		ID: env.ID, Topic: events.TopicPayments, Key: orderID.String(), Type: env.Type, Payload: value,
	})
}
