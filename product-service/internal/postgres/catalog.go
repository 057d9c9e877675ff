// Package postgres stores product-service's catalogue and inventory in PostgreSQL. It holds SQL
// and the mapping between rows and the domain types of packages catalog and inventory; the
// rules themselves stay in those packages.
package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tracecart/tracecart/product-service/internal/catalog"
	"github.com/tracecart/tracecart/product-service/internal/httpapi"
	sharedpg "github.com/tracecart/tracecart/shared/postgres"
)

// Catalog is the catalogue the HTTP API reads and admins edit.
type Catalog struct {
	pool *pgxpool.Pool
}

var _ httpapi.Catalog = (*Catalog)(nil)

// NewCatalog returns the catalogue stored in pool's database.
func NewCatalog(pool *pgxpool.Pool) *Catalog {
	return &Catalog{pool: pool}
}

// productColumns are the columns scanProduct reads, in its order.
const productColumns = `id, name, description, category, price_cents, stock, sold`

func scanProduct(row pgx.Row) (catalog.Product, error) {
	var p catalog.Product
	err := row.Scan(&p.ID, &p.Name, &p.Description, &p.Category, &p.PriceCents, &p.Stock, &p.Sold)
	return p, err
}

// notFound turns "no row" into catalog.ErrNotFound for product id.
func notFound(id uuid.UUID, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("product %s: %w", id, catalog.ErrNotFound)
	}
	return err
}

// matching is the WHERE clause of a listing, with every filter of catalog.Filter as a parameter
// that is switched off by its zero value, so the statement stays one fixed, readable string.
// The name search uses position() rather than ILIKE so that % and _ in the search text are
// plain characters.
const matching = `
	WHERE ($1 = '' OR category = $1)
	  AND ($2 = '' OR position(lower($2) IN lower(name)) > 0)
	  AND ($3::bigint IS NULL OR price_cents >= $3)
	  AND ($4::bigint IS NULL OR price_cents <= $4)`

// List returns one page of the products matching f, in name order, and how many match in all.
// f must be valid (catalog.Filter.Validate).
func (c *Catalog) List(ctx context.Context, f catalog.Filter) (catalog.Page, error) {
	page := catalog.Page{Items: []catalog.Product{}}
	args := []any{f.Category, f.Query, f.MinPriceCents, f.MaxPriceCents}
	// One snapshot for both queries, so the total agrees with the page.
	tx, err := c.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return catalog.Page{}, fmt.Errorf("list products: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }() // read-only: nothing to commit

	if err := tx.QueryRow(ctx, `SELECT count(*) FROM products`+matching, args...).Scan(&page.Total); err != nil {
		return catalog.Page{}, fmt.Errorf("count products: %w", err)
	}
	rows, err := tx.Query(ctx,
		`SELECT `+productColumns+` FROM products`+matching+` ORDER BY name, id LIMIT $5 OFFSET $6`,
		append(args, f.Limit, f.Offset)...)
	if err != nil {
		return catalog.Page{}, fmt.Errorf("list products: %w", err)
	}
	for rows.Next() {
		p, err := scanProduct(rows)
		if err != nil {
			rows.Close()
			return catalog.Page{}, fmt.Errorf("list products: %w", err)
		}
		page.Items = append(page.Items, p)
	}
	if err := rows.Err(); err != nil {
		return catalog.Page{}, fmt.Errorf("list products: %w", err)
	}
	return page, nil
}

// Get returns the product with ID id, or an error wrapping catalog.ErrNotFound.
func (c *Catalog) Get(ctx context.Context, id uuid.UUID) (catalog.Product, error) {
	p, err := scanProduct(c.pool.QueryRow(ctx, `SELECT `+productColumns+` FROM products WHERE id = $1`, id))
	if err != nil {
		return catalog.Product{}, fmt.Errorf("get product: %w", notFound(id, err))
	}
	return p, nil
}

// Create stores a new product (see catalog.New).
func (c *Catalog) Create(ctx context.Context, p catalog.Product) error {
	_, err := c.pool.Exec(ctx,
		`INSERT INTO products (id, name, description, category, price_cents, stock, sold)
		 VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		p.ID, p.Name, p.Description, p.Category, p.PriceCents, p.Stock, p.Sold)
	if err != nil {
		return fmt.Errorf("create product %s: %w", p.ID, err)
	}
	return nil
}

// Update replaces the editable details of product id and returns the product as it now is.
func (c *Catalog) Update(ctx context.Context, id uuid.UUID, d catalog.Details) (catalog.Product, error) {
	p, err := scanProduct(c.pool.QueryRow(ctx,
		`UPDATE products SET name = $2, description = $3, category = $4, price_cents = $5, updated_at = now()
		 WHERE id = $1
		 RETURNING `+productColumns,
		id, d.Name, d.Description, d.Category, d.PriceCents))
	if err != nil {
		return catalog.Product{}, fmt.Errorf("update product: %w", notFound(id, err))
	}
	return p, nil
}

// AdjustStock adds delta to product id's available stock, following catalog.AdjustStock, and
// returns the product as it now is. The row is locked while the rule is checked, so a
// reservation running at the same time cannot slip in between the check and the write.
func (c *Catalog) AdjustStock(ctx context.Context, id uuid.UUID, delta int64) (catalog.Product, error) {
	var p catalog.Product
	err := sharedpg.InTx(ctx, c.pool, func(tx pgx.Tx) error {
		var stock int64
		err := tx.QueryRow(ctx, `SELECT stock FROM products WHERE id = $1 FOR UPDATE`, id).Scan(&stock)
		if err != nil {
			return notFound(id, err)
		}
		stock, err = catalog.AdjustStock(stock, delta)
		if err != nil {
			return fmt.Errorf("product %s: %w", id, err)
		}
		p, err = scanProduct(tx.QueryRow(ctx,
			`UPDATE products SET stock = $2, updated_at = now() WHERE id = $1 RETURNING `+productColumns,
			id, stock))
		return err
	})
	if err != nil {
		return catalog.Product{}, fmt.Errorf("adjust stock: %w", err)
	}
	return p, nil
}

// Seed inserts the products that are not in the catalogue yet and leaves the others alone, so
// running it at every start-up changes nothing once it has run: stock sold since is not put
// back, and an admin's edits stay. It returns how many products it inserted.
func (c *Catalog) Seed(ctx context.Context, products []catalog.Product) (inserted int, err error) {
	err = sharedpg.InTx(ctx, c.pool, func(tx pgx.Tx) error {
		for _, p := range products {
			tag, err := tx.Exec(ctx,
				`INSERT INTO products (id, name, description, category, price_cents, stock, sold)
				 VALUES ($1, $2, $3, $4, $5, $6, $7)
				 ON CONFLICT (id) DO NOTHING`,
				p.ID, p.Name, p.Description, p.Category, p.PriceCents, p.Stock, p.Sold)
			if err != nil {
				return fmt.Errorf("product %s: %w", p.ID, err)
			}
			inserted += int(tag.RowsAffected())
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("seed products: %w", err)
	}
	return inserted, nil
}
