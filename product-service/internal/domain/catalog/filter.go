package catalog

import (
	"fmt"
	"unicode/utf8"
)

// Paging limits for listing the catalogue: a client that asks for nothing gets a screenful, and
// no client can ask for the whole table at once.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// maxQueryLength bounds the search text; a longer one cannot match a name anyway.
const maxQueryLength = MaxNameLength

// Filter selects one page of the catalogue. The zero values of Category and Query, and nil
// price bounds, select everything.
type Filter struct {
	// Category matches products of exactly this category.
	Category string
	// Query matches products whose name contains it, ignoring case.
	Query string
	// MinPriceCents and MaxPriceCents bound the price, both inclusive.
	MinPriceCents, MaxPriceCents *int64
	// Limit is the page size (1 to MaxLimit) and Offset how many matches to skip.
	Limit, Offset int
}

// Validate checks the filter and returns the first *ValidationError found.
func (f Filter) Validate() error {
	switch {
	case f.Limit < 1 || f.Limit > MaxLimit:
		return &ValidationError{"limit", fmt.Sprintf("must be between 1 and %d", MaxLimit)}
	case f.Offset < 0:
		return &ValidationError{"offset", "must not be negative"}
	case utf8.RuneCountInString(f.Category) > MaxCategoryLength:
		return &ValidationError{"category", fmt.Sprintf("must be at most %d characters", MaxCategoryLength)}
	case utf8.RuneCountInString(f.Query) > maxQueryLength:
		return &ValidationError{"q", fmt.Sprintf("must be at most %d characters", maxQueryLength)}
	case f.MinPriceCents != nil && *f.MinPriceCents < 0:
		return &ValidationError{"min_price_cents", "must not be negative"}
	case f.MaxPriceCents != nil && *f.MaxPriceCents < 0:
		return &ValidationError{"max_price_cents", "must not be negative"}
	case f.MinPriceCents != nil && f.MaxPriceCents != nil && *f.MinPriceCents > *f.MaxPriceCents:
		return &ValidationError{"min_price_cents", "must not be greater than max_price_cents"}
	}
	return nil
}

// Page is one page of a listing, with the number of products matching the filter in all.
type Page struct {
	Items []Product
	Total int
}
