package auth

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/shared/httpserver"
)

// CallerID returns the ID of the user whose token Middleware verified for this request: the
// token's subject. The error wraps httpserver.ErrUnauthorized, so httpserver.WriteError answers
// it with 401, when ctx carries no verified token or its subject is not a user ID.
func CallerID(ctx context.Context) (uuid.UUID, error) {
	claims, ok := ClaimsFrom(ctx)
	if !ok {
		return uuid.Nil, fmt.Errorf("no verified token: %w", httpserver.ErrUnauthorized)
	}
	id, err := uuid.Parse(claims.Subject)
	if err != nil {
		return uuid.Nil, fmt.Errorf("the token's subject is not a user ID: %w", httpserver.ErrUnauthorized)
	}
	return id, nil
}
