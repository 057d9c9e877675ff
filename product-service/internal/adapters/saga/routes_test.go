package saga_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tracecart/tracecart/product-service/internal/adapters/postgres"
	"github.com/tracecart/tracecart/product-service/internal/adapters/saga"
	"github.com/tracecart/tracecart/product-service/internal/app"
	"github.com/tracecart/tracecart/product-service/internal/domain/catalog"
	"github.com/tracecart/tracecart/product-service/internal/domain/inventory"
	"github.com/tracecart/tracecart/product-service/migrations"
	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/inbox"
	"github.com/tracecart/tracecart/shared/kafka"
	"github.com/tracecart/tracecart/shared/postgres/pgtest"
	"github.com/tracecart/tracecart/shared/sagakit"
	"github.com/tracecart/tracecart/shared/testinfra"
)

func TestMain(m *testing.M) { os.Exit(testinfra.Main(m)) }

// shop is a real database with the demo catalogue, the use cases working on it, and the saga
// consumer built as run builds it.
type shop struct {
	pool     *pgxpool.Pool
	app      *app.App
	consumer *sagakit.Consumer
	metrics  *sdkmetric.ManualReader
	meters   *sdkmetric.MeterProvider // reads into metrics
	user     uuid.UUID
}

func newShop(t *testing.T) *shop {
	t.Helper()
	return newTracedShop(t, tracenoop.NewTracerProvider())
}

// newTracedShop is newShop with the consumer's spans going to tracing.
func newTracedShop(t *testing.T, tracing trace.TracerProvider) *shop {
	t.Helper()
	pool := pgtest.New(t, migrations.Set)
	reader := sdkmetric.NewManualReader()
	meters := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	a, consumer := wire(t, pool, tracing, meters)
	return &shop{pool: pool, app: a, consumer: consumer, metrics: reader, meters: meters, user: uuid.New()}
}

// wire builds the use cases on pool, with the demo catalogue, and the saga consumer on them, as
// run wires them, with the test's telemetry.
func wire(t *testing.T, pool *pgxpool.Pool, tracing trace.TracerProvider, meters metric.MeterProvider) (*app.App, *sagakit.Consumer) {
	t.Helper()
	a, err := app.New(postgres.NewCatalog(pool), postgres.NewReservations(pool), meters)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.SeedCatalogue(t.Context(), catalog.DemoProducts()); err != nil {
		t.Fatal(err)
	}
	consumer, err := saga.NewConsumer(sagakit.Options{
		Name: "product-service", Inbox: inbox.New(pool),
		TracerProvider: tracing, MeterProvider: meters, Logger: slog.New(slog.DiscardHandler),
	}, a)
	if err != nil {
		t.Fatal(err)
	}
	return a, consumer
}

// record encodes an event about orderID as the outbox relay would publish it.
func record(t testing.TB, eventType string, orderID uuid.UUID, payload any) kafka.Record {
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
	return kafka.Record{Topic: topic, Key: orderID.String(), Value: value,
		Headers: map[string]string{kafka.HeaderEventID: env.ID.String(), kafka.HeaderEventType: eventType}}
}

// line is an order line for the test's orders; prices do not matter to product-service.
func line(product uuid.UUID, quantity int) events.Line {
	return events.Line{ProductID: product, Quantity: quantity, UnitPriceCents: 100}
}

func (s *shop) created(t testing.TB, orderID uuid.UUID, lines ...events.Line) kafka.Record {
	return record(t, events.OrderCreated, orderID, events.OrderCreatedPayload{UserID: s.user, Lines: lines, TotalCents: 4242})
}

func (s *shop) confirmed(t testing.TB, orderID uuid.UUID) kafka.Record {
	return record(t, events.OrderConfirmed, orderID, events.OrderConfirmedPayload{UserID: s.user})
}

func (s *shop) cancelled(t testing.TB, orderID uuid.UUID) kafka.Record {
	return record(t, events.OrderCancelled, orderID, events.OrderCancelledPayload{UserID: s.user, Reason: "customer"})
}

func (s *shop) paymentFailed(t testing.TB, orderID uuid.UUID) kafka.Record {
	return record(t, events.PaymentFailed, orderID, events.PaymentFailedPayload{UserID: s.user, Reason: "insufficient_funds"})
}

// handle delivers rec to the consumer and fails the test if it does not succeed.
func (s *shop) handle(t testing.TB, rec kafka.Record) {
	t.Helper()
	if err := s.consumer.Handle(context.Background(), rec); err != nil {
		t.Fatalf("handle %s: %v", rec.Headers[kafka.HeaderEventType], err)
	}
}

// counts returns a product's available stock and sold count.
func (s *shop) counts(t testing.TB, product uuid.UUID) (stock, sold int64) {
	t.Helper()
	err := s.pool.QueryRow(context.Background(), `SELECT stock, sold FROM products WHERE id = $1`, product).Scan(&stock, &sold)
	if err != nil {
		t.Fatal(err)
	}
	return stock, sold
}

func (s *shop) wantCounts(t testing.TB, product uuid.UUID, stock, sold int64) {
	t.Helper()
	if gotStock, gotSold := s.counts(t, product); gotStock != stock || gotSold != sold {
		t.Errorf("product %s: stock %d sold %d, want stock %d sold %d", product, gotStock, gotSold, stock, sold)
	}
}

// status returns the order's reservation status, or StatusNone.
func (s *shop) status(t testing.TB, orderID uuid.UUID) inventory.Status {
	t.Helper()
	var status string
	err := s.pool.QueryRow(context.Background(),
		`SELECT coalesce((SELECT status FROM reservations WHERE order_id = $1), '')`, orderID).Scan(&status)
	if err != nil {
		t.Fatal(err)
	}
	return inventory.Status(status)
}

func (s *shop) wantStatus(t testing.TB, orderID uuid.UUID, want inventory.Status) {
	t.Helper()
	if got := s.status(t, orderID); got != want {
		t.Errorf("order %s reservation is %q, want %q", orderID, got, want)
	}
}

// published returns the envelopes in the outbox for orderID, in the order they were written,
// checking that each row is routed as the contract says.
func (s *shop) published(t testing.TB, orderID uuid.UUID) []events.Envelope {
	t.Helper()
	rows, err := s.pool.Query(context.Background(),
		`SELECT id, topic, key, payload, headers->>'event-type' FROM outbox WHERE key = $1 ORDER BY seq`, orderID.String())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var envs []events.Envelope
	for rows.Next() {
		var (
			id                     uuid.UUID
			topic, key, headerType string
			payload                []byte
		)
		if err := rows.Scan(&id, &topic, &key, &payload, &headerType); err != nil {
			t.Fatal(err)
		}
		env, err := events.Decode(payload)
		if err != nil {
			t.Fatalf("outbox row %s is not an event: %v", id, err)
		}
		if env.ID != id || env.OrderID != orderID || topic != events.TopicInventory || headerType != env.Type {
			t.Errorf("outbox row %s: topic %s, header type %s, envelope %+v", id, topic, headerType, env)
		}
		envs = append(envs, env)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return envs
}

// wantPublished asserts the outbox holds exactly one event for orderID per entry of want, in
// order, each with the given type and payload.
func (s *shop) wantPublished(t testing.TB, orderID uuid.UUID, want ...any) {
	t.Helper()
	got := s.published(t, orderID)
	if len(got) != len(want) {
		t.Fatalf("order %s: %d events in the outbox, want %d: %+v", orderID, len(got), len(want), got)
	}
	for i, w := range want {
		var wantType string
		switch w.(type) {
		case events.InventoryReservedPayload:
			wantType = events.InventoryReserved
		case events.InventoryRejectedPayload:
			wantType = events.InventoryRejected
		case events.InventoryReleasedPayload:
			wantType = events.InventoryReleased
		default:
			t.Fatalf("unexpected payload type %T", w)
		}
		wantJSON, _ := json.Marshal(w)
		if got[i].Type != wantType || string(got[i].Payload) != string(wantJSON) {
			t.Errorf("event %d: %s %s, want %s %s", i, got[i].Type, got[i].Payload, wantType, wantJSON)
		}
	}
}

// counter returns the value of an integer counter's or gauge's data point with attribute
// key=value, or 0 if there is none.
func (s *shop) counter(t testing.TB, name, key, value string) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := s.metrics.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			var points []metricdata.DataPoint[int64]
			switch data := m.Data.(type) {
			case metricdata.Sum[int64]:
				points = data.DataPoints
			case metricdata.Gauge[int64]:
				points = data.DataPoints
			}
			for _, dp := range points {
				if v, ok := dp.Attributes.Value(attribute.Key(key)); ok && v.AsString() == value {
					return dp.Value
				}
			}
		}
	}
	return 0
}

var (
	mug   = catalog.TracingMugID      // stock 50
	socks = catalog.SpanSocksID       // stock 100
	lamp  = catalog.LastOneLampID     // stock 1
	kbd   = catalog.ContextKeyboardID // stock 10
)

func TestOrderCreatedReservesEveryLine(t *testing.T) {
	s := newShop(t)
	order := uuid.New()
	s.handle(t, s.created(t, order, line(mug, 2), line(socks, 3), line(mug, 1)))

	s.wantStatus(t, order, inventory.StatusReserved)
	s.wantCounts(t, mug, 47, 0) // the two mug lines taken as one of 3
	s.wantCounts(t, socks, 97, 0)
	s.wantPublished(t, order, events.InventoryReservedPayload{UserID: s.user, TotalCents: 4242})
	var lines string
	if err := s.pool.QueryRow(t.Context(), `SELECT lines::text FROM reservations WHERE order_id = $1`, order).Scan(&lines); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`[{"quantity": 3, "product_id": "%s"}, {"quantity": 3, "product_id": "%s"}]`, mug, socks)
	if lines != want {
		t.Errorf("stored lines %s, want %s", lines, want)
	}
	if n := s.counter(t, app.MetricReservations, "outcome", "reserved"); n != 1 {
		t.Errorf("%s{outcome=reserved} = %d, want 1", app.MetricReservations, n)
	}
}

func TestOrderCreatedRejectsAllOrNothing(t *testing.T) {
	tests := []struct {
		name   string
		lines  []events.Line
		reason string
		blamed uuid.UUID
	}{
		{
			name:  "one line out of stock",
			lines: []events.Line{line(mug, 1), line(lamp, 2)}, reason: inventory.ReasonOutOfStock, blamed: lamp,
		},
		{
			name:  "duplicate lines exceed the stock together",
			lines: []events.Line{line(socks, 1), line(lamp, 1), line(lamp, 1)}, reason: inventory.ReasonOutOfStock, blamed: lamp,
		},
		{
			name:   "unknown product",
			lines:  []events.Line{line(mug, 1), line(uuid.MustParse("00000000-0000-4000-8000-000000000999"), 1)},
			reason: inventory.ReasonUnknownProduct, blamed: uuid.MustParse("00000000-0000-4000-8000-000000000999"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newShop(t)
			order := uuid.New()
			s.handle(t, s.created(t, order, tt.lines...))

			s.wantStatus(t, order, inventory.StatusRejected)
			s.wantCounts(t, mug, 50, 0)
			s.wantCounts(t, socks, 100, 0)
			s.wantCounts(t, lamp, 1, 0)
			s.wantPublished(t, order, events.InventoryRejectedPayload{Reason: tt.reason, ProductID: tt.blamed})
			if n := s.counter(t, app.MetricReservations, "outcome", tt.reason); n != 1 {
				t.Errorf("%s{outcome=%s} = %d, want 1", app.MetricReservations, tt.reason, n)
			}
		})
	}
}

func TestSagaPaths(t *testing.T) {
	tests := []struct {
		name       string
		steps      []string // after order.created for 2 mugs and the lamp
		wantStatus inventory.Status
		mug, lamp  [2]int64 // stock, sold
		released   []any    // events after inventory.reserved
	}{
		{
			name: "payment failed releases the reservation", steps: []string{events.PaymentFailed},
			wantStatus: inventory.StatusReleased, mug: [2]int64{50, 0}, lamp: [2]int64{1, 0},
			released: []any{events.InventoryReleasedPayload{Reason: "payment_failed"}},
		},
		{
			name: "confirmation turns the reservation into a sale", steps: []string{events.OrderConfirmed},
			wantStatus: inventory.StatusSold, mug: [2]int64{48, 2}, lamp: [2]int64{0, 1},
		},
		{
			name: "cancelling a sale restocks it", steps: []string{events.OrderConfirmed, events.OrderCancelled},
			wantStatus: inventory.StatusRestocked, mug: [2]int64{50, 0}, lamp: [2]int64{1, 0},
			released: []any{events.InventoryReleasedPayload{Reason: "order_cancelled"}},
		},
		{
			name: "cancelling before confirmation (saga timeout) releases", steps: []string{events.OrderCancelled},
			wantStatus: inventory.StatusReleased, mug: [2]int64{50, 0}, lamp: [2]int64{1, 0},
			released: []any{events.InventoryReleasedPayload{Reason: "order_cancelled"}},
		},
		{
			name: "late events after a release change nothing", steps: []string{events.PaymentFailed, events.OrderConfirmed, events.OrderCancelled},
			wantStatus: inventory.StatusReleased, mug: [2]int64{50, 0}, lamp: [2]int64{1, 0},
			released: []any{events.InventoryReleasedPayload{Reason: "payment_failed"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newShop(t)
			order := uuid.New()
			s.handle(t, s.created(t, order, line(mug, 2), line(lamp, 1)))
			s.wantCounts(t, mug, 48, 0)
			s.wantCounts(t, lamp, 0, 0)
			for _, step := range tt.steps {
				switch step {
				case events.PaymentFailed:
					s.handle(t, s.paymentFailed(t, order))
				case events.OrderConfirmed:
					s.handle(t, s.confirmed(t, order))
				case events.OrderCancelled:
					s.handle(t, s.cancelled(t, order))
				}
			}
			s.wantStatus(t, order, tt.wantStatus)
			s.wantCounts(t, mug, tt.mug[0], tt.mug[1])
			s.wantCounts(t, lamp, tt.lamp[0], tt.lamp[1])
			want := append([]any{events.InventoryReservedPayload{UserID: s.user, TotalCents: 4242}}, tt.released...)
			s.wantPublished(t, order, want...)
		})
	}
}

func TestCancelBeforeCreatedLeavesATombstone(t *testing.T) {
	s := newShop(t)
	order := uuid.New()
	s.handle(t, s.cancelled(t, order))
	s.wantStatus(t, order, inventory.StatusCancelled)
	s.wantPublished(t, order) // nothing was reserved, so nothing is released

	s.handle(t, s.created(t, order, line(mug, 5)))
	s.wantStatus(t, order, inventory.StatusCancelled)
	s.wantCounts(t, mug, 50, 0)
	s.wantPublished(t, order)
	if n := s.counter(t, app.MetricReservations, "outcome", "skipped"); n != 1 {
		t.Errorf("%s{outcome=skipped} = %d, want 1", app.MetricReservations, n)
	}
}

func TestDuplicateDeliveryHasOneEffect(t *testing.T) {
	s := newShop(t)
	order := uuid.New()
	created := s.created(t, order, line(mug, 4))
	s.handle(t, created)
	s.handle(t, created)

	// The same event delivered to two consumers at once: the inbox makes one of them wait and
	// then find the event processed.
	failed := s.paymentFailed(t, order)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Go(func() { errs <- s.consumer.Handle(context.Background(), failed) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	s.handle(t, failed)

	s.wantCounts(t, mug, 50, 0) // taken once, given back once
	s.wantStatus(t, order, inventory.StatusReleased)
	s.wantPublished(t, order,
		events.InventoryReservedPayload{UserID: s.user, TotalCents: 4242},
		events.InventoryReleasedPayload{Reason: "payment_failed"})
	if n := pgtest.Count(t, s.pool, `SELECT count(*) FROM processed_events WHERE consumer = 'product-service'`); n != 2 {
		t.Errorf("%d processed events, want 2", n)
	}
	if n := s.counter(t, app.MetricReservations, "outcome", "reserved"); n != 1 {
		t.Errorf("%s{outcome=reserved} = %d, want 1 (duplicates are not counted)", app.MetricReservations, n)
	}
	if n := s.counter(t, app.MetricReleases, "reason", "payment_failed"); n != 1 {
		t.Errorf("%s{reason=payment_failed} = %d, want 1", app.MetricReleases, n)
	}
}

// TestEventsWithoutAPartChangeNothing: payment events have no route here and are skipped without
// a transaction; confirmed and payment.failed of an order with no reservation are routed, find
// nothing to do, and are recorded as processed.
func TestEventsWithoutAPartChangeNothing(t *testing.T) {
	s := newShop(t)
	order := uuid.New()
	for _, rec := range []kafka.Record{
		record(t, events.PaymentSucceeded, order, events.PaymentSucceededPayload{UserID: s.user, AmountCents: 100}),
		record(t, events.PaymentRefunded, order, events.PaymentRefundedPayload{UserID: s.user, AmountCents: 100}),
		s.confirmed(t, order),     // no reservation to sell
		s.paymentFailed(t, order), // no reservation to release
	} {
		s.handle(t, rec)
	}
	if n := pgtest.Count(t, s.pool, `SELECT count(*) FROM processed_events`); n != 2 {
		t.Errorf("%d processed events, want 2 (the two routed events; payment events are not product-service's)", n)
	}
	if n := pgtest.Count(t, s.pool, `SELECT count(*) FROM reservations`) + pgtest.Count(t, s.pool, `SELECT count(*) FROM outbox`); n != 0 {
		t.Errorf("ignored events wrote %d reservation and outbox rows", n)
	}
}

func TestMalformedEventsArePermanentAndWriteNothing(t *testing.T) {
	s := newShop(t)
	order := uuid.New()
	valid := s.created(t, order, line(mug, 1))
	var env map[string]any
	if err := json.Unmarshal(valid.Value, &env); err != nil {
		t.Fatal(err)
	}
	// with returns the valid order.created envelope with one field replaced (nil deletes it).
	with := func(field string, value any) []byte {
		m := map[string]any{}
		for k, v := range env {
			m[k] = v
		}
		if value == nil {
			delete(m, field)
		} else {
			m[field] = value
		}
		data, _ := json.Marshal(m)
		return data
	}
	payload := func(p string) []byte { return with("payload", json.RawMessage(p)) }
	user := s.user.String()
	cases := map[string][]byte{
		"not JSON":                []byte("order please"),
		"empty":                   {},
		"no id":                   with("id", nil),
		"no order_id":             with("order_id", nil),
		"unknown version":         with("version", 2),
		"no type":                 with("type", nil),
		"no payload":              with("payload", nil),
		"payload not an object":   payload(`"lines"`),
		"no lines":                payload(`{"user_id":"` + user + `","lines":[],"total_cents":1}`),
		"zero quantity":           payload(`{"user_id":"` + user + `","lines":[{"product_id":"` + mug.String() + `","quantity":0,"unit_price_cents":1}],"total_cents":1}`),
		"negative quantity":       payload(`{"user_id":"` + user + `","lines":[{"product_id":"` + mug.String() + `","quantity":-2,"unit_price_cents":1}],"total_cents":1}`),
		"line without a product":  payload(`{"user_id":"` + user + `","lines":[{"quantity":1,"unit_price_cents":1}],"total_cents":1}`),
		"no user":                 payload(`{"lines":[{"product_id":"` + mug.String() + `","quantity":1,"unit_price_cents":1}],"total_cents":1}`),
		"quantity is a string":    payload(`{"user_id":"` + user + `","lines":[{"product_id":"` + mug.String() + `","quantity":"1","unit_price_cents":1}],"total_cents":1}`),
		"confirmed with bad json": record(t, events.OrderConfirmed, order, json.RawMessage(`[]`)).Value,
	}
	for name, value := range cases {
		t.Run(name, func(t *testing.T) {
			err := s.consumer.Handle(context.Background(), kafka.Record{Topic: events.TopicOrders, Value: value})
			if !kafka.IsPermanent(err) {
				t.Errorf("Handle = %v, want a permanent error", err)
			}
		})
	}
	for _, table := range []string{"processed_events", "reservations", "outbox"} {
		if n := pgtest.Count(t, s.pool, `SELECT count(*) FROM `+table); n != 0 {
			t.Errorf("malformed events wrote %d rows to %s", n, table)
		}
	}
	s.wantCounts(t, mug, 50, 0)
	// The valid original still works: nothing above spent its event ID.
	s.handle(t, valid)
	s.wantStatus(t, order, inventory.StatusReserved)
}

// TestConcurrentOrdersNeverOversell races 100 orders for a product with 10 in stock, then
// settles every order the way the saga could, and checks the inventory invariant. It runs past
// 60 lines on purpose: the race, the check of each outcome and the settling share their state and
// read best as one story.
func TestConcurrentOrdersNeverOversell(t *testing.T) {
	s := newShop(t)
	const orders = 100
	ids := make([]uuid.UUID, orders)
	quantity := func(i int) int64 { return int64(i%3 + 1) }
	var wg sync.WaitGroup
	errs := make(chan error, orders)
	for i := range orders {
		ids[i] = uuid.New()
		// Every third order also wants a mug, so rows are locked in pairs, in both line orders.
		lines := []events.Line{line(kbd, int(quantity(i)))}
		if i%3 == 0 {
			lines = append([]events.Line{line(mug, 1)}, lines...)
		} else if i%3 == 1 {
			lines = append(lines, line(mug, 1))
		}
		rec := s.created(t, ids[i], lines...)
		wg.Go(func() { errs <- s.consumer.Handle(context.Background(), rec) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a concurrent reservation failed: %v", err)
		}
	}

	stock, _ := s.counts(t, kbd)
	var reservedKbd int64
	var reserved, rejected []uuid.UUID
	for i, id := range ids {
		switch st := s.status(t, id); st {
		case inventory.StatusReserved:
			reserved = append(reserved, id)
			reservedKbd += quantity(i)
			s.wantPublished(t, id, events.InventoryReservedPayload{UserID: s.user, TotalCents: 4242})
		case inventory.StatusRejected:
			rejected = append(rejected, id)
			s.wantPublished(t, id, events.InventoryRejectedPayload{Reason: inventory.ReasonOutOfStock, ProductID: kbd})
		default:
			t.Fatalf("order %d ended %q", i, st)
		}
	}
	if stock < 0 || reservedKbd > 10 || stock+reservedKbd != 10 {
		t.Fatalf("stock %d with %d reserved, want stock >= 0 and stock + reserved = 10", stock, reservedKbd)
	}
	// Stock only went down while the orders raced, so an order was rightly rejected only if it
	// wanted more than is left even now.
	for i, id := range ids {
		if s.status(t, id) == inventory.StatusRejected && quantity(i) <= stock {
			t.Errorf("order %d for %d keyboards was rejected, yet %d are left", i, quantity(i), stock)
		}
	}
	t.Logf("%d reserved (%d keyboards), %d rejected, %d left", len(reserved), reservedKbd, len(rejected), stock)

	// Settle every reservation, some of them concurrently with each other.
	var settle [][]kafka.Record
	for i, id := range reserved {
		switch i % 3 {
		case 0:
			settle = append(settle, []kafka.Record{s.confirmed(t, id)})
		case 1:
			settle = append(settle, []kafka.Record{s.paymentFailed(t, id)})
		case 2:
			settle = append(settle, []kafka.Record{s.confirmed(t, id), s.cancelled(t, id)})
		}
	}
	errs = make(chan error, 2*len(settle))
	for _, recs := range settle {
		wg.Go(func() {
			for _, rec := range recs {
				errs <- s.consumer.Handle(context.Background(), rec)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for product, initial := range map[uuid.UUID]int64{kbd: 10, mug: 50} {
		stock, sold := s.counts(t, product)
		if stock < 0 || sold < 0 || stock+sold != initial {
			t.Errorf("product %s: stock %d + sold %d, want %d", product, stock, sold, initial)
		}
	}
	if n := pgtest.Count(t, s.pool, `SELECT count(*) FROM reservations WHERE status IN ('RESERVED')`); n != 0 {
		t.Errorf("%d reservations still RESERVED after settling", n)
	}
}
