// Package postgres is user-service's storage adapter: the repositories of package app
// (accounts, wallets and their ledger, and the payment rows of the order saga) in plain SQL
// through pgx.
//
// It makes no decision. An Update method loads the current state under the right row locks,
// runs the use case's closure (which asks package wallet what to do), then writes what changed
// and the events the closure returned (outbox.Add), all in one transaction (postgres.Atomic,
// which joins the saga consumer's transaction when there is one). So two requests or events
// touching the same wallet at once are applied one after the other, and a balance never goes
// negative (the schema's CHECK constraint is the last line of defence).
package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/outbox"
	"github.com/tracecart/tracecart/shared/postgres"
	"github.com/tracecart/tracecart/user-service/internal/app"
	"github.com/tracecart/tracecart/user-service/internal/domain/account"
)

// Store is user-service's database. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
}

// The use cases store users, wallets and payments here.
var (
	_ app.Users    = (*Store)(nil)
	_ app.Wallets  = (*Store)(nil)
	_ app.Payments = (*Store)(nil)
)

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

// CreateUser stores a new user and the events announcing it, returning account.ErrEmailTaken,
// and writing nothing, if the email has an account.
func (s *Store) CreateUser(ctx context.Context, u account.User, initialBalanceCents int64, announce ...events.Message) error {
	return postgres.Atomic(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO users (id, email, name, password_hash, roles, balance_cents, initial_balance_cents)
			VALUES ($1, $2, $3, $4, $5, $6, $6)`,
			u.ID, u.Email, u.Name, u.PasswordHash, u.Roles, initialBalanceCents)
		switch {
		case isUniqueViolation(err):
			return fmt.Errorf("create user %s: %w", u.Email, account.ErrEmailTaken)
		case err != nil:
			return fmt.Errorf("create user %s: %w", u.Email, err)
		}
		return outbox.Add(ctx, tx, announce...)
	})
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

// ListUsers returns at most limit users with IDs after after, in ID order, without their
// password hashes.
func (s *Store) ListUsers(ctx context.Context, after uuid.UUID, limit int) ([]account.User, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, email, name, roles, balance_cents FROM users WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	users, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (account.User, error) {
		var u account.User
		err := row.Scan(&u.ID, &u.Email, &u.Name, &u.Roles, &u.BalanceCents)
		return u, err
	})
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return users, nil
}
