package saga_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/featureflag"
	"github.com/tracecart/tracecart/shared/inbox"
	"github.com/tracecart/tracecart/shared/kafka"
	"github.com/tracecart/tracecart/shared/postgres/pgtest"
	"github.com/tracecart/tracecart/shared/sagakit"
	"github.com/tracecart/tracecart/shared/testinfra"
	"github.com/tracecart/tracecart/user-service/internal/adapters/faults"
	"github.com/tracecart/tracecart/user-service/internal/adapters/password"
	"github.com/tracecart/tracecart/user-service/internal/adapters/postgres"
	"github.com/tracecart/tracecart/user-service/internal/adapters/postgres/postgrestest"
	"github.com/tracecart/tracecart/user-service/internal/adapters/saga"
	"github.com/tracecart/tracecart/user-service/internal/app"
	"github.com/tracecart/tracecart/user-service/internal/domain/account"
)

func TestMain(m *testing.M) { os.Exit(testinfra.Main(m)) }

// fixture is the payment step's real consumer (the kit with this package's routes, on the real
// use cases and repositories) on its own migrated database, with an in-memory metric reader.
type fixture struct {
	pool     *pgxpool.Pool
	store    *postgres.Store
	consumer *sagakit.Consumer
	metrics  *sdkmetric.ManualReader
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	pool := postgrestest.Open(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	store, consumer := newConsumer(t, pool, noop.NewTracerProvider(), mp, nil)
	return &fixture{pool: pool, store: store, consumer: consumer, metrics: reader}
}

// noTokens stands in for the token issuer, which no saga use case calls.
type noTokens struct{ app.Tokens }

// newConsumer builds the consumer as run does, on pool, reporting to tp and mp, with the demo
// faults flags switch on (nil: none).
func newConsumer(t *testing.T, pool *pgxpool.Pool, tp trace.TracerProvider, mp metric.MeterProvider, flags *featureflag.Flags) (*postgres.Store, *sagakit.Consumer) {
	t.Helper()
	store := postgres.New(pool)
	hasher, err := password.NewHasher(password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, 64)
	if err != nil {
		t.Fatal(err)
	}
	demoFaults := faults.New(flags)
	users, err := app.New(app.Deps{Users: store, Wallets: store, Payments: store, Hasher: hasher, Tokens: noTokens{},
		Declines: demoFaults, MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	consumer, err := sagakit.NewConsumer(sagakit.Options{
		Name: "user-service", Inbox: inbox.New(pool), Routes: saga.Routes(users, demoFaults),
		TracerProvider: tp, MeterProvider: mp, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	return store, consumer
}

// user creates a customer with a balance and returns its ID.
func (f *fixture) user(t *testing.T, balanceCents int64) uuid.UUID {
	t.Helper()
	id := uuid.New()
	u := account.User{ID: id, Email: id.String() + "@example.com", Name: "Test", Roles: []string{"customer"}, PasswordHash: "unused"}
	if err := f.store.CreateUser(t.Context(), u, balanceCents); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	return id
}

// record encodes an event as the consumer would receive it.
func record(t *testing.T, eventType string, orderID uuid.UUID, payload any) kafka.Record {
	t.Helper()
	env, err := events.New(eventType, orderID, payload)
	if err != nil {
		t.Fatal(err)
	}
	value, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	topic, err := events.TopicOf(eventType)
	if err != nil {
		t.Fatal(err)
	}
	return kafka.Record{Topic: topic, Key: orderID.String(), Value: value}
}

func reserved(t *testing.T, orderID, userID uuid.UUID, total int64) kafka.Record {
	return record(t, events.InventoryReserved, orderID, events.InventoryReservedPayload{UserID: userID, TotalCents: total})
}

func cancelled(t *testing.T, orderID, userID uuid.UUID) kafka.Record {
	return record(t, events.OrderCancelled, orderID, events.OrderCancelledPayload{UserID: userID, Reason: "customer"})
}

func (f *fixture) handle(t *testing.T, rec kafka.Record) {
	t.Helper()
	if err := f.consumer.Handle(t.Context(), rec); err != nil {
		t.Fatalf("Handle: %v", err)
	}
}

func (f *fixture) balance(t *testing.T, userID uuid.UUID) int64 {
	t.Helper()
	return int64(pgtest.Count(t, f.pool, `SELECT balance_cents FROM users WHERE id = $1`, userID))
}

func (f *fixture) paymentStatus(t *testing.T, orderID uuid.UUID) string {
	t.Helper()
	var status string
	if err := f.pool.QueryRow(t.Context(), `SELECT status FROM payments WHERE order_id = $1`, orderID).Scan(&status); err != nil {
		t.Fatalf("payment of order %s: %v", orderID, err)
	}
	return status
}

// published is one outbox row, decoded.
type published struct {
	topic, key string
	env        events.Envelope
}

// outbox returns the outbox rows about orderID, oldest first.
func (f *fixture) outbox(t *testing.T, orderID uuid.UUID) []published {
	t.Helper()
	rows, err := f.pool.Query(t.Context(), `SELECT topic, key, payload FROM outbox WHERE key = $1 ORDER BY seq`, orderID.String())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []published
	for rows.Next() {
		var p published
		var payload []byte
		if err := rows.Scan(&p.topic, &p.key, &payload); err != nil {
			t.Fatal(err)
		}
		if p.env, err = events.Decode(payload); err != nil {
			t.Fatalf("outbox row is not a valid event: %v", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// wantEvents checks the types of the events published about orderID, and returns them.
func (f *fixture) wantEvents(t *testing.T, orderID uuid.UUID, types ...string) []published {
	t.Helper()
	got := f.outbox(t, orderID)
	if len(got) != len(types) {
		t.Fatalf("outbox holds %d events for order %s, want %d (%v)", len(got), orderID, len(types), types)
	}
	for i, p := range got {
		if p.env.Type != types[i] || p.topic != events.TopicPayments || p.env.OrderID != orderID {
			t.Errorf("event %d = %s on %s for order %s, want %s on payments", i, p.env.Type, p.topic, p.env.OrderID, types[i])
		}
	}
	return got
}

// paymentsCounted returns tracecart.payments by outcome (and reason).
func (f *fixture) paymentsCounted(t *testing.T) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := f.metrics.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != app.MetricPayments {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				outcome, _ := dp.Attributes.Value("outcome")
				key := outcome.AsString()
				if reason, ok := dp.Attributes.Value("reason"); ok {
					key += "/" + reason.AsString()
				}
				counts[key] += dp.Value
			}
		}
	}
	return counts
}

func TestReservedWithEnoughMoneyPays(t *testing.T) {
	f := newFixture(t)
	userID, orderID := f.user(t, 10_000), uuid.New()

	f.handle(t, reserved(t, orderID, userID, 1200))

	if got := f.balance(t, userID); got != 8800 {
		t.Errorf("balance = %d, want 8800", got)
	}
	if got := f.paymentStatus(t, orderID); got != "PAID" {
		t.Errorf("payment status = %s, want PAID", got)
	}
	ev := f.wantEvents(t, orderID, events.PaymentSucceeded)
	p, err := events.DecodePayload[events.PaymentSucceededPayload](ev[0].env)
	if err != nil || p.UserID != userID || p.AmountCents != 1200 {
		t.Errorf("payment.succeeded payload = %+v, %v; want user %s, 1200", p, err, userID)
	}
	if ev[0].key != orderID.String() {
		t.Errorf("outbox key = %q, want the order ID", ev[0].key)
	}
	if n := pgtest.Count(t, f.pool, `SELECT count(*) FROM wallet_transactions WHERE user_id = $1 AND kind = 'debit' AND order_id = $2 AND amount_cents = 1200`, userID, orderID); n != 1 {
		t.Errorf("%d debit ledger entries, want 1", n)
	}
	if got := f.paymentsCounted(t); got["succeeded"] != 1 {
		t.Errorf("payments counted = %v, want succeeded 1", got)
	}
	postgrestest.CheckMoneyInvariant(t, f.pool)
}

func TestReservedWithoutEnoughMoneyFails(t *testing.T) {
	f := newFixture(t)
	userID, orderID := f.user(t, 1199), uuid.New()

	f.handle(t, reserved(t, orderID, userID, 1200))

	if got := f.balance(t, userID); got != 1199 {
		t.Errorf("balance = %d, want it unchanged at 1199", got)
	}
	if got := f.paymentStatus(t, orderID); got != "FAILED" {
		t.Errorf("payment status = %s, want FAILED", got)
	}
	ev := f.wantEvents(t, orderID, events.PaymentFailed)
	p, err := events.DecodePayload[events.PaymentFailedPayload](ev[0].env)
	if err != nil || p.UserID != userID || p.Reason != "insufficient_funds" {
		t.Errorf("payment.failed payload = %+v, %v; want reason insufficient_funds", p, err)
	}
	if n := pgtest.Count(t, f.pool, `SELECT count(*) FROM wallet_transactions`); n != 0 {
		t.Errorf("%d ledger entries, want none", n)
	}
	if got := f.paymentsCounted(t); got["failed/insufficient_funds"] != 1 {
		t.Errorf("payments counted = %v, want failed/insufficient_funds 1", got)
	}
}

func TestReservedForUnknownUserFails(t *testing.T) {
	f := newFixture(t)
	orderID, stranger := uuid.New(), uuid.New()

	f.handle(t, reserved(t, orderID, stranger, 1200))

	ev := f.wantEvents(t, orderID, events.PaymentFailed)
	p, err := events.DecodePayload[events.PaymentFailedPayload](ev[0].env)
	if err != nil || p.UserID != stranger || p.Reason != "unknown_user" {
		t.Errorf("payment.failed payload = %+v, %v; want reason unknown_user", p, err)
	}
}

func TestSameReservationTwiceDebitsOnce(t *testing.T) {
	f := newFixture(t)
	userID, orderID := f.user(t, 10_000), uuid.New()
	rec := reserved(t, orderID, userID, 1200)

	f.handle(t, rec)
	f.handle(t, rec) // redelivered: same event ID

	if got := f.balance(t, userID); got != 8800 {
		t.Errorf("balance = %d, want 8800 (debited once)", got)
	}
	f.wantEvents(t, orderID, events.PaymentSucceeded)

	// Another event asking to charge the same order (not a redelivery) takes nothing either.
	f.handle(t, reserved(t, orderID, userID, 1200))
	if got := f.balance(t, userID); got != 8800 {
		t.Errorf("balance after a second reservation event = %d, want 8800", got)
	}
	f.wantEvents(t, orderID, events.PaymentSucceeded)
	if got := f.paymentsCounted(t); got["succeeded"] != 1 {
		t.Errorf("payments counted = %v, want succeeded 1", got)
	}
	postgrestest.CheckMoneyInvariant(t, f.pool)
}

func TestCancelPaidOrderRefunds(t *testing.T) {
	f := newFixture(t)
	userID, orderID := f.user(t, 10_000), uuid.New()
	f.handle(t, reserved(t, orderID, userID, 1200))

	cancel := cancelled(t, orderID, userID)
	f.handle(t, cancel)

	if got := f.balance(t, userID); got != 10_000 {
		t.Errorf("balance = %d, want 10000 after the refund", got)
	}
	if got := f.paymentStatus(t, orderID); got != "REFUNDED" {
		t.Errorf("payment status = %s, want REFUNDED", got)
	}
	ev := f.wantEvents(t, orderID, events.PaymentSucceeded, events.PaymentRefunded)
	p, err := events.DecodePayload[events.PaymentRefundedPayload](ev[1].env)
	if err != nil || p.UserID != userID || p.AmountCents != 1200 {
		t.Errorf("payment.refunded payload = %+v, %v; want user %s, 1200", p, err, userID)
	}
	if n := pgtest.Count(t, f.pool, `SELECT count(*) FROM wallet_transactions WHERE kind = 'refund' AND order_id = $1 AND amount_cents = 1200`, orderID); n != 1 {
		t.Errorf("%d refund ledger entries, want 1", n)
	}

	// The cancellation redelivered, or a second cancellation event: never a second refund.
	f.handle(t, cancel)
	f.handle(t, cancelled(t, orderID, userID))
	if got := f.balance(t, userID); got != 10_000 {
		t.Errorf("balance = %d after repeated cancellations, want 10000", got)
	}
	f.wantEvents(t, orderID, events.PaymentSucceeded, events.PaymentRefunded)
	if got := f.paymentsCounted(t); got["refunded"] != 1 {
		t.Errorf("payments counted = %v, want refunded 1", got)
	}
	postgrestest.CheckMoneyInvariant(t, f.pool)
}

func TestCancelFailedPaymentDoesNothing(t *testing.T) {
	f := newFixture(t)
	userID, orderID := f.user(t, 100), uuid.New()
	f.handle(t, reserved(t, orderID, userID, 1200))

	f.handle(t, cancelled(t, orderID, userID))

	if got := f.paymentStatus(t, orderID); got != "FAILED" {
		t.Errorf("payment status = %s, want it still FAILED", got)
	}
	if got := f.balance(t, userID); got != 100 {
		t.Errorf("balance = %d, want 100", got)
	}
	f.wantEvents(t, orderID, events.PaymentFailed)
}

func TestCancelBeforeReserveTakesNoMoney(t *testing.T) {
	f := newFixture(t)
	userID, orderID := f.user(t, 10_000), uuid.New()

	f.handle(t, cancelled(t, orderID, userID))
	if got := f.paymentStatus(t, orderID); got != "CANCELLED" {
		t.Fatalf("payment status after an early cancellation = %s, want the CANCELLED tombstone", got)
	}
	f.wantEvents(t, orderID)

	f.handle(t, reserved(t, orderID, userID, 1200)) // the reservation arrives late

	if got := f.balance(t, userID); got != 10_000 {
		t.Errorf("balance = %d, want 10000: a cancelled order must take no money", got)
	}
	if got := f.paymentStatus(t, orderID); got != "CANCELLED" {
		t.Errorf("payment status = %s, want CANCELLED", got)
	}
	f.wantEvents(t, orderID) // nothing to announce: the order is already cancelled
	if n := pgtest.Count(t, f.pool, `SELECT count(*) FROM wallet_transactions`); n != 0 {
		t.Errorf("%d ledger entries, want none", n)
	}
	if n := pgtest.Count(t, f.pool, `SELECT count(*) FROM processed_events WHERE consumer = 'user-service'`); n != 2 {
		t.Errorf("%d events recorded as processed, want both", n)
	}
}

// laterType is an event of a type this code does not know, as a newer producer could publish.
func laterType(t *testing.T, orderID uuid.UUID) kafka.Record {
	t.Helper()
	env, err := events.New("inventory.teleported", orderID, map[string]string{"to": "mars"})
	if err != nil {
		t.Fatal(err)
	}
	value, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return kafka.Record{Topic: events.TopicInventory, Key: orderID.String(), Value: value}
}

// TestOtherEventsAreIgnoredAndWriteNothing: the event types user-service has no route for are
// skipped without a transaction, not even an inbox row.
func TestOtherEventsAreIgnoredAndWriteNothing(t *testing.T) {
	f := newFixture(t)
	userID, orderID := f.user(t, 10_000), uuid.New()
	before := postgrestest.Rows(t, f.pool)

	for _, rec := range []kafka.Record{
		record(t, events.OrderCreated, orderID, events.OrderCreatedPayload{UserID: userID, TotalCents: 1200,
			Lines: []events.Line{{ProductID: uuid.New(), Quantity: 1, UnitPriceCents: 1200}}}),
		record(t, events.OrderConfirmed, orderID, events.OrderConfirmedPayload{UserID: userID}),
		record(t, events.InventoryRejected, orderID, events.InventoryRejectedPayload{Reason: "out_of_stock"}),
		record(t, events.InventoryReleased, orderID, events.InventoryReleasedPayload{Reason: "payment_failed"}),
		laterType(t, orderID),
	} {
		f.handle(t, rec)
	}

	after := postgrestest.Rows(t, f.pool)
	for table, n := range before {
		if after[table] != n {
			t.Errorf("%s changed from %d to %d", table, n, after[table])
		}
	}
}

func TestMalformedEventsArePermanentAndWriteNothing(t *testing.T) {
	f := newFixture(t)
	userID, orderID := f.user(t, 10_000), uuid.New()
	envelope := func(change func(map[string]any)) kafka.Record {
		rec := reserved(t, orderID, userID, 1200)
		var m map[string]any
		if err := json.Unmarshal(rec.Value, &m); err != nil {
			t.Fatal(err)
		}
		change(m)
		rec.Value, _ = json.Marshal(m)
		return rec
	}
	tests := []struct {
		name string
		rec  kafka.Record
	}{
		{"not JSON", kafka.Record{Topic: "inventory", Value: []byte(`{"id": "`)}},
		{"empty", kafka.Record{Topic: "inventory", Value: nil}},
		{"no event ID", envelope(func(m map[string]any) { delete(m, "id") })},
		{"no order ID", envelope(func(m map[string]any) { delete(m, "order_id") })},
		{"unknown version", envelope(func(m map[string]any) { m["version"] = 2 })},
		{"no type", envelope(func(m map[string]any) { delete(m, "type") })},
		{"payload of the wrong shape", envelope(func(m map[string]any) { m["payload"] = map[string]any{"total_cents": "a lot"} })},
		{"payload not an object", envelope(func(m map[string]any) { m["payload"] = 42 })},
		{"zero total", envelope(func(m map[string]any) { m["payload"] = map[string]any{"user_id": userID, "total_cents": 0} })},
		{"negative total", envelope(func(m map[string]any) { m["payload"] = map[string]any{"user_id": userID, "total_cents": -1200} })},
		{"no user", envelope(func(m map[string]any) { m["payload"] = map[string]any{"total_cents": 1200} })},
		{"cancellation with a broken payload", record(t, events.OrderCancelled, orderID, map[string]any{"user_id": "not-a-uuid"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := postgrestest.Rows(t, f.pool)
			err := f.consumer.Handle(t.Context(), tt.rec)
			if !kafka.IsPermanent(err) {
				t.Fatalf("Handle = %v, want a kafka.Permanent error (dead-letter at once)", err)
			}
			if !errors.Is(err, events.ErrMalformed) {
				t.Errorf("Handle = %v, want it to wrap events.ErrMalformed", err)
			}
			after := postgrestest.Rows(t, f.pool)
			for table, n := range before {
				if after[table] != n {
					t.Errorf("%s changed from %d to %d", table, n, after[table])
				}
			}
		})
	}
}

func TestConcurrentReservationsNeverOverdraw(t *testing.T) {
	f := newFixture(t)
	const (
		start  = 10_000
		price  = 700
		orders = 50
	)
	userID := f.user(t, start)
	var wg sync.WaitGroup
	errs := make([]error, orders)
	for i := range orders {
		rec := reserved(t, uuid.New(), userID, price)
		wg.Go(func() { errs[i] = f.consumer.Handle(context.WithoutCancel(t.Context()), rec) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("Handle: %v", err)
	}

	wantPaid := start / price // 14 orders fit; the rest must fail
	if got := f.balance(t, userID); got != int64(start-wantPaid*price) {
		t.Errorf("balance = %d, want %d", got, start-wantPaid*price)
	}
	if n := pgtest.Count(t, f.pool, `SELECT count(*) FROM payments WHERE status = 'PAID'`); n != wantPaid {
		t.Errorf("%d payments PAID, want %d", n, wantPaid)
	}
	if n := pgtest.Count(t, f.pool, `SELECT count(*) FROM payments WHERE status = 'FAILED' AND reason = 'insufficient_funds'`); n != orders-wantPaid {
		t.Errorf("%d payments FAILED, want %d", n, orders-wantPaid)
	}
	succeeded := pgtest.Count(t, f.pool, `SELECT count(*) FROM outbox WHERE headers->>'event-type' = $1`, events.PaymentSucceeded)
	failed := pgtest.Count(t, f.pool, `SELECT count(*) FROM outbox WHERE headers->>'event-type' = $1`, events.PaymentFailed)
	if succeeded != wantPaid || failed != orders-wantPaid {
		t.Errorf("outbox has %d payment.succeeded and %d payment.failed, want %d and %d", succeeded, failed, wantPaid, orders-wantPaid)
	}
	if n := pgtest.Count(t, f.pool, `SELECT count(*) FROM wallet_transactions WHERE balance_after_cents < 0`); n != 0 {
		t.Errorf("%d ledger entries left a negative balance", n)
	}
	postgrestest.CheckMoneyInvariant(t, f.pool)
}

// TestCancelRacingReserve delivers each order's cancellation and reservation at the same moment,
// retrying failures as the consumer would. Whichever wins, no order ends up taking money.
func TestCancelRacingReserve(t *testing.T) {
	f := newFixture(t)
	const orders = 20
	userID := f.user(t, 100_000)
	var wg sync.WaitGroup
	errs := make(chan error, 2*orders)
	deliver := func(rec kafka.Record) {
		for attempt := 1; ; attempt++ {
			err := f.consumer.Handle(context.WithoutCancel(t.Context()), rec)
			if err == nil || kafka.IsPermanent(err) || attempt == 5 {
				errs <- err
				return
			}
		}
	}
	orderIDs := make([]uuid.UUID, orders)
	for i := range orderIDs {
		orderIDs[i] = uuid.New()
		res, cancel := reserved(t, orderIDs[i], userID, 1000), cancelled(t, orderIDs[i], userID)
		wg.Go(func() { deliver(res) })
		wg.Go(func() { deliver(cancel) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Handle: %v", err)
		}
	}
	if got := f.balance(t, userID); got != 100_000 {
		t.Errorf("balance = %d, want 100000: every order was cancelled", got)
	}
	for _, id := range orderIDs {
		if s := f.paymentStatus(t, id); s != "REFUNDED" && s != "CANCELLED" {
			t.Errorf("order %s payment = %s, want REFUNDED or CANCELLED", id, s)
		}
	}
	postgrestest.CheckMoneyInvariant(t, f.pool)
}
