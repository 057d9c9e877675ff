// Package postgres keeps order-service's orders in PostgreSQL: Store is the repository of the
// application layer (app.Orders). It only translates between rows and domain values; every
// decision is the use case's. Each method runs in postgres.Atomic, so it joins the unit of work
// its context carries (the saga consumer's inbox transaction, or app.Orders.Atomic) and writes
// an order and the outbox rows announcing it together.
package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tracecart/tracecart/order-service/internal/app"
	"github.com/tracecart/tracecart/order-service/internal/domain/order"
	"github.com/tracecart/tracecart/shared/aftercommit"
	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/outbox"
	pgkit "github.com/tracecart/tracecart/shared/postgres"
	"github.com/tracecart/tracecart/shared/telemetry"
	"github.com/tracecart/tracecart/shared/wakeup"
)

var _ app.Orders = (*Store)(nil)

var _ app.OrderChanges = (*Store)(nil)

// Store reads and writes orders.
type Store struct {
	pool    *pgxpool.Pool
	changes *wakeup.Hub[uuid.UUID] // signalled after a change commits; Watch's readers wait on it
}

// NewStore returns a Store over pool, whose database has the migrations of this service, the
// outbox and the inbox applied.
func NewStore(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool, changes: wakeup.New[uuid.UUID]()}
}

// Watch returns a channel that receives a value after order id changes through this Store (once
// the change has committed), and the function that stops watching. Changes made by other
// processes are not seen.
func (s *Store) Watch(id uuid.UUID) (<-chan struct{}, func()) {
	return s.changes.Watch(id)
}

// querier is what both a pool and a transaction can do, so read helpers serve both.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// orderColumns are the columns scanOrder reads, in its order.
const orderColumns = `id, user_id, status, reason, total_cents, paid_at IS NOT NULL, created_at, updated_at`

// Atomic runs fn in one transaction, or in the one ctx already carries (see postgres.Atomic).
func (s *Store) Atomic(ctx context.Context, fn func(ctx context.Context) error) error {
	return pgkit.Atomic(ctx, s.pool, func(ctx context.Context, _ pgx.Tx) error { return fn(ctx) })
}

// Create stores o, a new PENDING order, with its lines and msgs (its order.created event) in
// one transaction, and returns it with the database's timestamps.
//
// With an idempotency key (key != ""), the order is stored only if the user has no order with
// that key yet. If one exists (a repeat that raced past the handler's own check), Create returns
// that order instead when requestHash matches the one stored with it, and an error wrapping
// order.ErrIdempotencyKeyReused when it does not; either way nothing is written.
func (s *Store) Create(ctx context.Context, o order.Order, key string, requestHash []byte, msgs ...events.Message) (order.Order, error) {
	var idempotencyKey, hash any // NULL without a key
	if key != "" {
		idempotencyKey, hash = key, requestHash
	}

	var result order.Order
	err := pgkit.Atomic(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			INSERT INTO orders (id, user_id, status, total_cents, idempotency_key, request_hash, trace_context)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (user_id, idempotency_key) DO NOTHING
			RETURNING created_at, updated_at`,
			o.ID, o.UserID, string(o.Status), o.TotalCents, idempotencyKey, hash, telemetry.Store(ctx),
		).Scan(&o.CreatedAt, &o.UpdatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			// The key is taken. ON CONFLICT waited for the transaction that took it to commit,
			// so this statement sees its order.
			existing, storedHash, err := findByKey(ctx, tx, o.UserID, key)
			if err != nil {
				return err
			}
			if !bytes.Equal(storedHash, requestHash) {
				return fmt.Errorf("idempotency key %q: %w", key, order.ErrIdempotencyKeyReused)
			}
			result = existing
			return nil
		}
		if err != nil {
			return fmt.Errorf("insert order %s: %w", o.ID, err)
		}
		o.CreatedAt, o.UpdatedAt = o.CreatedAt.UTC(), o.UpdatedAt.UTC()
		if err := insertLines(ctx, tx, o); err != nil {
			return err
		}
		if err := outbox.Add(ctx, tx, msgs...); err != nil {
			return fmt.Errorf("order %s: %w", o.ID, err)
		}
		result = o
		return nil
	})
	if err != nil {
		return order.Order{}, err
	}
	return result, nil
}

// insertLines stores the lines of o in one statement.
func insertLines(ctx context.Context, tx pgx.Tx, o order.Order) error {
	n := len(o.Lines)
	lineNos, products, quantities, prices := make([]int32, n), make([]uuid.UUID, n), make([]int32, n), make([]int64, n)
	for i, l := range o.Lines {
		lineNos[i], products[i], quantities[i], prices[i] = int32(i+1), l.ProductID, int32(l.Quantity), l.UnitPriceCents
	}
	// Queued for the commit with the outbox rows (postgres.WriteLater): nothing reads them back.
	err := pgkit.WriteLater(ctx, tx, `
		INSERT INTO order_lines (order_id, line_no, product_id, quantity, unit_price_cents)
		SELECT $1, t.line_no, t.product_id, t.quantity, t.unit_price_cents
		FROM unnest($2::integer[], $3::uuid[], $4::integer[], $5::bigint[])
			AS t(line_no, product_id, quantity, unit_price_cents)`,
		o.ID, lineNos, products, quantities, prices)
	if err != nil {
		return fmt.Errorf("insert lines of order %s: %w", o.ID, err)
	}
	return nil
}

// FindByIdempotencyKey returns the user's order placed with key, with the hash of the request
// that placed it, or an error wrapping order.ErrNotFound.
func (s *Store) FindByIdempotencyKey(ctx context.Context, userID uuid.UUID, key string) (order.Order, []byte, error) {
	return findByKey(ctx, s.pool, userID, key)
}

func findByKey(ctx context.Context, q querier, userID uuid.UUID, key string) (order.Order, []byte, error) {
	var hash []byte
	o, err := scanOrder(q.QueryRow(ctx,
		`SELECT `+orderColumns+`, request_hash FROM orders WHERE user_id = $1 AND idempotency_key = $2`,
		userID, key), &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return order.Order{}, nil, fmt.Errorf("order with idempotency key %q: %w", key, order.ErrNotFound)
	}
	if err != nil {
		return order.Order{}, nil, fmt.Errorf("find order by idempotency key: %w", err)
	}
	if err := withLines(ctx, q, []*order.Order{&o}); err != nil {
		return order.Order{}, nil, err
	}
	return o, hash, nil
}

// Get returns the order id if it belongs to userID. Someone else's order is reported as not
// found, exactly like a missing one, so that order IDs reveal nothing about other customers.
//
// It is one statement, the lines aggregated into a JSON array beside the order's columns: a
// customer following an order reads it several times while the saga runs, and under the saga
// benchmark these reads were most of order-service's statements (docs/performance-saga.md).
func (s *Store) Get(ctx context.Context, userID, id uuid.UUID) (order.Order, error) {
	var raw []byte
	o, err := scanOrder(s.pool.QueryRow(ctx, `
		SELECT `+orderColumns+`,
		       (SELECT coalesce(jsonb_agg(jsonb_build_object(
		                   'product_id', product_id, 'quantity', quantity, 'unit_price_cents', unit_price_cents)
		               ORDER BY line_no), '[]')
		        FROM order_lines WHERE order_id = orders.id)
		FROM orders WHERE id = $1 AND user_id = $2`, id, userID), &raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return order.Order{}, fmt.Errorf("order %s: %w", id, order.ErrNotFound)
	}
	if err != nil {
		return order.Order{}, fmt.Errorf("get order %s: %w", id, err)
	}
	var lines []struct {
		ProductID      uuid.UUID `json:"product_id"`
		Quantity       int       `json:"quantity"`
		UnitPriceCents int64     `json:"unit_price_cents"`
	}
	if err := json.Unmarshal(raw, &lines); err != nil {
		return order.Order{}, fmt.Errorf("decode lines of order %s: %w", id, err)
	}
	o.Lines = make([]order.Line, 0, len(lines))
	for _, l := range lines {
		o.Lines = append(o.Lines, order.Line{ProductID: l.ProductID, Quantity: l.Quantity, UnitPriceCents: l.UnitPriceCents})
	}
	return o, nil
}

// Status returns the status of order id, whoever owns it, for other services that must know
// how an order's saga ended (product-service's reconciler asks before it settles a reservation
// left behind). A missing order is an error wrapping order.ErrNotFound.
func (s *Store) Status(ctx context.Context, id uuid.UUID) (order.Status, error) {
	var status string
	err := s.pool.QueryRow(ctx, `SELECT status FROM orders WHERE id = $1`, id).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("order %s: %w", id, order.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("status of order %s: %w", id, err)
	}
	return order.Status(status), nil
}

// List returns a page of userID's orders, newest first: at most limit of them after skipping
// offset, and how many orders the user has in all.
func (s *Store) List(ctx context.Context, userID uuid.UUID, limit, offset int) (orders []order.Order, total int, err error) {
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM orders WHERE user_id = $1`, userID).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count orders of user %s: %w", userID, err)
	}
	rows, err := s.pool.Query(ctx, `
		SELECT `+orderColumns+` FROM orders WHERE user_id = $1
		ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3`,
		userID, limit, offset)
	if err != nil {
		return nil, 0, fmt.Errorf("list orders of user %s: %w", userID, err)
	}
	orders, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (order.Order, error) { return scanOrder(row) })
	if err != nil {
		return nil, 0, fmt.Errorf("list orders of user %s: %w", userID, err)
	}
	ptrs := make([]*order.Order, len(orders))
	for i := range orders {
		ptrs[i] = &orders[i]
	}
	if err := withLines(ctx, s.pool, ptrs); err != nil {
		return nil, 0, err
	}
	return orders, total, nil
}

// Update loads order id and locks it until the transaction ends, so that two events for the
// same order (or an event and the timeout) are applied one after the other; runs decide; then
// saves what decide changed and writes the events it returned to the outbox. The order comes
// without its lines, which no state change needs. updated_at moves only when the status or the
// reason changed; paid_at keeps the first payment's time.
func (s *Store) Update(ctx context.Context, id uuid.UUID, decide func(o *order.Order) ([]events.Message, error)) (order.Order, error) {
	var saved order.Order
	err := pgkit.Atomic(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		before, err := scanOrder(tx.QueryRow(ctx, `SELECT `+orderColumns+` FROM orders WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("order %s: %w", id, order.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("lock order %s: %w", id, err)
		}
		after := before
		msgs, err := decide(&after)
		if err != nil {
			return err
		}
		if saved, err = save(ctx, tx, before, after); err != nil {
			return err
		}
		if saved.Status != before.Status || saved.Reason != before.Reason || saved.Paid != before.Paid {
			aftercommit.Do(ctx, func() { s.changes.Signal(id) })
		}
		if err := outbox.Add(ctx, tx, msgs...); err != nil {
			return fmt.Errorf("order %s: %w", id, err)
		}
		return nil
	})
	return saved, err
}

// save writes the changes from before to after and returns the order as it now is.
func save(ctx context.Context, tx pgx.Tx, before, after order.Order) (order.Order, error) {
	moved := after.Status != before.Status || after.Reason != before.Reason
	paid := after.Paid && !before.Paid
	if !moved && !paid {
		return before, nil
	}
	o, err := scanOrder(tx.QueryRow(ctx, `
		UPDATE orders SET status = $2, reason = $3,
			updated_at = CASE WHEN $4 THEN now() ELSE updated_at END,
			paid_at = CASE WHEN $5 THEN COALESCE(paid_at, now()) ELSE paid_at END
		WHERE id = $1
		RETURNING `+orderColumns,
		after.ID, string(after.Status), after.Reason, moved, paid))
	if err != nil {
		return order.Order{}, fmt.Errorf("save order %s (%s): %w", after.ID, after.Status, err)
	}
	return o, nil
}

// LockTimedOut locks up to limit PENDING orders created more than timeout ago, oldest first,
// skipping orders another transaction holds: several instances sweeping at once each take
// different orders, and an order whose saga event is being applied right now is left to it.
// The orders come without their lines, with their stored trace context. Call it inside
// Atomic: the locks last as long as the transaction.
func (s *Store) LockTimedOut(ctx context.Context, timeout time.Duration, limit int) ([]app.Locked, error) {
	return lockBatch(ctx, s.pool, "timed-out orders", `
		SELECT `+orderColumns+`, 0, trace_context FROM orders
		WHERE status = 'PENDING' AND created_at < now() - make_interval(secs => $1)
		ORDER BY created_at
		LIMIT $2
		FOR UPDATE SKIP LOCKED`,
		timeout.Seconds(), limit)
}

// lockBatch runs query, which selects orderColumns, the times the order was announced again
// and its trace context, and locks the rows, in the transaction of ctx.
func lockBatch(ctx context.Context, pool *pgxpool.Pool, what, query string, args ...any) ([]app.Locked, error) {
	var locked []app.Locked
	err := pgkit.Atomic(ctx, pool, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		locked, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (app.Locked, error) {
			l := app.Locked{TraceContext: map[string]string{}}
			var err error
			l.Order, err = scanOrder(row, &l.Reannounced, &l.TraceContext)
			return l, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", what, err)
	}
	return locked, nil
}

// PendingStats returns how many orders are PENDING and how long the oldest has been, for the
// stuck-saga gauges. Both are zero when no saga is in flight.
func (s *Store) PendingStats(ctx context.Context) (count int64, oldest time.Duration, err error) {
	var seconds float64
	err = s.pool.QueryRow(ctx, `
		SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8
		FROM orders WHERE status = 'PENDING'`).Scan(&count, &seconds)
	if err != nil {
		return 0, 0, fmt.Errorf("count pending orders: %w", err)
	}
	return count, time.Duration(seconds * float64(time.Second)), nil
}

// scanOrder reads the orderColumns of one row, then extra columns into extra.
func scanOrder(row pgx.Row, extra ...any) (order.Order, error) {
	var (
		o      order.Order
		status string
	)
	dest := append([]any{&o.ID, &o.UserID, &status, &o.Reason, &o.TotalCents, &o.Paid, &o.CreatedAt, &o.UpdatedAt}, extra...)
	if err := row.Scan(dest...); err != nil {
		return order.Order{}, err
	}
	o.Status = order.Status(status)
	if !o.Status.Valid() {
		return order.Order{}, fmt.Errorf("order %s has unknown status %q", o.ID, status)
	}
	o.CreatedAt, o.UpdatedAt = o.CreatedAt.UTC(), o.UpdatedAt.UTC()
	return o, nil
}

// withLines loads the lines of orders with one query.
func withLines(ctx context.Context, q querier, orders []*order.Order) error {
	if len(orders) == 0 {
		return nil
	}
	ids := make([]uuid.UUID, len(orders))
	byID := make(map[uuid.UUID]*order.Order, len(orders))
	for i, o := range orders {
		ids[i] = o.ID
		byID[o.ID] = o
		o.Lines = []order.Line{}
	}
	rows, err := q.Query(ctx, `
		SELECT order_id, product_id, quantity, unit_price_cents FROM order_lines
		WHERE order_id = ANY($1) ORDER BY order_id, line_no`, ids)
	if err != nil {
		return fmt.Errorf("load order lines: %w", err)
	}
	var (
		orderID uuid.UUID
		line    order.Line
	)
	_, err = pgx.ForEachRow(rows, []any{&orderID, &line.ProductID, &line.Quantity, &line.UnitPriceCents}, func() error {
		o := byID[orderID]
		o.Lines = append(o.Lines, line)
		return nil
	})
	if err != nil {
		return fmt.Errorf("load order lines: %w", err)
	}
	return nil
}
