-- The W3C trace context (traceparent, tracestate) of the request that placed the order. Work
-- done for the order later with no message to carry the context, such as cancelling a saga that
-- timed out, continues the order's own trace from here: one order, one trace.
ALTER TABLE orders ADD COLUMN trace_context jsonb NOT NULL DEFAULT '{}';
