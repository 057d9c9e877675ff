-- Orders and where their saga stands. Money is in integer cents; timestamps come from the
-- database's clock, so every instance of the service (and the saga timeout) agrees on them.
CREATE TABLE orders (
    id              uuid        PRIMARY KEY,
    user_id         uuid        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('PENDING', 'CONFIRMED', 'REJECTED', 'CANCELLED')),
    -- Why the order ended REJECTED or CANCELLED; empty otherwise.
    reason          text        NOT NULL DEFAULT '',
    total_cents     bigint      NOT NULL CHECK (total_cents >= 0),
    -- The client's Idempotency-Key, if it sent one, and a hash of the request it came with: a
    -- repeat with the same key returns this order, a different request with it is refused.
    idempotency_key text,
    request_hash    bytea,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((idempotency_key IS NULL) = (request_hash IS NULL)),
    -- NULL keys are distinct, so orders without a key never conflict.
    CONSTRAINT orders_idempotency UNIQUE (user_id, idempotency_key)
);

-- A customer's orders, newest first (GET /orders).
CREATE INDEX orders_by_user ON orders (user_id, created_at DESC, id DESC);

-- The saga timeout sweeps PENDING orders oldest first, and the pending gauges count them; the
-- index holds only orders in flight, so it stays small however many orders have ended.
CREATE INDEX orders_pending ON orders (created_at) WHERE status = 'PENDING';

-- The lines of an order, priced when it was placed. line_no keeps the order of the request.
CREATE TABLE order_lines (
    order_id         uuid    NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line_no          integer NOT NULL,
    product_id       uuid    NOT NULL,
    quantity         integer NOT NULL CHECK (quantity BETWEEN 1 AND 100),
    unit_price_cents bigint  NOT NULL CHECK (unit_price_cents >= 0),
    PRIMARY KEY (order_id, line_no),
    UNIQUE (order_id, product_id)
);
