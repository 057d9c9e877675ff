package saga_test

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/featureflag"
	"github.com/tracecart/tracecart/shared/kafka"
	"github.com/tracecart/tracecart/shared/postgres/pgtest"
	"github.com/tracecart/tracecart/user-service/internal/adapters/faults"
	"github.com/tracecart/tracecart/user-service/internal/adapters/postgres/postgrestest"
	"github.com/tracecart/tracecart/user-service/internal/adapters/saga"
)

// flagFile writes a flag file in flagd's format with one flag in force and opens it.
func flagFile(t *testing.T, key, variants, variant string) *featureflag.Flags {
	t.Helper()
	path := filepath.Join(t.TempDir(), "flags.json")
	content := `{"flags": {"` + key + `": {"state": "ENABLED", "variants": ` + variants + `, "defaultVariant": "` + variant + `"}}}`
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	flags, err := featureflag.Open(t.Context(), path, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = flags.Close(t.Context()) })
	return flags
}

// faultFixture is newFixture with the demo faults of flags and a span recorder, so a test can
// see the flag's evaluation event on the "handle <event>" span.
func faultFixture(t *testing.T, flags *featureflag.Flags) (*fixture, *tracetest.SpanRecorder) {
	t.Helper()
	pool := postgrestest.Open(t)
	rec := tracetest.NewSpanRecorder()
	reader := sdkmetric.NewManualReader()
	store, consumer := newConsumer(t, pool, sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)),
		sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)), flags)
	return &fixture{pool: pool, store: store, consumer: consumer, metrics: reader}, rec
}

// flagEvaluated reports whether the span named name recorded the evaluation of flag key.
func flagEvaluated(rec *tracetest.SpanRecorder, name, key string) bool {
	for _, s := range rec.Ended() {
		if s.Name() != name {
			continue
		}
		for _, e := range s.Events() {
			for _, kv := range e.Attributes {
				if e.Name == "feature_flag.evaluation" && kv.Key == "feature_flag.key" && kv.Value.AsString() == key {
					return true
				}
			}
		}
	}
	return false
}

const shares = `{"off": 0, "quarter": 0.25, "all": 1}`

func TestPaymentDeclinesDeclineTheirShareOfOrdersAndTakeNoMoney(t *testing.T) {
	f, rec := faultFixture(t, flagFile(t, faults.FlagPaymentDeclineShare, shares, "quarter"))
	userID := f.user(t, 1_000_000)
	declined, paid := 0, 0
	for range 40 {
		orderID := uuid.New()
		f.handle(t, reserved(t, orderID, userID, 100))
		want := faults.Bucket(orderID) < 0.25
		if got := f.paymentStatus(t, orderID); (got == "FAILED") != want {
			t.Fatalf("order %s (bucket %.2f): payment %s", orderID, faults.Bucket(orderID), got)
		}
		if want {
			declined++
			ev := f.wantEvents(t, orderID, events.PaymentFailed)
			if p, err := events.DecodePayload[events.PaymentFailedPayload](ev[0].env); err != nil || p.Reason != "declined" {
				t.Errorf("payment.failed payload = %+v, %v; want reason declined", p, err)
			}
		} else {
			paid++
		}
	}
	if declined == 0 || paid == 0 {
		t.Fatalf("declined %d, paid %d of 40: want some of each with a quarter declined", declined, paid)
	}
	if got := f.balance(t, userID); got != 1_000_000-int64(paid)*100 {
		t.Errorf("balance = %d, want %d: a declined order must take no money", got, 1_000_000-int64(paid)*100)
	}
	if !flagEvaluated(rec, "handle inventory.reserved", faults.FlagPaymentDeclineShare) {
		t.Error("no feature_flag.evaluation event on the handle inventory.reserved span")
	}
	if got := f.paymentsCounted(t); got["failed/declined"] != int64(declined) {
		t.Errorf("payments counted = %v, want failed/declined %d", got, declined)
	}
	postgrestest.CheckMoneyInvariant(t, f.pool)
}

func TestPaymentDeclineShareOffDeclinesNothing(t *testing.T) {
	f, rec := faultFixture(t, flagFile(t, faults.FlagPaymentDeclineShare, shares, "off"))
	userID := f.user(t, 1_000_000)
	for range 20 {
		orderID := uuid.New()
		f.handle(t, reserved(t, orderID, userID, 100))
		if got := f.paymentStatus(t, orderID); got != "PAID" {
			t.Fatalf("payment = %s with the flag off, want PAID", got)
		}
	}
	if flagEvaluated(rec, "handle inventory.reserved", faults.FlagPaymentDeclineShare) {
		t.Error("an evaluation that changed nothing left an event")
	}
}

func TestSagaDropEventAcknowledgesTheReservationWithoutCharging(t *testing.T) {
	f, rec := faultFixture(t, flagFile(t, faults.FlagSagaDropEvent, `{"on": true, "off": false}`, "on"))
	userID, orderID := f.user(t, 10_000), uuid.New()

	f.handle(t, reserved(t, orderID, userID, 1200)) // no error: acknowledged

	if got := f.balance(t, userID); got != 10_000 {
		t.Errorf("balance = %d, want 10000: a dropped event takes nothing", got)
	}
	f.wantEvents(t, orderID) // and answers nothing: the saga waits for its timeout
	if n := pgtest.Count(t, f.pool, `SELECT count(*) FROM processed_events WHERE consumer = 'user-service'`); n != 1 {
		t.Errorf("%d events recorded as processed, want the dropped one (so no redelivery acts on it)", n)
	}
	if !flagEvaluated(rec, "handle inventory.reserved", faults.FlagSagaDropEvent) {
		t.Error("no feature_flag.evaluation event on the handle inventory.reserved span")
	}
}

func TestPoisonMessageFailsTheCancellationPermanentlyAndTheReplayRefunds(t *testing.T) {
	flags := flagFile(t, faults.FlagPoisonMessage, `{"on": true, "off": false}`, "on")
	f, rec := faultFixture(t, flags)
	userID, orderID := f.user(t, 10_000), uuid.New()
	f.handle(t, reserved(t, orderID, userID, 1200)) // charging is not poisoned

	cancel := cancelled(t, orderID, userID)
	err := f.consumer.Handle(t.Context(), cancel)
	if !kafka.IsPermanent(err) || !errors.Is(err, saga.ErrSimulatedBug) {
		t.Fatalf("Handle(order.cancelled) = %v, want the permanent simulated bug (dead-lettered)", err)
	}
	if got := f.balance(t, userID); got != 8800 {
		t.Errorf("balance = %d, want 8800: a failed handler refunds nothing", got)
	}
	if !flagEvaluated(rec, "handle order.cancelled", faults.FlagPoisonMessage) {
		t.Error("no feature_flag.evaluation event on the handle order.cancelled span")
	}

	// "Deploy the fix" (the same consumer without the fault) and replay the same event.
	f2 := &fixture{pool: f.pool, store: f.store, metrics: f.metrics}
	_, f2.consumer = newConsumer(t, f.pool, sdktrace.NewTracerProvider(), sdkmetric.NewMeterProvider(), nil)
	f2.handle(t, cancel)
	f2.handle(t, cancel) // replayed twice: still one refund
	if got := f.balance(t, userID); got != 10_000 {
		t.Errorf("balance after the replay = %d, want 10000 (refunded once)", got)
	}
	f.wantEvents(t, orderID, events.PaymentSucceeded, events.PaymentRefunded)
	postgrestest.CheckMoneyInvariant(t, f.pool)
}
