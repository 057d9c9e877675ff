package app

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/product-service/internal/domain/catalog"
)

// AdjustStock adds delta to product id's available stock, a restock or a write-off, following
// catalog.AdjustStock, and returns the product as it now is. The product stays locked from the
// check to the write, so a reservation running at the same time cannot slip in between.
func (a *App) AdjustStock(ctx context.Context, id uuid.UUID, delta int64) (catalog.Product, error) {
	var adjusted catalog.Product
	err := a.products.Update(ctx, id, func(p *catalog.Product) error {
		stock, err := catalog.AdjustStock(p.Stock, delta)
		if err != nil {
			return fmt.Errorf("product %s: %w", id, err)
		}
		p.Stock = stock
		adjusted = *p
		return nil
	})
	if err != nil {
		return catalog.Product{}, fmt.Errorf("adjust stock: %w", err)
	}
	return adjusted, nil
}
