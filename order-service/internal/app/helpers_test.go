package app_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tracecart/tracecart/order-service/internal/adapters/postgres"
	"github.com/tracecart/tracecart/order-service/internal/adapters/postgres/postgrestest"
	"github.com/tracecart/tracecart/order-service/internal/adapters/saga"
	"github.com/tracecart/tracecart/order-service/internal/app"
	"github.com/tracecart/tracecart/order-service/internal/domain/order"
	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/inbox"
	"github.com/tracecart/tracecart/shared/kafka"
	"github.com/tracecart/tracecart/shared/sagakit"
	"github.com/tracecart/tracecart/shared/testinfra"
)

func TestMain(m *testing.M) { os.Exit(testinfra.Main(m)) }

var (
	alice = uuid.MustParse("00000000-0000-4000-8000-00000000a11c")
	mug   = uuid.MustParse("00000000-0000-4000-8000-000000000101")
)

// env is order-service's use cases on a real database: the postgres store, the App over it
// (with a fixed catalogue), the saga consumer the Kafka consumer calls, and metrics read from an
// in-memory reader.
type env struct {
	t       *testing.T
	pool    *pgxpool.Pool
	store   *postgres.Store
	app     *app.App
	handler *sagakit.Consumer
	reader  *sdkmetric.ManualReader
	meters  *sdkmetric.MeterProvider
	logger  *slog.Logger
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, pool: postgrestest.New(t), reader: sdkmetric.NewManualReader(), logger: slog.New(slog.DiscardHandler)}
	e.meters = sdkmetric.NewMeterProvider(sdkmetric.WithReader(e.reader))
	e.store = postgres.NewStore(e.pool)
	e.app = e.newApp(nil)
	var err error
	e.handler, err = sagakit.NewConsumer(sagakit.Options{
		Name: "order-service", Inbox: inbox.New(e.pool), Routes: saga.Routes(e.app),
		TracerProvider: tracenoop.NewTracerProvider(), MeterProvider: e.meters, Logger: e.logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// newApp returns an App over e's store and metrics, with the tests' sweep and reconciliation
// settings as adjust changes them (nil: as they are).
func (e *env) newApp(adjust func(*app.Options)) *app.App {
	e.t.Helper()
	opts := app.Options{
		Orders: e.store, Catalog: catalog{mug: 1200},
		Sweep: app.SweepOptions{Timeout: sagaTimeout, Interval: 10 * time.Millisecond},
		Reconcile: app.ReconcileOptions{
			Grace: grace, MaxBackoff: maxBackoff, MaxAttempts: maxAttempts, Interval: time.Second,
		},
		TracerProvider: tracenoop.NewTracerProvider(), MeterProvider: e.meters, Logger: e.logger,
	}
	if adjust != nil {
		adjust(&opts)
	}
	a, err := app.New(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// catalog prices products from a map, as product-service would.
type catalog map[uuid.UUID]int64

func (c catalog) Prices(_ context.Context, ids []uuid.UUID) (map[uuid.UUID]int64, error) {
	prices := make(map[uuid.UUID]int64, len(ids))
	for _, id := range ids {
		if p, ok := c[id]; ok {
			prices[id] = p
		}
	}
	return prices, nil
}

// newOrder places a PENDING order for alice, with its order.created event, as POST /orders
// does.
func (e *env) newOrder() order.Order {
	e.t.Helper()
	return e.placeOrder(context.Background())
}

// placeOrder places alice's order of two mugs with ctx, the request's context.
func (e *env) placeOrder(ctx context.Context) order.Order {
	e.t.Helper()
	o, err := e.app.PlaceOrder(ctx, alice, []order.Item{{ProductID: mug, Quantity: 2}}, "")
	if err != nil {
		e.t.Fatal(err)
	}
	return o
}

// setStatus puts an order in a state directly, as earlier events would have.
func (e *env) setStatus(id uuid.UUID, status order.Status, reason string) {
	e.t.Helper()
	if _, err := e.pool.Exec(context.Background(), `UPDATE orders SET status = $2, reason = $3 WHERE id = $1`, id, string(status), reason); err != nil {
		e.t.Fatal(err)
	}
}

// age makes an order look created d ago.
func (e *env) age(id uuid.UUID, d time.Duration) {
	e.t.Helper()
	if _, err := e.pool.Exec(context.Background(),
		`UPDATE orders SET created_at = now() - make_interval(secs => $2), updated_at = now() - make_interval(secs => $2) WHERE id = $1`,
		id, d.Seconds()); err != nil {
		e.t.Fatal(err)
	}
}

// get reads an order back.
func (e *env) get(id uuid.UUID) order.Order {
	e.t.Helper()
	o, err := e.store.Get(context.Background(), alice, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return o
}

// record encodes an event for orderID the way the other services' outboxes do.
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

// outcomes returns the saga outcome counter by outcome, and how many durations were recorded.
// Outcomes still at zero (every one starts there, for the alerts' increase()) are left out.
func (e *env) outcomes() (counts map[string]int64, durations uint64) {
	e.t.Helper()
	var rm metricdata.ResourceMetrics
	if err := e.reader.Collect(context.Background(), &rm); err != nil {
		e.t.Fatal(err)
	}
	counts = map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch data := m.Data.(type) {
			case metricdata.Sum[int64]:
				if m.Name == app.MetricOutcomes {
					for _, dp := range data.DataPoints {
						if dp.Value == 0 {
							continue
						}
						outcome, _ := dp.Attributes.Value(attribute.Key("outcome"))
						counts[outcome.AsString()] += dp.Value
					}
				}
			case metricdata.Histogram[float64]:
				if m.Name == app.MetricDuration {
					for _, dp := range data.DataPoints {
						durations += dp.Count
					}
				}
			}
		}
	}
	return counts, durations
}

// gauge returns the value of one of the pending-saga gauges.
func (e *env) gauge(name string) float64 {
	e.t.Helper()
	var rm metricdata.ResourceMetrics
	if err := e.reader.Collect(context.Background(), &rm); err != nil {
		e.t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch data := m.Data.(type) {
			case metricdata.Gauge[int64]:
				return float64(data.DataPoints[0].Value)
			case metricdata.Gauge[float64]:
				return data.DataPoints[0].Value
			}
		}
	}
	e.t.Fatalf("no %s gauge collected", name)
	return 0
}
