package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/tracecart/tracecart/product-service/internal/inventory"
	"github.com/tracecart/tracecart/product-service/internal/saga"
)

// Inventory is the saga's view of the database: reservations and the stock counts they move.
// Every method works inside the caller's transaction, the one in which the inbox records the
// event as processed, so an event's effect and the record of it commit together; Inventory
// itself holds no state.
type Inventory struct{}

var (
	_ saga.Inventory    = Inventory{}
	_ saga.Reservations = Inventory{}
)

// line is how a reservation's lines are stored in its jsonb column.
type line struct {
	ProductID uuid.UUID `json:"product_id"`
	Quantity  int64     `json:"quantity"`
}

// LockReservation returns the status and lines of order orderID's reservation, locking the row
// until tx ends, or inventory.StatusNone if the order has none.
func (Inventory) LockReservation(ctx context.Context, tx pgx.Tx, orderID uuid.UUID) (inventory.Status, []inventory.Line, error) {
	var (
		status string
		raw    []byte
	)
	err := tx.QueryRow(ctx, `SELECT status, lines FROM reservations WHERE order_id = $1 FOR UPDATE`, orderID).
		Scan(&status, &raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return inventory.StatusNone, nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("lock reservation of order %s: %w", orderID, err)
	}
	var stored []line
	if err := json.Unmarshal(raw, &stored); err != nil {
		return "", nil, fmt.Errorf("decode lines of order %s: %w", orderID, err)
	}
	lines := make([]inventory.Line, 0, len(stored))
	for _, l := range stored {
		lines = append(lines, inventory.Line{ProductID: l.ProductID, Quantity: l.Quantity})
	}
	return inventory.Status(status), lines, nil
}

// LockProducts locks the rows of the products ids, in ascending ID order, until tx ends, and
// returns the available stock of those that exist. Every transaction that locks several
// products takes them in this one order, so two of them never wait for each other in a circle.
func (Inventory) LockProducts(ctx context.Context, tx pgx.Tx, ids []uuid.UUID) (map[uuid.UUID]int64, error) {
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

// ApplyChanges adds each change to its product's stock and sold counts, in the order given
// (inventory.Effect.Changes gives them in lock order). It fails if a product is missing or a
// count would go below zero, which the table's CHECK constraints refuse.
func (Inventory) ApplyChanges(ctx context.Context, tx pgx.Tx, changes []inventory.StockChange) error {
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

// InsertReservation records order orderID's reservation: lines reserved (RESERVED), refused
// (REJECTED, with the rejection's reason) or a tombstone (CANCELLED, no lines), with the trace
// context of ctx, so that whoever settles the reservation later without an event to carry the
// context (the reconciler) continues the order's trace. It fails if the order already has one;
// the caller locked and found none, so that means another transaction raced it, and retrying the
// event will find that one.
func (Inventory) InsertReservation(ctx context.Context, tx pgx.Tx, orderID uuid.UUID, status inventory.Status, lines []inventory.Line, reason string) error {
	stored := make([]line, 0, len(lines))
	for _, l := range lines {
		stored = append(stored, line{ProductID: l.ProductID, Quantity: l.Quantity})
	}
	raw, err := json.Marshal(stored)
	if err != nil {
		return fmt.Errorf("encode lines of order %s: %w", orderID, err)
	}
	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	_, err = tx.Exec(ctx, `
		INSERT INTO reservations (order_id, status, lines, reason, trace_context)
		VALUES ($1, $2, $3, NULLIF($4, ''), $5)`,
		orderID, string(status), raw, reason, carrier)
	if err != nil {
		return fmt.Errorf("insert %s reservation of order %s: %w", status, orderID, err)
	}
	return nil
}

// SetStatus moves order orderID's reservation, which the caller has locked, to status.
func (Inventory) SetStatus(ctx context.Context, tx pgx.Tx, orderID uuid.UUID, status inventory.Status) error {
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
// and marks them as looked at now. Rows another transaction holds (an event being applied to
// them right now) are skipped, and so are rows another reconciler claimed within lease: several
// instances running at once each take different reservations. The claim is all the caller's
// transaction should do; commit it before asking anyone about the orders.
func (Inventory) ClaimStuck(ctx context.Context, tx pgx.Tx, age, lease time.Duration, limit int) ([]saga.Stuck, error) {
	rows, err := tx.Query(ctx, `
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
	claimed, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (saga.Stuck, error) {
		s := saga.Stuck{TraceContext: propagation.MapCarrier{}}
		return s, row.Scan(&s.OrderID, &s.TraceContext)
	})
	if err != nil {
		return nil, fmt.Errorf("claim stuck reservations: %w", err)
	}
	return claimed, nil
}

// CountStuck returns how many reservations have been RESERVED for longer than age, for the
// stuck-reservation gauge.
func (Inventory) CountStuck(ctx context.Context, tx pgx.Tx, age time.Duration) (int64, error) {
	var n int64
	err := tx.QueryRow(ctx, `
		SELECT count(*) FROM reservations
		WHERE status = 'RESERVED' AND updated_at < now() - make_interval(secs => $1)`,
		age.Seconds()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count stuck reservations: %w", err)
	}
	return n, nil
}
