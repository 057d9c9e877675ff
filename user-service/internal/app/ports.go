package app

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/user-service/internal/domain/account"
	"github.com/tracecart/tracecart/user-service/internal/domain/wallet"
)

// The ports: what the use cases need from the world, as small interfaces. adapters/postgres
// implements the three repositories, adapters/password the hasher and adapters/token the token
// issuer. No port mentions a transaction: a repository that writes runs in its own transaction,
// or joins the one in ctx (the saga consumer's, which also records the event in the inbox).

// Users stores accounts.
type Users interface {
	// CreateUser stores a new user with its password hash and an initial balance, and writes
	// announce to the outbox in the same transaction. If the email address already has an
	// account it writes nothing and returns account.ErrEmailTaken.
	CreateUser(ctx context.Context, u account.User, initialBalanceCents int64, announce ...events.Message) error
	// SeedUser stores u unless a user with its ID or email address exists, and reports whether
	// it did; seeding twice changes nothing.
	SeedUser(ctx context.Context, u account.User, initialBalanceCents int64) (created bool, err error)
	// UserByEmail returns the user with a normalised email address, PasswordHash included, or
	// account.ErrNotFound.
	UserByEmail(ctx context.Context, email string) (account.User, error)
	// UserByID returns the user with this ID, without its password hash, or account.ErrNotFound.
	UserByID(ctx context.Context, id uuid.UUID) (account.User, error)
	// ListUsers returns at most limit users whose IDs come after after, in ID order, without
	// their password hashes. uuid.Nil as after starts at the beginning.
	ListUsers(ctx context.Context, after uuid.UUID, limit int) ([]account.User, error)
}

// Wallets stores balances and their ledger.
type Wallets interface {
	// Wallet returns a user's balance and their latest transactions, newest first, at most limit
	// of them, read in one snapshot so the list explains the balance; account.ErrNotFound for an
	// unknown user.
	Wallet(ctx context.Context, userID uuid.UUID, limit int) (balanceCents int64, txs []wallet.Transaction, err error)
	// UpdateWallet loads and locks the user's wallet (with the earlier top-up made with
	// idempotencyKey, if there is one), runs decide, then saves the balance and the entry decide
	// added, and writes the events it returns to the outbox, all in one transaction. An error
	// from decide writes nothing. account.ErrNotFound for an unknown user.
	UpdateWallet(ctx context.Context, userID uuid.UUID, idempotencyKey string,
		decide func(w *wallet.Wallet) ([]events.Message, error)) error
}

// Payments stores the payment step's record of each order.
type Payments interface {
	// UpdatePayment loads and locks the order's payment and the payer's wallet (the payment's
	// user, or userID when the order has no payment yet), runs decide, then saves the payment,
	// the balance and the ledger entry decide changed, and writes the events it returns to the
	// outbox, all in one transaction. An error from decide writes nothing.
	UpdatePayment(ctx context.Context, orderID, userID uuid.UUID,
		decide func(op *wallet.OrderPayment) ([]events.Message, error)) error
}

// PasswordHasher hashes passwords and checks them against a stored hash.
type PasswordHasher interface {
	Hash(password string) (string, error)
	// Verify reports whether password matches encoded; an error means encoded is not a hash
	// it can check (a fault of the stored data, not a wrong password).
	Verify(password, encoded string) (bool, error)
}

// Tokens signs access tokens for authenticated users.
type Tokens interface {
	Issue(userID uuid.UUID, roles []string) (Token, error)
}

// Token is a signed access token and how long it lives.
type Token struct {
	AccessToken string
	ExpiresIn   time.Duration
}

// Declines is a demo fault, the payment-declines scenario: it tells whether the payment of an
// order is to be declined, as a card issuer would decline it, whatever the wallet holds. The
// answer must depend on the order alone, so that a redelivered event gets the same one.
// adapters/faults implements it from the scenario flags.
type Declines interface {
	Declined(ctx context.Context, orderID uuid.UUID) bool
}
