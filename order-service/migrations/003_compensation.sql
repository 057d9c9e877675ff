-- What order-service hears of a cancelled order's compensations, for the reconciler that
-- announces order.cancelled again when they do not come (internal/saga/reconcile.go).
--
-- paid_at: when payment.succeeded arrived, whether it confirmed the order or came after the
-- saga timeout had cancelled it. refunded_at and released_at: when payment.refunded and
-- inventory.released arrived. A CANCELLED order with paid_at set is owed both.
ALTER TABLE orders
    ADD COLUMN paid_at     timestamptz,
    ADD COLUMN refunded_at timestamptz,
    ADD COLUMN released_at timestamptz,
    -- How often order.cancelled was announced again, and when the next may go out.
    ADD COLUMN reannounced    integer NOT NULL DEFAULT 0,
    ADD COLUMN reannounce_at  timestamptz;

-- Orders confirmed before this migration were paid. Orders already CANCELLED are left out of
-- reconciliation: their compensation events were never recorded, so they would all look owed.
UPDATE orders SET paid_at = updated_at WHERE status = 'CONFIRMED';

-- The reconciler and its gauges look only at cancelled, paid orders still owed a compensation;
-- an order leaves the index once both have been heard of.
CREATE INDEX orders_owed_compensation ON orders (updated_at)
    WHERE status = 'CANCELLED' AND paid_at IS NOT NULL AND (refunded_at IS NULL OR released_at IS NULL);
