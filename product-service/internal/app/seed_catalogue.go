package app

import (
	"context"

	"github.com/tracecart/tracecart/product-service/internal/domain/catalog"
)

// SeedCatalogue inserts the products that are not in the catalogue yet and leaves the others
// alone, so running it at every start-up changes nothing once it has run: stock sold since is
// not put back, and an admin's edits stay. It returns how many products it inserted. The demo
// uses it with catalog.DemoProducts.
func (a *App) SeedCatalogue(ctx context.Context, products []catalog.Product) (inserted int, err error) {
	return a.products.Seed(ctx, products)
}
