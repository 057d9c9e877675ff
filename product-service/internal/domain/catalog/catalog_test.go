package catalog_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/product-service/internal/domain/catalog"
)

func valid() catalog.Details {
	return catalog.Details{Name: "Tracing Mug", Description: "A mug.", Category: "kitchen", PriceCents: 1200}
}

func TestDetailsValidate(t *testing.T) {
	tests := []struct {
		name      string
		change    func(d *catalog.Details)
		wantField string // "" for valid
	}{
		{name: "valid", change: func(*catalog.Details) {}},
		{name: "empty description is fine", change: func(d *catalog.Details) { d.Description = "" }},
		{name: "name of 200 characters", change: func(d *catalog.Details) { d.Name = strings.Repeat("é", 200) }},
		{name: "empty name", change: func(d *catalog.Details) { d.Name = "" }, wantField: "name"},
		{name: "blank name", change: func(d *catalog.Details) { d.Name = "  \t" }, wantField: "name"},
		{name: "name of 201 characters", change: func(d *catalog.Details) { d.Name = strings.Repeat("a", 201) }, wantField: "name"},
		{name: "description too long", change: func(d *catalog.Details) { d.Description = strings.Repeat("a", 2001) }, wantField: "description"},
		{name: "no category", change: func(d *catalog.Details) { d.Category = "" }, wantField: "category"},
		{name: "category too long", change: func(d *catalog.Details) { d.Category = strings.Repeat("a", 51) }, wantField: "category"},
		{name: "free", change: func(d *catalog.Details) { d.PriceCents = 0 }, wantField: "price_cents"},
		{name: "negative price", change: func(d *catalog.Details) { d.PriceCents = -100 }, wantField: "price_cents"},
		{name: "lowest price", change: func(d *catalog.Details) { d.PriceCents = 1 }},
		{name: "highest price", change: func(d *catalog.Details) { d.PriceCents = 100_000_000 }},
		{name: "price above the limit", change: func(d *catalog.Details) { d.PriceCents = 100_000_001 }, wantField: "price_cents"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := valid()
			tt.change(&d)
			checkValidation(t, d.Validate(), tt.wantField)
		})
	}
}

// checkValidation asserts err is nil when wantField is empty, and otherwise a
// *catalog.ValidationError for wantField that matches catalog.ErrInvalid.
func checkValidation(t *testing.T, err error, wantField string) {
	t.Helper()
	if wantField == "" {
		if err != nil {
			t.Fatalf("got %v, want no error", err)
		}
		return
	}
	var verr *catalog.ValidationError
	if !errors.As(err, &verr) || verr.Field != wantField || !errors.Is(err, catalog.ErrInvalid) {
		t.Fatalf("got %v, want a validation error for %s matching ErrInvalid", err, wantField)
	}
	if !strings.HasPrefix(err.Error(), wantField+" ") {
		t.Errorf("message %q should start with the field name", err)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name      string
		details   catalog.Details
		stock     int64
		wantField string
	}{
		{name: "valid", details: valid(), stock: 10},
		{name: "no stock yet", details: valid(), stock: 0},
		{name: "stock at the limit", details: valid(), stock: 1_000_000},
		{name: "negative stock", details: valid(), stock: -1, wantField: "stock"},
		{name: "stock above the limit", details: valid(), stock: 1_000_001, wantField: "stock"},
		{name: "invalid details", details: catalog.Details{Name: "x", Category: "desk"}, stock: 1, wantField: "price_cents"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := catalog.New(tt.details, tt.stock)
			checkValidation(t, err, tt.wantField)
			if err != nil {
				return
			}
			if p.ID == uuid.Nil || p.Details != tt.details || p.Stock != tt.stock || p.Sold != 0 {
				t.Errorf("New = %+v", p)
			}
		})
	}
	a, _ := catalog.New(valid(), 1)
	b, _ := catalog.New(valid(), 1)
	if a.ID == b.ID {
		t.Error("two new products got the same ID")
	}
}

func TestAdjustStock(t *testing.T) {
	tests := []struct {
		name         string
		current      int64
		delta        int64
		want         int64
		wantField    string
		wantConflict bool
	}{
		{name: "restock", current: 3, delta: 7, want: 10},
		{name: "write-off", current: 10, delta: -4, want: 6},
		{name: "write off everything", current: 10, delta: -10, want: 0},
		{name: "write off more than available", current: 10, delta: -11, wantConflict: true},
		{name: "write off from nothing", current: 0, delta: -1, wantConflict: true},
		{name: "zero delta", current: 10, delta: 0, wantField: "delta"},
		{name: "delta too large", current: 0, delta: 1_000_001, wantField: "delta"},
		{name: "delta too small", current: 2_000_000, delta: -1_000_001, wantField: "delta"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := catalog.AdjustStock(tt.current, tt.delta)
			switch {
			case tt.wantConflict:
				if !errors.Is(err, catalog.ErrInsufficientStock) || errors.Is(err, catalog.ErrInvalid) {
					t.Fatalf("AdjustStock(%d, %d) error = %v, want ErrInsufficientStock", tt.current, tt.delta, err)
				}
			case tt.wantField != "":
				checkValidation(t, err, tt.wantField)
			default:
				if err != nil || got != tt.want {
					t.Fatalf("AdjustStock(%d, %d) = %d, %v; want %d", tt.current, tt.delta, got, err, tt.want)
				}
			}
		})
	}
}

func TestFilterValidate(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	tests := []struct {
		name      string
		filter    catalog.Filter
		wantField string
	}{
		{name: "defaults", filter: catalog.Filter{Limit: catalog.DefaultLimit}},
		{name: "everything set", filter: catalog.Filter{Category: "desk", Query: "lamp", MinPriceCents: n(100), MaxPriceCents: n(100), Limit: 100, Offset: 500}},
		{name: "zero price bounds", filter: catalog.Filter{MinPriceCents: n(0), MaxPriceCents: n(0), Limit: 1}},
		{name: "limit 0", filter: catalog.Filter{Limit: 0}, wantField: "limit"},
		{name: "limit 101", filter: catalog.Filter{Limit: 101}, wantField: "limit"},
		{name: "negative offset", filter: catalog.Filter{Limit: 20, Offset: -1}, wantField: "offset"},
		{name: "negative min price", filter: catalog.Filter{Limit: 20, MinPriceCents: n(-1)}, wantField: "min_price_cents"},
		{name: "negative max price", filter: catalog.Filter{Limit: 20, MaxPriceCents: n(-1)}, wantField: "max_price_cents"},
		{name: "min above max", filter: catalog.Filter{Limit: 20, MinPriceCents: n(500), MaxPriceCents: n(499)}, wantField: "min_price_cents"},
		{name: "long query", filter: catalog.Filter{Limit: 20, Query: strings.Repeat("q", 201)}, wantField: "q"},
		{name: "long category", filter: catalog.Filter{Limit: 20, Category: strings.Repeat("c", 51)}, wantField: "category"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkValidation(t, tt.filter.Validate(), tt.wantField)
		})
	}
}

func TestDemoProducts(t *testing.T) {
	products := catalog.DemoProducts()
	if len(products) != 8 {
		t.Fatalf("%d demo products, want 8", len(products))
	}
	seen := map[uuid.UUID]bool{}
	for i, p := range products {
		if err := p.Validate(); err != nil {
			t.Errorf("demo product %s: %v", p.Name, err)
		}
		want := uuid.MustParse("00000000-0000-4000-8000-00000000010" + string(rune('1'+i)))
		if p.ID != want || seen[p.ID] {
			t.Errorf("demo product %d (%s) has ID %s, want %s", i, p.Name, p.ID, want)
		}
		seen[p.ID] = true
	}
	if lamp := products[7]; lamp.Name != "Last One Lamp" || lamp.Stock != 1 || lamp.PriceCents != 6400 {
		t.Errorf("the out-of-stock demo product is %+v", lamp)
	}
}
