package app

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/user-service/internal/domain/account"
)

// Bounds of a page of ListUsers.
const (
	DefaultUserPage = 20
	MaxUserPage     = 100
)

// UserPage is one page of the user list.
type UserPage struct {
	Users []account.User
	// Next is the after of the following page: the last user's ID on this one, or uuid.Nil when
	// this is the last page.
	Next uuid.UUID
}

// ListUsers returns up to limit (1 to MaxUserPage) users whose IDs come after after, in ID order,
// without their password hashes. The order is stable and a page starts after a known ID (keyset
// paging, not an offset), so users registering meanwhile never make a page repeat or skip one.
// Only admins may list users; the HTTP edge checks the role.
func (a *App) ListUsers(ctx context.Context, after uuid.UUID, limit int) (UserPage, error) {
	if limit < 1 || limit > MaxUserPage {
		return UserPage{}, fmt.Errorf("%w: limit must be 1 to %d, got %d", account.ErrInvalid, MaxUserPage, limit)
	}
	// One more than asked tells whether another page follows, without a count.
	users, err := a.users.ListUsers(ctx, after, limit+1)
	if err != nil {
		return UserPage{}, fmt.Errorf("list users: %w", err)
	}
	if len(users) <= limit {
		return UserPage{Users: users}, nil
	}
	return UserPage{Users: users[:limit], Next: users[limit-1].ID}, nil
}
