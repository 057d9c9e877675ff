package app

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/product-service/internal/domain/catalog"
)

// UpdateProduct replaces the editable details of product id (an admin's edit) and returns the
// product as it now is. Its stock is not among them: it changes through AdjustStock and the
// saga only.
func (a *App) UpdateProduct(ctx context.Context, id uuid.UUID, details catalog.Details) (catalog.Product, error) {
	if err := details.Validate(); err != nil {
		return catalog.Product{}, err
	}
	var updated catalog.Product
	err := a.products.Update(ctx, id, func(p *catalog.Product) error {
		p.Details = details
		updated = *p
		return nil
	})
	if err != nil {
		return catalog.Product{}, fmt.Errorf("update product: %w", err)
	}
	return updated, nil
}
