package postgres_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tracecart/tracecart/product-service/internal/adapters/postgres"
	"github.com/tracecart/tracecart/product-service/internal/app"
	"github.com/tracecart/tracecart/product-service/internal/domain/catalog"
	"github.com/tracecart/tracecart/product-service/internal/domain/inventory"
	"github.com/tracecart/tracecart/product-service/migrations"
	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/postgres/pgtest"
	"github.com/tracecart/tracecart/shared/testinfra"
)

func TestMain(m *testing.M) { os.Exit(testinfra.Main(m)) }

// newDB returns a database of the test's own, migrated as the service migrates its own.
func newDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	return pgtest.New(t, migrations.Set)
}

// setStock is the closure of a stock adjustment: catalog.AdjustStock's rule, checked while the
// product is locked.
func setStock(delta int64) func(p *catalog.Product) error {
	return func(p *catalog.Product) error {
		stock, err := catalog.AdjustStock(p.Stock, delta)
		p.Stock = stock
		return err
	}
}

func TestSeedIsIdempotent(t *testing.T) {
	pool := newDB(t)
	store := postgres.NewCatalog(pool)
	n, err := store.Seed(t.Context(), catalog.DemoProducts())
	if err != nil || n != 8 {
		t.Fatalf("first Seed = %d, %v; want 8 inserted", n, err)
	}
	// What happens between two start-ups: stock is sold and an admin edits a product.
	if err := store.Update(t.Context(), catalog.LastOneLampID, setStock(-1)); err != nil {
		t.Fatal(err)
	}
	edited := catalog.Details{Name: "Tracing Mug XL", Category: "kitchen", PriceCents: 1500}
	if err := store.Update(t.Context(), catalog.TracingMugID, func(p *catalog.Product) error { p.Details = edited; return nil }); err != nil {
		t.Fatal(err)
	}

	n, err = store.Seed(t.Context(), catalog.DemoProducts())
	if err != nil || n != 0 {
		t.Fatalf("second Seed = %d, %v; want 0 inserted", n, err)
	}
	if got := pgtest.Count(t, pool, `SELECT count(*) FROM products`); got != 8 {
		t.Errorf("%d products, want 8", got)
	}
	lamp, err := store.Get(t.Context(), catalog.LastOneLampID)
	if err != nil || lamp.Stock != 0 {
		t.Errorf("lamp after re-seeding: %+v, %v; want its stock of 0 kept", lamp, err)
	}
	mug, err := store.Get(t.Context(), catalog.TracingMugID)
	if err != nil || mug.Details != edited {
		t.Errorf("mug after re-seeding: %+v, %v; want the admin's edit kept", mug, err)
	}
}

func TestGetUnknownIsNotFound(t *testing.T) {
	store := postgres.NewCatalog(newDB(t))
	id := uuid.New()
	if _, err := store.Get(t.Context(), id); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("Get = %v, want ErrNotFound", err)
	}
	ran := false
	if err := store.Update(t.Context(), id, func(*catalog.Product) error { ran = true; return nil }); !errors.Is(err, catalog.ErrNotFound) || ran {
		t.Errorf("Update = %v (closure ran: %v), want ErrNotFound without running it", err, ran)
	}
}

// TestConcurrentWriteOffsStopAtZero proves the row lock in Update, which app.AdjustStock relies
// on: 25 write-offs of one unit race for a stock of 20, and exactly 20 succeed.
func TestConcurrentWriteOffsStopAtZero(t *testing.T) {
	pool := newDB(t)
	store := postgres.NewCatalog(pool)
	p, err := catalog.New(catalog.Details{Name: "Race Car", Category: "desk", PriceCents: 100}, 20)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Create(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make(chan error, 25)
	for range 25 {
		wg.Go(func() {
			results <- store.Update(context.Background(), p.ID, setStock(-1))
		})
	}
	wg.Wait()
	close(results)
	ok, refused := 0, 0
	for err := range results {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, catalog.ErrInsufficientStock):
			refused++
		default:
			t.Errorf("AdjustStock: %v", err)
		}
	}
	got, err := store.Get(t.Context(), p.ID)
	if err != nil || ok != 20 || refused != 5 || got.Stock != 0 {
		t.Errorf("%d succeeded, %d refused, stock %d (%v); want 20, 5, 0", ok, refused, got.Stock, err)
	}
}

// TestDatabaseRefusesNegativeStock proves the CHECK constraint backs up the code: a change that
// would take stock below zero fails, and its transaction leaves nothing behind.
func TestDatabaseRefusesNegativeStock(t *testing.T) {
	pool := newDB(t)
	if _, err := postgres.NewCatalog(pool).Seed(t.Context(), catalog.DemoProducts()); err != nil {
		t.Fatal(err)
	}
	store := postgres.NewReservations(pool)
	change := func(changes ...inventory.StockChange) error {
		return store.Update(t.Context(), uuid.New(), nil, func(r *app.Reservation) ([]events.Message, error) {
			r.Changes = changes
			return nil, nil
		})
	}
	err := change(
		inventory.StockChange{ProductID: catalog.TracingMugID, Stock: -1},  // fine on its own
		inventory.StockChange{ProductID: catalog.LastOneLampID, Stock: -2}, // the lamp has 1
	)
	if err == nil {
		t.Fatal("Update took the lamp's stock below zero")
	}
	if got := pgtest.Count(t, pool, `SELECT count(*) FROM products WHERE (id = $1 AND stock = 50) OR (id = $2 AND stock = 1)`,
		catalog.TracingMugID, catalog.LastOneLampID); got != 2 {
		t.Error("the failed transaction changed the stock")
	}
	if err := change(inventory.StockChange{ProductID: uuid.New(), Stock: 1}); err == nil {
		t.Error("Update changed the stock of a product that does not exist")
	}
}

func TestReservationRows(t *testing.T) {
	pool := newDB(t)
	if _, err := postgres.NewCatalog(pool).Seed(t.Context(), catalog.DemoProducts()); err != nil {
		t.Fatal(err)
	}
	store := postgres.NewReservations(pool)
	order := uuid.New()
	lines := []inventory.Line{{ProductID: catalog.LastOneLampID, Quantity: 1}, {ProductID: catalog.TracingMugID, Quantity: 3}}
	products := []uuid.UUID{catalog.TracingMugID, uuid.New(), catalog.LastOneLampID}
	err := store.Update(t.Context(), order, products, func(r *app.Reservation) ([]events.Message, error) {
		if r.Status != inventory.StatusNone || r.Lines != nil {
			t.Errorf("a new order's reservation = %+v", r)
		}
		if len(r.Available) != 2 || r.Available[catalog.TracingMugID] != 50 || r.Available[catalog.LastOneLampID] != 1 {
			t.Errorf("Available = %v; want the two products that exist", r.Available)
		}
		r.Status, r.Lines = inventory.StatusReserved, lines
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}

	err = store.Update(t.Context(), order, nil, func(r *app.Reservation) ([]events.Message, error) {
		if r.Status != inventory.StatusReserved || len(r.Lines) != 2 || r.Lines[0] != lines[0] || r.Lines[1] != lines[1] {
			t.Errorf("reservation = %+v; want RESERVED with %v", r, lines)
		}
		r.Status = inventory.StatusSold
		msg, err := events.NewMessage(events.InventoryReleased, order, events.InventoryReleasedPayload{Reason: "test"})
		return []events.Message{msg}, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := pgtest.Count(t, pool, `SELECT count(*) FROM reservations WHERE order_id = $1 AND status = 'SOLD'`, order); got != 1 {
		t.Error("the new status did not stick")
	}
	if got := len(pgtest.OutboxEvents(t, pool, order.String(), events.InventoryReleased)); got != 1 {
		t.Errorf("%d events in the outbox, want the one the closure returned", got)
	}

	// A closure that fails saves nothing, its events included.
	failed := errors.New("no")
	err = store.Update(t.Context(), order, nil, func(r *app.Reservation) ([]events.Message, error) {
		r.Status = inventory.StatusRestocked
		msg, _ := events.NewMessage(events.InventoryReleased, order, events.InventoryReleasedPayload{Reason: "test"})
		return []events.Message{msg}, failed
	})
	if !errors.Is(err, failed) || pgtest.Count(t, pool, `SELECT count(*) FROM reservations WHERE status = 'SOLD'`) != 1 ||
		len(pgtest.OutboxEvents(t, pool, order.String())) != 1 {
		t.Errorf("a failed closure: %v, and it saved something", err)
	}
}
