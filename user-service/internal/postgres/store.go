// Package postgres is user-service's storage adapter: accounts, wallets and their ledger, and
// the payment rows of the order saga, in plain SQL through pgx.
//
// The money rules themselves live in package wallet; the methods here read the current state
// under the right row locks, ask wallet what to do, and write the answer, so that two requests
// or events touching the same wallet at once are applied one after the other and a balance
// never goes negative (the schema's CHECK constraint is the last line of defence).
package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tracecart/tracecart/user-service/internal/account"
)

// Store is user-service's database. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
}

// The account use cases store users here.
var _ account.Users = (*Store)(nil)

// New returns a Store on pool. The schema must be migrated (package migrations).
func New(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool}
}

// uniqueViolation is Postgres's SQLSTATE for a duplicate key.
const uniqueViolation = "23505"

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == uniqueViolation
}

// CreateUser stores a new user, returning account.ErrEmailTaken if the email has an account.
func (s *Store) CreateUser(ctx context.Context, u account.User, initialBalanceCents int64) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO users (id, email, name, password_hash, roles, balance_cents, initial_balance_cents)
		VALUES ($1, $2, $3, $4, $5, $6, $6)`,
		u.ID, u.Email, u.Name, u.PasswordHash, u.Roles, initialBalanceCents)
	switch {
	case isUniqueViolation(err):
		return fmt.Errorf("create user %s: %w", u.Email, account.ErrEmailTaken)
	case err != nil:
		return fmt.Errorf("create user %s: %w", u.Email, err)
	}
	return nil
}

// SeedUser stores u unless a user with its ID or email exists, and reports whether it did.
func (s *Store) SeedUser(ctx context.Context, u account.User, initialBalanceCents int64) (bool, error) {
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO users (id, email, name, password_hash, roles, balance_cents, initial_balance_cents)
		VALUES ($1, $2, $3, $4, $5, $6, $6)
		ON CONFLICT DO NOTHING`,
		u.ID, u.Email, u.Name, u.PasswordHash, u.Roles, initialBalanceCents)
	if err != nil {
		return false, fmt.Errorf("seed user %s: %w", u.Email, err)
	}
	return tag.RowsAffected() == 1, nil
}

// UserByEmail returns the user with this normalised email address, password hash included.
func (s *Store) UserByEmail(ctx context.Context, email string) (account.User, error) {
	var u account.User
	err := s.pool.QueryRow(ctx, `
		SELECT id, email, name, roles, balance_cents, password_hash FROM users WHERE email = $1`, email,
	).Scan(&u.ID, &u.Email, &u.Name, &u.Roles, &u.BalanceCents, &u.PasswordHash)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return account.User{}, account.ErrNotFound
	case err != nil:
		return account.User{}, fmt.Errorf("find user by email: %w", err)
	}
	return u, nil
}

// UserByID returns the user with this ID, without the password hash.
func (s *Store) UserByID(ctx context.Context, id uuid.UUID) (account.User, error) {
	var u account.User
	err := s.pool.QueryRow(ctx, `
		SELECT id, email, name, roles, balance_cents FROM users WHERE id = $1`, id,
	).Scan(&u.ID, &u.Email, &u.Name, &u.Roles, &u.BalanceCents)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return account.User{}, fmt.Errorf("user %s: %w", id, account.ErrNotFound)
	case err != nil:
		return account.User{}, fmt.Errorf("find user %s: %w", id, err)
	}
	return u, nil
}
