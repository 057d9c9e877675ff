package app

import (
	"context"

	"github.com/tracecart/tracecart/product-service/internal/domain/catalog"
)

// CreateProduct adds a product with details and an initial stock to the catalogue (an admin's
// edit) and returns it with its new ID. Details or a stock that break a rule of the catalogue
// are a *catalog.ValidationError.
func (a *App) CreateProduct(ctx context.Context, details catalog.Details, stock int64) (catalog.Product, error) {
	p, err := catalog.New(details, stock)
	if err != nil {
		return catalog.Product{}, err
	}
	if err := a.products.Create(ctx, p); err != nil {
		return catalog.Product{}, err
	}
	return p, nil
}
