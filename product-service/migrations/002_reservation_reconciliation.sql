-- What the reconciler needs to settle a reservation whose saga events never arrived (see
-- internal/app/reconcile_reservations.go).
--
-- trace_context is the W3C trace context (traceparent, tracestate) of the order.created that
-- made the reservation, so the reconciler's work continues the order's own trace. Rows made
-- before this migration have none; their reconciliation starts a trace of its own.
ALTER TABLE reservations ADD COLUMN trace_context jsonb NOT NULL DEFAULT '{}';

-- When a reconciler last asked order-service about this reservation: a claim, so that several
-- instances do not all ask about the same one at once, and a single one asks at most once per
-- half interval while the order is undecided.
ALTER TABLE reservations ADD COLUMN checked_at timestamptz;

-- The reconciler and the stuck-reservation gauge look only at RESERVED rows, oldest first; the
-- index holds just those, so it stays as small as the payments in flight.
CREATE INDEX reservations_reserved ON reservations (updated_at) WHERE status = 'RESERVED';
