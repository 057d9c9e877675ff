-- The transactional outbox: events written in the same transaction as the state change they
-- announce, and published to Kafka by the relay afterwards.
CREATE TABLE outbox (
    id           uuid        PRIMARY KEY,
    -- seq keeps the order in which rows were written, also among the rows of one transaction
    -- (which all share the same created_at), so events with the same key reach Kafka in order.
    seq          bigint      GENERATED ALWAYS AS IDENTITY,
    topic        text        NOT NULL,
    key          text        NOT NULL,
    payload      bytea       NOT NULL,
    -- Kafka headers: traceparent/tracestate of the writer's span, event-id, event-type.
    headers      jsonb       NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);

-- The relay only ever looks for unpublished rows, oldest first; published rows drop out of this
-- index, so it stays as small as the backlog.
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
