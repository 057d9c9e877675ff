// Package catalog is product-service's catalogue: what a product is, the rules an admin's edits
// must follow, and how the catalogue may be searched. It is pure Go, free of HTTP and SQL, so
// every rule here is tested with plain tables and the adapters around it stay thin.
package catalog

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Limits on what a product may hold. They keep the catalogue sane (no empty names, no free or
// absurdly priced goods) and bound what one request can make the database store.
const (
	MaxNameLength        = 200
	MaxDescriptionLength = 2000
	MaxCategoryLength    = 50
	MinPriceCents        = 1
	MaxPriceCents        = 100_000_000
	MaxStock             = 1_000_000
)

var (
	// ErrNotFound means no product has the requested ID.
	ErrNotFound = errors.New("not found")
	// ErrInvalid is matched (errors.Is) by every *ValidationError: a request that breaks a rule
	// of the catalogue.
	ErrInvalid = errors.New("invalid")
	// ErrInsufficientStock means a stock adjustment would take the available stock below zero.
	ErrInsufficientStock = errors.New("insufficient stock")
)

// ValidationError names the field that broke a rule and the rule. Field uses the API's
// snake_case names, because the message is shown to the client that sent the field.
type ValidationError struct {
	Field   string
	Problem string
}

// Error says which field broke which rule, in words for the client.
func (e *ValidationError) Error() string { return e.Field + " " + e.Problem }

// Is makes errors.Is(err, ErrInvalid) true for every validation error.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// Product is one item of the catalogue with its inventory counts.
type Product struct {
	ID uuid.UUID
	Details
	// Stock is the quantity available to order now: reservations have already been taken out.
	Stock int64
	// Sold is the quantity that has left for good (reservations whose order was confirmed).
	Sold int64
}

// Details are the parts of a product an admin may edit at any time. Stock is not among them:
// it changes only through adjustments (restock, write-off) and the saga, so that its history
// always adds up.
type Details struct {
	Name        string
	Description string
	Category    string
	PriceCents  int64
}

// Validate checks the details against the catalogue's rules and returns the first
// *ValidationError found.
func (d Details) Validate() error {
	switch {
	case strings.TrimSpace(d.Name) == "" || utf8.RuneCountInString(d.Name) > MaxNameLength:
		return &ValidationError{"name", fmt.Sprintf("must be 1 to %d characters and not blank", MaxNameLength)}
	case utf8.RuneCountInString(d.Description) > MaxDescriptionLength:
		return &ValidationError{"description", fmt.Sprintf("must be at most %d characters", MaxDescriptionLength)}
	case strings.TrimSpace(d.Category) == "" || utf8.RuneCountInString(d.Category) > MaxCategoryLength:
		return &ValidationError{"category", fmt.Sprintf("must be 1 to %d characters and not blank", MaxCategoryLength)}
	case d.PriceCents < MinPriceCents || d.PriceCents > MaxPriceCents:
		return &ValidationError{"price_cents", fmt.Sprintf("must be between %d and %d", MinPriceCents, MaxPriceCents)}
	}
	return nil
}

// New returns a new product with a fresh ID, or a *ValidationError if details or the initial
// stock break a rule.
func New(details Details, stock int64) (Product, error) {
	if err := details.Validate(); err != nil {
		return Product{}, err
	}
	if stock < 0 || stock > MaxStock {
		return Product{}, &ValidationError{"stock", fmt.Sprintf("must be between 0 and %d", MaxStock)}
	}
	return Product{ID: uuid.New(), Details: details, Stock: stock}, nil
}

// AdjustStock returns the available stock after adding delta to current: a restock (delta > 0)
// or a write-off of damaged or lost goods (delta < 0). A zero or oversized delta is a
// *ValidationError; a write-off of more than is available wraps ErrInsufficientStock, since
// reserved and sold goods are no longer on the shelf to write off.
func AdjustStock(current, delta int64) (int64, error) {
	if delta == 0 || delta < -MaxStock || delta > MaxStock {
		return 0, &ValidationError{"delta", fmt.Sprintf("must be between %d and %d and not 0", -MaxStock, MaxStock)}
	}
	if current+delta < 0 {
		return 0, fmt.Errorf("cannot remove %d from an available stock of %d: %w", -delta, current, ErrInsufficientStock)
	}
	return current + delta, nil
}
