package postgres

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tracecart/tracecart/product-service/internal/app"
	"github.com/tracecart/tracecart/product-service/internal/domain/inventory"
	"github.com/tracecart/tracecart/product-service/migrations"
	sharedpg "github.com/tracecart/tracecart/shared/postgres"
	"github.com/tracecart/tracecart/shared/postgres/pgtest"
)

// TestRowsRefuseWhatARaceWouldDo checks the guards below Update that a lost race runs into: a
// second reservation for one order fails (the saga then retries and finds the first), and so
// does moving a reservation that is not there.
func TestRowsRefuseWhatARaceWouldDo(t *testing.T) {
	pool := pgtest.New(t, migrations.Set)
	order := uuid.New()
	in := func(fn func(ctx context.Context, tx pgx.Tx) error) error {
		return sharedpg.Atomic(t.Context(), pool, fn)
	}
	tombstone := app.Reservation{OrderID: order, Status: inventory.StatusCancelled}
	if err := in(func(ctx context.Context, tx pgx.Tx) error { return insertReservation(ctx, tx, tombstone) }); err != nil {
		t.Fatal(err)
	}
	if err := in(func(ctx context.Context, tx pgx.Tx) error { return insertReservation(ctx, tx, tombstone) }); err == nil {
		t.Error("a second reservation for one order was accepted")
	}
	if err := in(func(ctx context.Context, tx pgx.Tx) error {
		return setStatus(ctx, tx, uuid.New(), inventory.StatusSold)
	}); err == nil {
		t.Error("setStatus succeeded for an order without a reservation")
	}
}
