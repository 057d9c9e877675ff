-- Parking: a row that Kafka refuses for reasons of its own (a topic that does not exist, a
-- message too large) must not block every row behind it. The relay counts its failed attempts,
-- keeps the last error for whoever investigates, and sets retry_at to try again later, with
-- backoff, until the cause is fixed. Rows with the same key behind a parked row wait for it, so one
-- order's events still reach Kafka in order.
ALTER TABLE outbox
    ADD COLUMN attempts   integer     NOT NULL DEFAULT 0,
    ADD COLUMN last_error text,
    ADD COLUMN retry_at   timestamptz;

CREATE INDEX outbox_unpublished_key ON outbox (key, seq) WHERE published_at IS NULL;
