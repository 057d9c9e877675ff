-- Accounts, their wallets, and the payment step of the order saga.

CREATE TABLE users (
    id                    uuid        PRIMARY KEY,
    -- Stored normalised (trimmed, lower-case); the CHECK makes a forgotten normalisation a loud
    -- error instead of a second account for the same person.
    email                 text        NOT NULL UNIQUE CHECK (email = lower(btrim(email))),
    name                  text        NOT NULL,
    -- A PHC string: $argon2id$v=19$m=...,t=...,p=...$salt$hash
    password_hash         text        NOT NULL,
    roles                 text[]      NOT NULL DEFAULT '{customer}',
    -- The wallet. It can never go negative, whatever the code above it does.
    balance_cents         bigint      NOT NULL DEFAULT 0 CHECK (balance_cents >= 0),
    -- The balance the account was created with (seeded demo money; 0 for registrations), so
    -- the ledger below explains the balance on its own:
    --   initial + top-ups - debits + refunds = balance
    initial_balance_cents bigint      NOT NULL DEFAULT 0 CHECK (initial_balance_cents >= 0),
    created_at            timestamptz NOT NULL DEFAULT now()
);

-- The wallet ledger: every change of a balance, in the order it happened.
CREATE TABLE wallet_transactions (
    id                  uuid        PRIMARY KEY,
    seq                 bigint      GENERATED ALWAYS AS IDENTITY,
    user_id             uuid        NOT NULL REFERENCES users (id),
    kind                text        NOT NULL CHECK (kind IN ('topup', 'debit', 'refund')),
    amount_cents        bigint      NOT NULL CHECK (amount_cents > 0),
    balance_after_cents bigint      NOT NULL CHECK (balance_after_cents >= 0),
    order_id            uuid,
    -- The client's Idempotency-Key of a top-up: the same key for the same user is one top-up.
    idempotency_key     text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'topup') = (order_id IS NULL)),
    CHECK (kind = 'topup' OR idempotency_key IS NULL)
);

-- "The last N transactions of a user", newest first.
CREATE INDEX wallet_transactions_by_user ON wallet_transactions (user_id, seq DESC);
CREATE UNIQUE INDEX wallet_transactions_idempotency_key
    ON wallet_transactions (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
-- At most one debit and one refund per order, whatever arrives twice: the inbox already makes
-- each event's effect happen once, and this makes "once per order" a property of the data.
CREATE UNIQUE INDEX wallet_transactions_once_per_order
    ON wallet_transactions (order_id, kind) WHERE order_id IS NOT NULL;

-- One row per order that reached the payment step, or was cancelled before it did.
CREATE TABLE payments (
    order_id     uuid        PRIMARY KEY,
    -- No foreign key: a payment.failed for an unknown user, and a cancellation tombstone, are
    -- recorded for user IDs this service may not have.
    user_id      uuid        NOT NULL,
    amount_cents bigint      NOT NULL CHECK (amount_cents >= 0),
    -- PAID -> REFUNDED; FAILED and CANCELLED (a tombstone: cancelled before the reservation
    -- arrived, so a late one takes no money) are final.
    status       text        NOT NULL CHECK (status IN ('PAID', 'FAILED', 'REFUNDED', 'CANCELLED')),
    reason       text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX payments_by_user ON payments (user_id);
