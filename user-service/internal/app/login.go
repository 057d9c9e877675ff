package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/tracecart/tracecart/user-service/internal/domain/account"
)

// Login exchanges an email address and a password for an access token. Every failure, unknown
// address or wrong password, is the same account.ErrInvalidCredentials.
func (a *App) Login(ctx context.Context, email, password string) (Token, error) {
	u, err := a.Authenticate(ctx, email, password)
	if err != nil {
		return Token{}, err
	}
	return a.tokens.Issue(u.ID, u.Roles)
}

// Authenticate returns the user with this email address and password, or
// account.ErrInvalidCredentials. It does the same hashing work whether or not the address is
// known, so the time it takes does not tell an attacker which addresses have accounts.
//
// An address that registration would refuse is refused here too (account.ErrInvalid), before
// the store is asked or a hash computed: no account can have it, so saying so gives nothing
// away, and whatever the client sent never reaches the database.
func (a *App) Authenticate(ctx context.Context, email, password string) (account.User, error) {
	email = account.NormalizeEmail(email)
	if err := account.ValidateEmail(email); err != nil {
		return account.User{}, err
	}
	u, err := a.users.UserByEmail(ctx, email)
	switch {
	case errors.Is(err, account.ErrNotFound):
		_, _ = a.hasher.Verify(password, a.decoy)
		return account.User{}, account.ErrInvalidCredentials
	case err != nil:
		return account.User{}, fmt.Errorf("authenticate: %w", err)
	}
	ok, err := a.hasher.Verify(password, u.PasswordHash)
	if err != nil {
		return account.User{}, fmt.Errorf("authenticate user %s: %w", u.ID, err)
	}
	if !ok {
		return account.User{}, account.ErrInvalidCredentials
	}
	u.PasswordHash = ""
	return u, nil
}
