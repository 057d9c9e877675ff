// Package postgres stores product-service's catalogue and reservations in PostgreSQL: it
// implements the application's repositories (app.Products, app.Reservations). It holds SQL and
// the mapping between rows and the domain types of packages catalog and inventory; the rules
// stay in those packages and the decisions in the use cases, which the Update methods run
// between loading and saving, in one transaction (shared/postgres.Atomic).
package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tracecart/tracecart/product-service/internal/app"
	"github.com/tracecart/tracecart/product-service/internal/domain/catalog"
	sharedpg "github.com/tracecart/tracecart/shared/postgres"
)

// Catalog is the catalogue the HTTP API reads and admins edit.
type Catalog struct {
	pool *pgxpool.Pool
}

var _ app.Products = (*Catalog)(nil)

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

// Update locks product id, runs fn on it and saves its details and stock as fn left them, in
// one transaction. The row stays locked from the read to the write, so a reservation running at
// the same time cannot slip in between a rule's check and the write.
func (c *Catalog) Update(ctx context.Context, id uuid.UUID, fn func(p *catalog.Product) error) error {
	return sharedpg.Atomic(ctx, c.pool, func(ctx context.Context, tx pgx.Tx) error {
		p, err := scanProduct(tx.QueryRow(ctx, `SELECT `+productColumns+` FROM products WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return notFound(id, err)
		}
		if err := fn(&p); err != nil {
			return err
		}
		_, err = tx.Exec(ctx,
			`UPDATE products SET name = $2, description = $3, category = $4, price_cents = $5, stock = $6, updated_at = now()
			 WHERE id = $1`,
			id, p.Name, p.Description, p.Category, p.PriceCents, p.Stock)
		if err != nil {
			return fmt.Errorf("save product %s: %w", id, err)
		}
		return nil
	})
}

// Seed inserts the products that are not in the catalogue yet and leaves the others alone, so
// running it at every start-up changes nothing once it has run: stock sold since is not put
// back, and an admin's edits stay. It returns how many products it inserted.
func (c *Catalog) Seed(ctx context.Context, products []catalog.Product) (inserted int, err error) {
	err = sharedpg.Atomic(ctx, c.pool, func(ctx context.Context, tx pgx.Tx) error {
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
