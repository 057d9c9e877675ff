-- Events each consumer has already applied. A row is written in the same transaction as the
-- event's effect, so "processed" and "applied" can never disagree.
CREATE TABLE processed_events (
    consumer     text        NOT NULL,
    event_id     text        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
