package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tracecart/tracecart/product-service/internal/app"
	"github.com/tracecart/tracecart/product-service/internal/domain/inventory"
	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/outbox"
	sharedpg "github.com/tracecart/tracecart/shared/postgres"
	"github.com/tracecart/tracecart/shared/telemetry"
)

// Reservations keeps the orders' reservations and moves the stock counts they hold. Inside a
// saga event's transaction (the one in which the inbox records the event as processed) its
// writes join that transaction, so an event's effect and the record of it commit together.
type Reservations struct {
	pool *pgxpool.Pool
}

var _ app.Reservations = (*Reservations)(nil)

// NewReservations returns the reservations stored in pool's database.
func NewReservations(pool *pgxpool.Pool) *Reservations {
	return &Reservations{pool: pool}
}

// Update loads and locks order orderID's reservation, locks products, runs fn, and saves what
// fn decided with the events it returns (see app.Reservations).
func (s *Reservations) Update(ctx context.Context, orderID uuid.UUID, products []uuid.UUID,
	fn func(r *app.Reservation) ([]events.Message, error)) error {
	return sharedpg.Atomic(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		loaded, err := lockReservation(ctx, tx, orderID)
		if err != nil {
			return err
		}
		r := loaded
		if len(products) > 0 {
			if r.Available, err = lockProducts(ctx, tx, products); err != nil {
				return err
			}
		}
		msgs, err := fn(&r)
		if err != nil {
			return err
		}
		if err := applyChanges(ctx, tx, r.Changes); err != nil {
			return err
		}
		switch {
		case loaded.Status == inventory.StatusNone && r.Status != inventory.StatusNone:
			err = insertReservation(ctx, tx, r)
		case r.Status != loaded.Status:
			err = setStatus(ctx, tx, orderID, r.Status)
		}
		if err != nil {
			return err
		}
		return outbox.Add(ctx, tx, msgs...)
	})
}

// line is how a reservation's lines are stored in its jsonb column.
type line struct {
	ProductID uuid.UUID `json:"product_id"`
	Quantity  int64     `json:"quantity"`
}

// lockReservation returns order orderID's reservation, locking the row until tx ends, or one in
// inventory.StatusNone if the order has none.
func lockReservation(ctx context.Context, tx pgx.Tx, orderID uuid.UUID) (app.Reservation, error) {
	r := app.Reservation{OrderID: orderID}
	var (
		status string
		raw    []byte
	)
	err := tx.QueryRow(ctx, `SELECT status, lines FROM reservations WHERE order_id = $1 FOR UPDATE`, orderID).
		Scan(&status, &raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("lock reservation of order %s: %w", orderID, err)
	}
	var stored []line
	if err := json.Unmarshal(raw, &stored); err != nil {
		return r, fmt.Errorf("decode lines of order %s: %w", orderID, err)
	}
	r.Status = inventory.Status(status)
	r.Lines = make([]inventory.Line, 0, len(stored))
	for _, l := range stored {
		r.Lines = append(r.Lines, inventory.Line{ProductID: l.ProductID, Quantity: l.Quantity})
	}
	return r, nil
}

// lockProducts locks the rows of the products ids, in ascending ID order, until tx ends, and
// returns the available stock of those that exist. Every transaction that locks several
// products takes them in this one order, so two of them never wait for each other in a circle.
func lockProducts(ctx context.Context, tx pgx.Tx, ids []uuid.UUID) (map[uuid.UUID]int64, error) {
	// The sort runs below the row locks in the plan, so rows are locked in ID order.
	rows, err := tx.Query(ctx, `SELECT id, stock FROM products WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
	if err != nil {
		return nil, fmt.Errorf("lock products: %w", err)
	}
	available := make(map[uuid.UUID]int64, len(ids))
	for rows.Next() {
		var (
			id    uuid.UUID
			stock int64
		)
		if err := rows.Scan(&id, &stock); err != nil {
			rows.Close()
			return nil, fmt.Errorf("lock products: %w", err)
		}
		available[id] = stock
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lock products: %w", err)
	}
	return available, nil
}

// applyChanges adds each change to its product's stock and sold counts, in the order given
// (inventory.Effect.Changes gives them in lock order). It fails if a product is missing or a
// count would go below zero, which the table's CHECK constraints refuse.
func applyChanges(ctx context.Context, tx pgx.Tx, changes []inventory.StockChange) error {
	if len(changes) == 0 {
		return nil
	}
	batch := &pgx.Batch{}
	for _, c := range changes {
		batch.Queue(`UPDATE products SET stock = stock + $2, sold = sold + $3, updated_at = now() WHERE id = $1`,
			c.ProductID, c.Stock, c.Sold)
	}
	results := tx.SendBatch(ctx, batch)
	for _, c := range changes {
		tag, err := results.Exec()
		if err == nil && tag.RowsAffected() != 1 {
			err = errors.New("no such product")
		}
		if err != nil {
			_ = results.Close() // the first error is the one to report
			return fmt.Errorf("change stock of product %s by %+d, sold by %+d: %w", c.ProductID, c.Stock, c.Sold, err)
		}
	}
	if err := results.Close(); err != nil {
		return fmt.Errorf("change stock: %w", err)
	}
	return nil
}

// insertReservation records a new reservation: lines reserved (RESERVED), refused (REJECTED,
// with the rejection's reason) or a tombstone (CANCELLED, no lines), with the trace context of
// ctx, so that whoever settles the reservation later without an event to carry the context (the
// reconciler) continues the order's trace. It fails if the order already has one; the caller
// locked and found none, so that means another transaction raced it, and retrying the event
// will find that one.
func insertReservation(ctx context.Context, tx pgx.Tx, r app.Reservation) error {
	stored := make([]line, 0, len(r.Lines))
	for _, l := range r.Lines {
		stored = append(stored, line{ProductID: l.ProductID, Quantity: l.Quantity})
	}
	raw, err := json.Marshal(stored)
	if err != nil {
		return fmt.Errorf("encode lines of order %s: %w", r.OrderID, err)
	}
	// Queued for the commit (postgres.WriteLater), with the outbox rows: a unique violation (a
	// racing transaction inserted one) fails the commit instead of this call, with the same effect.
	err = sharedpg.WriteLater(ctx, tx, `
		INSERT INTO reservations (order_id, status, lines, reason, trace_context)
		VALUES ($1, $2, $3, NULLIF($4, ''), $5)`,
		r.OrderID, string(r.Status), raw, r.Reason, telemetry.Store(ctx))
	if err != nil {
		return fmt.Errorf("insert %s reservation of order %s: %w", r.Status, r.OrderID, err)
	}
	return nil
}

// setStatus moves order orderID's reservation, which the caller has locked, to status.
func setStatus(ctx context.Context, tx pgx.Tx, orderID uuid.UUID, status inventory.Status) error {
	tag, err := tx.Exec(ctx, `UPDATE reservations SET status = $2, updated_at = now() WHERE order_id = $1`,
		orderID, string(status))
	if err == nil && tag.RowsAffected() != 1 {
		err = errors.New("no reservation")
	}
	if err != nil {
		return fmt.Errorf("set reservation of order %s to %s: %w", orderID, status, err)
	}
	return nil
}

// ClaimStuck returns up to limit reservations that have been RESERVED for longer than age and
// that no reconciler has looked at in the last lease, oldest first, with their trace context,
// and marks them as looked at now, in a transaction of its own that commits before anyone is
// asked about the orders. Rows another transaction holds (an event being applied to them right
// now) are skipped, and so are rows another reconciler claimed within lease: several instances
// running at once each take different reservations.
func (s *Reservations) ClaimStuck(ctx context.Context, age, lease time.Duration, limit int) ([]app.StuckReservation, error) {
	rows, err := s.pool.Query(ctx, `
		UPDATE reservations SET checked_at = now()
		WHERE order_id IN (
			SELECT order_id FROM reservations
			WHERE status = 'RESERVED' AND updated_at < now() - make_interval(secs => $1)
				AND (checked_at IS NULL OR checked_at < now() - make_interval(secs => $2))
			ORDER BY updated_at
			LIMIT $3
			FOR UPDATE SKIP LOCKED)
		RETURNING order_id, trace_context`,
		age.Seconds(), lease.Seconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("claim stuck reservations: %w", err)
	}
	claimed, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (app.StuckReservation, error) {
		var s app.StuckReservation
		return s, row.Scan(&s.OrderID, &s.TraceContext)
	})
	if err != nil {
		return nil, fmt.Errorf("claim stuck reservations: %w", err)
	}
	return claimed, nil
}

// CountStuck returns how many reservations have been RESERVED for longer than age, for the
// stuck-reservation gauge.
func (s *Reservations) CountStuck(ctx context.Context, age time.Duration) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `
		SELECT count(*) FROM reservations
		WHERE status = 'RESERVED' AND updated_at < now() - make_interval(secs => $1)`,
		age.Seconds()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count stuck reservations: %w", err)
	}
	return n, nil
}
