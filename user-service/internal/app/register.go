package app

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/user-service/internal/domain/account"
)

// Register creates a customer account with a zero balance and returns it, without its password
// hash. The account and its user.registered event are written in one transaction: the event is
// published if and only if the account exists (a taken email address writes neither).
func (a *App) Register(ctx context.Context, r account.Registration) (account.User, error) {
	r = r.Normalize()
	if err := r.Validate(); err != nil {
		return account.User{}, err
	}
	hash, err := a.hasher.Hash(r.Password)
	if err != nil {
		return account.User{}, fmt.Errorf("register %s: %w", r.Email, err)
	}
	u := account.User{ID: uuid.New(), Email: r.Email, Name: r.Name, Roles: []string{account.RoleCustomer}, PasswordHash: hash}
	registered, err := events.NewUserMessage(events.UserRegistered, u.ID,
		events.UserRegisteredPayload{UserID: u.ID, Role: account.RoleCustomer})
	if err != nil {
		return account.User{}, fmt.Errorf("register: %w", err)
	}
	if err := a.users.CreateUser(ctx, u, 0, registered); err != nil {
		return account.User{}, fmt.Errorf("register: %w", err)
	}
	u.PasswordHash = ""
	return u, nil
}
