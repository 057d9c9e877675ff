package outbox_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/tracecart/tracecart/shared/kafka"
	"github.com/tracecart/tracecart/shared/outbox"
	"github.com/tracecart/tracecart/shared/postgres"
)

// useTraceContext installs the W3C propagator globally, as telemetry.Setup does in a service, for
// the duration of the test.
func useTraceContext(t *testing.T) {
	t.Helper()
	previous := otel.GetTextMapPropagator()
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTextMapPropagator(previous) })
}

func TestAddRejectsInvalidMessages(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		msg  outbox.Message
	}{
		{name: "no topic", msg: outbox.Message{Key: "order-1", Type: "order.created", Payload: []byte("{}")}},
		{name: "no type", msg: outbox.Message{Topic: e.topic, Key: "order-1", Payload: []byte("{}")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := postgres.InTx(t.Context(), e.pool, func(tx pgx.Tx) error {
				return outbox.Add(t.Context(), tx, tt.msg)
			})
			if !errors.Is(err, outbox.ErrInvalidMessage) {
				t.Errorf("Add error = %v, want %v", err, outbox.ErrInvalidMessage)
			}
		})
	}
	if got := e.count(t, "SELECT count(*) FROM outbox"); got != 0 {
		t.Errorf("outbox has %d rows after invalid messages, want 0", got)
	}
}

func TestAddInRolledBackTransactionWritesNothing(t *testing.T) {
	e := newEnv(t)
	errPaymentDeclined := errors.New("payment declined")

	err := postgres.InTx(t.Context(), e.pool, func(tx pgx.Tx) error {
		if err := outbox.Add(t.Context(), tx, e.messages(3)...); err != nil {
			return err
		}
		return errPaymentDeclined // the state change fails after the events were added
	})
	if !errors.Is(err, errPaymentDeclined) {
		t.Fatalf("InTx error = %v, want %v", err, errPaymentDeclined)
	}
	if got := e.count(t, "SELECT count(*) FROM outbox"); got != 0 {
		t.Errorf("outbox has %d rows after a rollback, want 0", got)
	}
}

func TestAddStoresTraceContextAndEventHeaders(t *testing.T) {
	useTraceContext(t)
	e := newEnv(t)
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("test").Start(t.Context(), "POST /orders")
	defer span.End()

	given := outbox.Message{ID: uuid.New(), Topic: e.topic, Key: "order-1", Type: "order.created", Payload: []byte("{}")}
	generated := outbox.Message{Topic: e.topic, Key: "order-1", Type: "order.confirmed", Payload: []byte("{}")}
	err := postgres.InTx(ctx, e.pool, func(tx pgx.Tx) error {
		return outbox.Add(ctx, tx, given, generated)
	})
	if err != nil {
		t.Fatalf("Add: %v", err)
	}

	rows, err := e.pool.Query(t.Context(), "SELECT id, headers FROM outbox ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		ID      uuid.UUID
		Headers map[string]string
	}
	stored, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 2 {
		t.Fatalf("outbox has %d rows, want 2", len(stored))
	}

	sc := span.SpanContext()
	wantTraceparent := fmt.Sprintf("00-%s-%s-01", sc.TraceID(), sc.SpanID())
	for i, want := range []outbox.Message{given, generated} {
		got := stored[i]
		if want.ID != uuid.Nil && got.ID != want.ID {
			t.Errorf("row %d: id = %s, want the given %s", i, got.ID, want.ID)
		}
		if got.ID == uuid.Nil {
			t.Errorf("row %d: no ID was generated", i)
		}
		wantHeaders := map[string]string{
			"traceparent":         wantTraceparent,
			kafka.HeaderEventID:   got.ID.String(),
			kafka.HeaderEventType: want.Type,
		}
		for k, v := range wantHeaders {
			if got.Headers[k] != v {
				t.Errorf("row %d: header %s = %q, want %q", i, k, got.Headers[k], v)
			}
		}
	}
}
