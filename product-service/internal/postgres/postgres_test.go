package postgres_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tracecart/tracecart/product-service/internal/catalog"
	"github.com/tracecart/tracecart/product-service/internal/dbtest"
	"github.com/tracecart/tracecart/product-service/internal/inventory"
	"github.com/tracecart/tracecart/product-service/internal/postgres"
	sharedpg "github.com/tracecart/tracecart/shared/postgres"
	"github.com/tracecart/tracecart/shared/testinfra"
)

func TestMain(m *testing.M) { os.Exit(testinfra.Main(m)) }

func TestSeedIsIdempotent(t *testing.T) {
	pool := dbtest.New(t, 0)
	store := postgres.NewCatalog(pool)
	n, err := store.Seed(t.Context(), catalog.DemoProducts())
	if err != nil || n != 8 {
		t.Fatalf("first Seed = %d, %v; want 8 inserted", n, err)
	}
	// What happens between two start-ups: stock is sold and an admin edits a product.
	if _, err := store.AdjustStock(t.Context(), catalog.LastOneLampID, -1); err != nil {
		t.Fatal(err)
	}
	edited := catalog.Details{Name: "Tracing Mug XL", Category: "kitchen", PriceCents: 1500}
	if _, err := store.Update(t.Context(), catalog.TracingMugID, edited); err != nil {
		t.Fatal(err)
	}

	n, err = store.Seed(t.Context(), catalog.DemoProducts())
	if err != nil || n != 0 {
		t.Fatalf("second Seed = %d, %v; want 0 inserted", n, err)
	}
	if got := dbtest.Count(t, pool, `SELECT count(*) FROM products`); got != 8 {
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
	store := postgres.NewCatalog(dbtest.New(t, 0))
	id := uuid.New()
	if _, err := store.Get(t.Context(), id); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("Get = %v, want ErrNotFound", err)
	}
	if _, err := store.Update(t.Context(), id, catalog.Details{Name: "x", Category: "x", PriceCents: 1}); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("Update = %v, want ErrNotFound", err)
	}
	if _, err := store.AdjustStock(t.Context(), id, 1); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("AdjustStock = %v, want ErrNotFound", err)
	}
}

// TestConcurrentWriteOffsStopAtZero proves the row lock in AdjustStock: 25 write-offs of one
// unit race for a stock of 20, and exactly 20 succeed.
func TestConcurrentWriteOffsStopAtZero(t *testing.T) {
	pool := dbtest.New(t, 0)
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
			_, err := store.AdjustStock(context.Background(), p.ID, -1)
			results <- err
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
	pool := dbtest.New(t, 0)
	if _, err := postgres.NewCatalog(pool).Seed(t.Context(), catalog.DemoProducts()); err != nil {
		t.Fatal(err)
	}
	store := postgres.Inventory{}
	err := sharedpg.InTx(t.Context(), pool, func(tx pgx.Tx) error {
		return store.ApplyChanges(t.Context(), tx, []inventory.StockChange{
			{ProductID: catalog.TracingMugID, Stock: -1},  // fine on its own
			{ProductID: catalog.LastOneLampID, Stock: -2}, // the lamp has 1
		})
	})
	if err == nil {
		t.Fatal("ApplyChanges took the lamp's stock below zero")
	}
	if got := dbtest.Count(t, pool, `SELECT count(*) FROM products WHERE (id = $1 AND stock = 50) OR (id = $2 AND stock = 1)`,
		catalog.TracingMugID, catalog.LastOneLampID); got != 2 {
		t.Error("the failed transaction changed the stock")
	}
	err = sharedpg.InTx(t.Context(), pool, func(tx pgx.Tx) error {
		return store.ApplyChanges(t.Context(), tx, []inventory.StockChange{{ProductID: uuid.New(), Stock: 1}})
	})
	if err == nil {
		t.Error("ApplyChanges succeeded for a product that does not exist")
	}
}

func TestReservationRows(t *testing.T) {
	pool := dbtest.New(t, 0)
	if _, err := postgres.NewCatalog(pool).Seed(t.Context(), catalog.DemoProducts()); err != nil {
		t.Fatal(err)
	}
	store := postgres.Inventory{}
	order := uuid.New()
	lines := []inventory.Line{{ProductID: catalog.LastOneLampID, Quantity: 1}, {ProductID: catalog.TracingMugID, Quantity: 3}}
	err := sharedpg.InTx(t.Context(), pool, func(tx pgx.Tx) error {
		status, got, err := store.LockReservation(t.Context(), tx, order)
		if err != nil || status != inventory.StatusNone || got != nil {
			t.Errorf("LockReservation of a new order = %q, %v, %v", status, got, err)
		}
		available, err := store.LockProducts(t.Context(), tx, []uuid.UUID{catalog.TracingMugID, uuid.New(), catalog.LastOneLampID})
		if err != nil || len(available) != 2 || available[catalog.TracingMugID] != 50 || available[catalog.LastOneLampID] != 1 {
			t.Errorf("LockProducts = %v, %v; want the two products that exist", available, err)
		}
		return store.InsertReservation(t.Context(), tx, order, inventory.StatusReserved, lines, "")
	})
	if err != nil {
		t.Fatal(err)
	}

	err = sharedpg.InTx(t.Context(), pool, func(tx pgx.Tx) error {
		status, got, err := store.LockReservation(t.Context(), tx, order)
		if err != nil || status != inventory.StatusReserved || len(got) != 2 || got[0] != lines[0] || got[1] != lines[1] {
			t.Errorf("LockReservation = %q, %v, %v; want RESERVED with %v", status, got, err, lines)
		}
		return store.SetStatus(t.Context(), tx, order, inventory.StatusSold)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := dbtest.Count(t, pool, `SELECT count(*) FROM reservations WHERE order_id = $1 AND status = 'SOLD'`, order); got != 1 {
		t.Error("SetStatus did not stick")
	}

	// A second reservation for the same order fails: the saga then retries and finds the first.
	err = sharedpg.InTx(t.Context(), pool, func(tx pgx.Tx) error {
		return store.InsertReservation(t.Context(), tx, order, inventory.StatusCancelled, nil, "")
	})
	if err == nil {
		t.Error("a second reservation for one order was accepted")
	}
	err = sharedpg.InTx(t.Context(), pool, func(tx pgx.Tx) error {
		return store.SetStatus(t.Context(), tx, uuid.New(), inventory.StatusSold)
	})
	if err == nil {
		t.Error("SetStatus succeeded for an order without a reservation")
	}
}
