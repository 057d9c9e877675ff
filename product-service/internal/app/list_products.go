package app

import (
	"context"

	"github.com/tracecart/tracecart/product-service/internal/domain/catalog"
)

// ListProducts returns one page of the catalogue: the products matching f, in name order, and
// how many match in all. f must be valid (catalog.Filter.Validate); the HTTP adapter refuses a
// query that is not with 400 before asking.
func (a *App) ListProducts(ctx context.Context, f catalog.Filter) (catalog.Page, error) {
	return a.products.List(ctx, f)
}
