package postgres_test

import (
	"context"
	"errors"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/order-service/internal/adapters/postgres"
	"github.com/tracecart/tracecart/order-service/internal/adapters/postgres/postgrestest"
	"github.com/tracecart/tracecart/order-service/internal/app"
	"github.com/tracecart/tracecart/order-service/internal/domain/order"
	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/testinfra"
)

func TestMain(m *testing.M) { os.Exit(testinfra.Main(m)) }

var (
	user  = uuid.MustParse("00000000-0000-4000-8000-00000000a11c")
	mug   = uuid.MustParse("00000000-0000-4000-8000-000000000101")
	socks = uuid.MustParse("00000000-0000-4000-8000-000000000102")
)

func newOrder(t testing.TB) order.Order {
	t.Helper()
	o, err := order.New(uuid.New(), user,
		[]order.Item{{ProductID: socks, Quantity: 3}, {ProductID: mug, Quantity: 1}},
		map[uuid.UUID]int64{mug: 1200, socks: 900})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// created is the order.created event of o, as app.PlaceOrder passes it to Create.
func created(t testing.TB, o order.Order) events.Message {
	t.Helper()
	msg, err := events.NewMessage(events.OrderCreated, o.ID, events.OrderCreatedPayload{UserID: o.UserID, TotalCents: o.TotalCents})
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestCreateAndGet(t *testing.T) {
	store := postgres.NewStore(postgrestest.New(t))
	want := newOrder(t)

	created, err := store.Create(t.Context(), want, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if created.CreatedAt.IsZero() || created.CreatedAt.Location() != time.UTC {
		t.Errorf("created_at = %v, want the database's time in UTC", created.CreatedAt)
	}
	want.CreatedAt, want.UpdatedAt = created.CreatedAt, created.UpdatedAt
	if !reflect.DeepEqual(created, want) {
		t.Errorf("Create = %+v, want %+v", created, want)
	}
	got, err := store.Get(t.Context(), user, want.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Get = %+v, want %+v (lines in the order they were placed)", got, want)
	}
	if _, err := store.Get(t.Context(), uuid.New(), want.ID); !errors.Is(err, order.ErrNotFound) {
		t.Errorf("Get by another user = %v, want ErrNotFound", err)
	}
}

// TestConcurrentRepeatsOfOneKey races requests with the same idempotency key past the
// handler's check: the database lets one of them place the order and hands it to the others.
func TestConcurrentRepeatsOfOneKey(t *testing.T) {
	pool := postgrestest.New(t)
	store := postgres.NewStore(pool)
	hash := []byte("hash of the request")

	const requests = 8
	ids := make(chan uuid.UUID, requests)
	var wg sync.WaitGroup
	for range requests {
		wg.Go(func() {
			o := newOrder(t)
			o, err := store.Create(context.Background(), o, "key-1", hash, created(t, o))
			if err != nil {
				t.Errorf("Create: %v", err)
				return
			}
			ids <- o.ID
		})
	}
	wg.Wait()
	close(ids)
	var first uuid.UUID
	for id := range ids {
		if first == uuid.Nil {
			first = id
		}
		if id != first {
			t.Errorf("repeats returned orders %s and %s, want the same one", first, id)
		}
	}
	if rows := postgrestest.CountRows(t, pool); rows.Orders != 1 || rows.Outbox != 1 || rows.Lines != 2 {
		t.Errorf("rows = %+v, want one order with its two lines and one event", rows)
	}

	// The same key with another request's hash is refused, and writes nothing.
	reuse := newOrder(t)
	if _, err := store.Create(t.Context(), reuse, "key-1", []byte("another request"), created(t, reuse)); !errors.Is(err, order.ErrIdempotencyKeyReused) {
		t.Errorf("Create with a reused key = %v, want ErrIdempotencyKeyReused", err)
	}
	if rows := postgrestest.CountRows(t, pool); rows.Orders != 1 || rows.Outbox != 1 {
		t.Errorf("rows = %+v after a refused reuse, want unchanged", rows)
	}
	found, storedHash, err := store.FindByIdempotencyKey(t.Context(), user, "key-1")
	if err != nil || found.ID != first || string(storedHash) != string(hash) {
		t.Errorf("FindByIdempotencyKey = %s, %q, %v; want %s with the first request's hash", found.ID, storedHash, err, first)
	}
	if _, _, err := store.FindByIdempotencyKey(t.Context(), user, "key-2"); !errors.Is(err, order.ErrNotFound) {
		t.Errorf("FindByIdempotencyKey of an unused key = %v, want ErrNotFound", err)
	}
}

// TestLockTimedOutSkipsLockedOrders proves the property that lets several sweepers run, and lets
// a sweeper run next to the saga's event handler: an order locked by another transaction is
// skipped, not waited for.
func TestLockTimedOutSkipsLockedOrders(t *testing.T) {
	pool := postgrestest.New(t)
	store := postgres.NewStore(pool)
	var ids []uuid.UUID
	for range 2 {
		o, err := store.Create(t.Context(), newOrder(t), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, o.ID)
	}
	if _, err := pool.Exec(t.Context(), `UPDATE orders SET created_at = now() - interval '1 hour'`); err != nil {
		t.Fatal(err)
	}

	holder, err := pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Rollback(context.Background()) }()
	if _, err := holder.Exec(t.Context(), `SELECT 1 FROM orders WHERE id = $1 FOR UPDATE`, ids[0]); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	var locked []app.Locked
	err = store.Atomic(ctx, func(ctx context.Context) error {
		var lockErr error
		locked, lockErr = store.LockTimedOut(ctx, time.Minute, 10)
		return lockErr
	})
	if err != nil {
		t.Fatalf("LockTimedOut: %v (did it wait for the locked order?)", err)
	}
	if len(locked) != 1 || locked[0].Order.ID != ids[1] {
		t.Errorf("LockTimedOut = %v, want only the unlocked order %s", locked, ids[1])
	}
}
