package app

import (
	"context"
	"fmt"

	"github.com/tracecart/tracecart/user-service/internal/domain/account"
)

// SeedDemoUsers creates the demo users (account.DemoUsers) that do not exist yet and returns how
// many it created. Existing users, demo or not, are left alone, so running it at every start
// changes nothing. Seeding is not a registration: it announces no user.registered.
func (a *App) SeedDemoUsers(ctx context.Context) (created int, err error) {
	for _, d := range account.DemoUsers() {
		hash, err := a.hasher.Hash(account.DemoPassword)
		if err != nil {
			return created, fmt.Errorf("seed %s: %w", d.Email, err)
		}
		d.PasswordHash = hash
		ok, err := a.users.SeedUser(ctx, d.User, d.InitialBalanceCents)
		if err != nil {
			return created, fmt.Errorf("seed %s: %w", d.Email, err)
		}
		if ok {
			created++
		}
	}
	return created, nil
}
