package app

import (
	"context"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/user-service/internal/domain/account"
)

// GetUser returns one account, balance included and password hash excluded, or
// account.ErrNotFound. Who may read whom is decided at the HTTP edge (oneself, or anyone for an
// admin).
func (a *App) GetUser(ctx context.Context, id uuid.UUID) (account.User, error) {
	return a.users.UserByID(ctx, id)
}
