package app

import (
	"context"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/product-service/internal/domain/catalog"
)

// GetProduct returns product id, or an error wrapping catalog.ErrNotFound.
func (a *App) GetProduct(ctx context.Context, id uuid.UUID) (catalog.Product, error) {
	return a.products.Get(ctx, id)
}
