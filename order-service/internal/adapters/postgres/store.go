// Package postgres keeps order-service's orders in PostgreSQL. Store adapts the database to what
// the HTTP handlers and the saga need: placing an order together with its order.created event,
// reading a customer's orders, and locking and moving an order through its states inside the
// saga's transactions.
package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/tracecart/tracecart/order-service/internal/domain/order"
	"github.com/tracecart/tracecart/order-service/internal/orderevents"
	"github.com/tracecart/tracecart/shared/outbox"
	pgkit "github.com/tracecart/tracecart/shared/postgres"
)

// Store reads and writes orders. Its methods that take a pgx.Tx work inside a caller's
// transaction (the saga's inbox transaction); the others run their own.
type Store struct {
	pool *pgxpool.Pool
}

// NewStore returns a Store over pool, whose database has the migrations of this service, the
// outbox and the inbox applied.
func NewStore(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool}
}

// querier is what both a pool and a transaction can do, so read helpers serve both.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// orderColumns are the columns scanOrder reads, in its order.
const orderColumns = `id, user_id, status, reason, total_cents, created_at, updated_at`

// Create stores o, a new PENDING order, with its lines and its order.created event in one
// transaction, and returns it with the database's timestamps.
//
// With an idempotency key (key != ""), the order is stored only if the user has no order with
// that key yet. If one exists (a repeat that raced past the handler's own check), Create returns
// that order instead when requestHash matches the one stored with it, and an error wrapping
// order.ErrIdempotencyKeyReused when it does not; either way nothing is written.
func (s *Store) Create(ctx context.Context, o order.Order, key string, requestHash []byte) (order.Order, error) {
	created, err := orderevents.Created(o)
	if err != nil {
		return order.Order{}, err
	}
	var idempotencyKey, hash any // NULL without a key
	if key != "" {
		idempotencyKey, hash = key, requestHash
	}

	var result order.Order
	err = pgkit.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			INSERT INTO orders (id, user_id, status, total_cents, idempotency_key, request_hash, trace_context)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (user_id, idempotency_key) DO NOTHING
			RETURNING created_at, updated_at`,
			o.ID, o.UserID, string(o.Status), o.TotalCents, idempotencyKey, hash, traceContext(ctx),
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
		if err := outbox.Add(ctx, tx, created); err != nil {
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
	_, err := tx.Exec(ctx, `
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
func (s *Store) Get(ctx context.Context, userID, id uuid.UUID) (order.Order, error) {
	o, err := scanOrder(s.pool.QueryRow(ctx,
		`SELECT `+orderColumns+` FROM orders WHERE id = $1 AND user_id = $2`, id, userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return order.Order{}, fmt.Errorf("order %s: %w", id, order.ErrNotFound)
	}
	if err != nil {
		return order.Order{}, fmt.Errorf("get order %s: %w", id, err)
	}
	if err := withLines(ctx, s.pool, []*order.Order{&o}); err != nil {
		return order.Order{}, err
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

// CancelByCustomer cancels userID's order id on its owner's request, which only a CONFIRMED
// order allows (see order.Status.Next), and writes order.cancelled in the same transaction so
// that the other services give back the stock and the money.
func (s *Store) CancelByCustomer(ctx context.Context, userID, id uuid.UUID) (order.Order, error) {
	var result order.Order
	err := pgkit.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		o, err := scanOrder(tx.QueryRow(ctx,
			`SELECT `+orderColumns+` FROM orders WHERE id = $1 AND user_id = $2 FOR UPDATE`, id, userID))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("order %s: %w", id, order.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("lock order %s: %w", id, err)
		}
		next, err := o.Status.Next(order.CustomerCancelled)
		if err != nil {
			return err
		}
		if o, err = s.SetStatus(ctx, tx, o.ID, next, order.ReasonCustomer); err != nil {
			return err
		}
		msg, err := orderevents.Cancelled(o)
		if err != nil {
			return err
		}
		if err := outbox.Add(ctx, tx, msg); err != nil {
			return fmt.Errorf("order %s: %w", id, err)
		}
		if err := withLines(ctx, tx, []*order.Order{&o}); err != nil {
			return err
		}
		result = o
		return nil
	})
	return result, err
}

// Lock reads order id and locks it until tx ends, so that two events for the same order (or an
// event and the timeout) are applied one after the other. The order comes without its lines,
// which no state change needs. A missing order is an error wrapping order.ErrNotFound.
func (s *Store) Lock(ctx context.Context, tx pgx.Tx, id uuid.UUID) (order.Order, error) {
	o, err := scanOrder(tx.QueryRow(ctx, `SELECT `+orderColumns+` FROM orders WHERE id = $1 FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return order.Order{}, fmt.Errorf("order %s: %w", id, order.ErrNotFound)
	}
	if err != nil {
		return order.Order{}, fmt.Errorf("lock order %s: %w", id, err)
	}
	return o, nil
}

// TraceContext returns the trace context stored with an order when it was placed (see
// traceContext), read in the caller's transaction. It is empty for an order placed outside any
// trace.
func (s *Store) TraceContext(ctx context.Context, tx pgx.Tx, id uuid.UUID) (propagation.MapCarrier, error) {
	carrier := propagation.MapCarrier{}
	if err := tx.QueryRow(ctx, `SELECT trace_context FROM orders WHERE id = $1`, id).Scan(&carrier); err != nil {
		return nil, fmt.Errorf("trace context of order %s: %w", id, err)
	}
	return carrier, nil
}

// traceContext captures the W3C trace context of ctx, the request placing an order, with the
// global propagator, as outbox.Add does for events.
func traceContext(ctx context.Context) propagation.MapCarrier {
	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	return carrier
}

// LockTimedOut locks up to limit PENDING orders created more than timeout ago, oldest first,
// skipping orders another transaction holds: several instances sweeping at once each take
// different orders, and an order whose saga event is being applied right now is left to it.
// The orders come without their lines.
func (s *Store) LockTimedOut(ctx context.Context, tx pgx.Tx, timeout time.Duration, limit int) ([]order.Order, error) {
	rows, err := tx.Query(ctx, `
		SELECT `+orderColumns+` FROM orders
		WHERE status = 'PENDING' AND created_at < now() - make_interval(secs => $1)
		ORDER BY created_at
		LIMIT $2
		FOR UPDATE SKIP LOCKED`,
		timeout.Seconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("lock timed-out orders: %w", err)
	}
	orders, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (order.Order, error) { return scanOrder(row) })
	if err != nil {
		return nil, fmt.Errorf("lock timed-out orders: %w", err)
	}
	return orders, nil
}

// SetStatus moves order id to status with reason, inside tx, and returns the order as it now
// is, without its lines. The caller has locked the order and checked the transition with
// order.Status.Next.
func (s *Store) SetStatus(ctx context.Context, tx pgx.Tx, id uuid.UUID, status order.Status, reason string) (order.Order, error) {
	o, err := scanOrder(tx.QueryRow(ctx, `
		UPDATE orders SET status = $2, reason = $3, updated_at = now()
		WHERE id = $1
		RETURNING `+orderColumns,
		id, string(status), reason))
	if errors.Is(err, pgx.ErrNoRows) {
		return order.Order{}, fmt.Errorf("order %s: %w", id, order.ErrNotFound)
	}
	if err != nil {
		return order.Order{}, fmt.Errorf("set order %s to %s: %w", id, status, err)
	}
	return o, nil
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
	dest := append([]any{&o.ID, &o.UserID, &status, &o.Reason, &o.TotalCents, &o.CreatedAt, &o.UpdatedAt}, extra...)
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
