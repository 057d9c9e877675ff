-- The catalogue and its stock. stock is what is still available to reserve; sold is what left
-- for good. A reservation moves quantity out of stock at once, so "stock >= 0" is the rule that
-- keeps the shop from selling what it does not have, and Postgres enforces it as well as the code.
-- Once every order of the saga is settled, the stock a product started with is stock + sold.
CREATE TABLE products (
    id          uuid        PRIMARY KEY,
    name        text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    description text        NOT NULL DEFAULT '',
    category    text        NOT NULL,
    price_cents bigint      NOT NULL CHECK (price_cents BETWEEN 1 AND 100000000),
    stock       bigint      NOT NULL CHECK (stock >= 0),
    sold        bigint      NOT NULL DEFAULT 0 CHECK (sold >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The catalogue is listed in name order, optionally within one category.
CREATE INDEX products_by_name ON products (name, id);
CREATE INDEX products_by_category ON products (category, name, id);

-- One row per order the saga has told this service about: what it reserved (lines, merged per
-- product, as JSON [{"product_id": ..., "quantity": ...}]) and where that reservation stands.
-- A CANCELLED row with no lines is a tombstone: the order was cancelled before its
-- order.created arrived, and the row makes that late order.created reserve nothing.
CREATE TABLE reservations (
    order_id   uuid        PRIMARY KEY,
    status     text        NOT NULL CHECK (status IN
                   ('RESERVED', 'SOLD', 'RELEASED', 'RESTOCKED', 'REJECTED', 'CANCELLED')),
    lines      jsonb       NOT NULL DEFAULT '[]',
    -- Why a REJECTED reservation was refused: out_of_stock or unknown_product.
    reason     text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
