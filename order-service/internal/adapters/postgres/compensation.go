package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tracecart/tracecart/order-service/internal/app"
	"github.com/tracecart/tracecart/order-service/internal/domain/order"
	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/outbox"
	pgkit "github.com/tracecart/tracecart/shared/postgres"
)

// RecordCompensation records that another service reported compensation c for order id. The first report's time is kept. An order this service does not have is not an
// error: the report is informational, and there is nothing to settle.
func (s *Store) RecordCompensation(ctx context.Context, id uuid.UUID, c order.Compensation) error {
	var sql string
	switch c {
	case order.Refunded:
		sql = `UPDATE orders SET refunded_at = COALESCE(refunded_at, now()) WHERE id = $1`
	case order.Released:
		sql = `UPDATE orders SET released_at = COALESCE(released_at, now()) WHERE id = $1`
	default:
		return fmt.Errorf("record compensation of order %s: unknown compensation %q", id, c)
	}
	return pgkit.Atomic(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sql, id); err != nil {
			return fmt.Errorf("record %s of order %s: %w", c, id, err)
		}
		return nil
	})
}

// owedCondition selects CANCELLED orders that were paid and are still owed a compensation; it
// matches the orders_owed_compensation index.
const owedCondition = `status = 'CANCELLED' AND paid_at IS NOT NULL AND (refunded_at IS NULL OR released_at IS NULL)`

// LockOwed locks up to limit orders owed a compensation whose next announcement is due (the
// first grace after the later of their cancellation and their payment, then when the previous
// announcement scheduled it) and that have been announced again fewer than maxAttempts times,
// oldest first. Orders another transaction holds are skipped, so several reconcilers never take
// the same order. The orders come without their lines, with their stored trace context. Call
// it inside Atomic: the locks last as long as the transaction.
func (s *Store) LockOwed(ctx context.Context, grace time.Duration, maxAttempts, limit int) ([]app.Locked, error) {
	return lockBatch(ctx, s.pool, "orders owed a compensation", `
		SELECT `+orderColumns+`, reannounced, trace_context FROM orders
		WHERE `+owedCondition+` AND reannounced < $2
			AND COALESCE(reannounce_at, greatest(updated_at, paid_at) + make_interval(secs => $1)) <= now()
		ORDER BY updated_at
		LIMIT $3
		FOR UPDATE SKIP LOCKED`,
		grace.Seconds(), maxAttempts, limit)
}

// MarkReannounced writes msgs, order.cancelled announced again for order id, which the caller
// has locked, to the outbox, and records that the next announcement is due after next.
func (s *Store) MarkReannounced(ctx context.Context, id uuid.UUID, next time.Duration, msgs ...events.Message) error {
	return pgkit.Atomic(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		if err := outbox.Add(ctx, tx, msgs...); err != nil {
			return fmt.Errorf("order %s: %w", id, err)
		}
		_, err := tx.Exec(ctx, `
			UPDATE orders SET reannounced = reannounced + 1, reannounce_at = now() + make_interval(secs => $2)
			WHERE id = $1`, id, next.Seconds())
		if err != nil {
			return fmt.Errorf("mark order %s re-announced: %w", id, err)
		}
		return nil
	})
}

// OwedStats returns, for the reconciliation gauges, how many orders are owed a compensation
// for longer than grace after their cancellation or payment (stuck), and how many of those the
// reconciler has given up on: announced again maxAttempts times, the wait after the last one
// over.
func (s *Store) OwedStats(ctx context.Context, grace time.Duration, maxAttempts int) (stuck, givenUp int64, err error) {
	err = s.pool.QueryRow(ctx, `
		SELECT count(*), count(*) FILTER (WHERE reannounced >= $2 AND reannounce_at <= now())
		FROM orders
		WHERE `+owedCondition+` AND greatest(updated_at, paid_at) + make_interval(secs => $1) <= now()`,
		grace.Seconds(), maxAttempts).Scan(&stuck, &givenUp)
	if err != nil {
		return 0, 0, fmt.Errorf("count orders owed a compensation: %w", err)
	}
	return stuck, givenUp, nil
}
