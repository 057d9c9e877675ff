package order_test

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/order-service/internal/domain/order"
)

var (
	mug   = uuid.MustParse("00000000-0000-4000-8000-000000000101")
	socks = uuid.MustParse("00000000-0000-4000-8000-000000000102")
	lamp  = uuid.MustParse("00000000-0000-4000-8000-000000000108")
)

// it and ln build items and lines tersely, for the tables below.
func it(p uuid.UUID, q int) order.Item { return order.Item{ProductID: p, Quantity: q} }

func ln(p uuid.UUID, q int, cents int64) order.Line {
	return order.Line{ProductID: p, Quantity: q, UnitPriceCents: cents}
}

// lines returns n lines of one unit each, all for different products.
func lines(n int) []order.Item {
	items := make([]order.Item, n)
	for i := range items {
		items[i] = order.Item{ProductID: uuid.New(), Quantity: 1}
	}
	return items
}

func TestNewItems(t *testing.T) {
	tests := []struct {
		name    string
		in      []order.Item
		want    []order.Item
		wantErr string // part of the error's text; "" means no error
	}{
		{
			name: "one line",
			in:   []order.Item{{ProductID: mug, Quantity: 2}},
			want: []order.Item{{ProductID: mug, Quantity: 2}},
		},
		{
			name: "duplicates are summed, first appearance keeps its place",
			in:   []order.Item{it(mug, 1), it(socks, 3), it(mug, 4), it(lamp, 1), it(socks, 1)},
			want: []order.Item{it(mug, 5), it(socks, 4), it(lamp, 1)},
		},
		{
			name: "limits are inclusive",
			in:   []order.Item{it(mug, order.MaxQuantity), it(socks, 1)},
			want: []order.Item{it(mug, order.MaxQuantity), it(socks, 1)},
		},
		{name: "no lines", in: nil, wantErr: "at least one line"},
		{name: "empty lines", in: []order.Item{}, wantErr: "at least one line"},
		{name: "exactly the maximum of lines", in: lines(order.MaxLines)},
		{name: "too many lines", in: lines(order.MaxLines + 1), wantErr: "at most 20 lines, got 21"},
		{name: "zero quantity", in: []order.Item{it(mug, 0)}, wantErr: "line 1: quantity must be between 1 and 100, got 0"},
		{name: "negative quantity", in: []order.Item{it(mug, 1), it(socks, -2)}, wantErr: "line 2: quantity must be between 1 and 100, got -2"},
		{name: "quantity too large", in: []order.Item{it(mug, 101)}, wantErr: "got 101"},
		{name: "missing product", in: []order.Item{it(uuid.Nil, 1)}, wantErr: "line 1: product_id is required"},
		{
			name:    "duplicates summing past the maximum",
			in:      []order.Item{it(mug, 60), it(mug, 41)},
			wantErr: "at most 100 in total, got 101",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := order.NewItems(tt.in)
			if tt.wantErr != "" {
				if !errors.Is(err, order.ErrInvalidOrder) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("NewItems error = %v, want ErrInvalidOrder mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewItems: %v", err)
			}
			want := tt.want
			if want == nil {
				want = tt.in
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("NewItems = %v, want %v", got, want)
			}
		})
	}
}

func TestNewItemsDoesNotModifyItsInput(t *testing.T) {
	in := []order.Item{it(mug, 1), it(mug, 2)}
	if _, err := order.NewItems(in); err != nil {
		t.Fatal(err)
	}
	if in[0].Quantity != 1 {
		t.Errorf("NewItems changed its input: %v", in)
	}
}

// Over 60 lines: most of it is the table of cases.
func TestNew(t *testing.T) {
	id, user := uuid.New(), uuid.New()
	prices := map[uuid.UUID]int64{mug: 1200, socks: 900, lamp: 0}
	tests := []struct {
		name      string
		items     []order.Item
		prices    map[uuid.UUID]int64
		wantTotal int64
		wantLines []order.Line
		wantErr   error
	}{
		{
			name:      "total is the sum of quantity × unit price",
			items:     []order.Item{it(mug, 2), it(socks, 3)},
			prices:    prices,
			wantTotal: 2*1200 + 3*900,
			wantLines: []order.Line{ln(mug, 2, 1200), ln(socks, 3, 900)},
		},
		{
			name:      "a free product is fine",
			items:     []order.Item{it(lamp, 1)},
			prices:    prices,
			wantTotal: 0,
			wantLines: []order.Line{ln(lamp, 1, 0)},
		},
		{
			name:    "a product without a price is unknown",
			items:   []order.Item{it(mug, 1), it(uuid.New(), 1)},
			prices:  prices,
			wantErr: order.ErrUnknownProduct,
		},
		{
			name:    "overflowing total",
			items:   []order.Item{it(mug, 2)},
			prices:  map[uuid.UUID]int64{mug: math.MaxInt64/2 + 1},
			wantErr: order.ErrInvalidOrder,
		},
		{
			name:    "overflowing sum of lines",
			items:   []order.Item{it(mug, 1), it(socks, 1)},
			prices:  map[uuid.UUID]int64{mug: math.MaxInt64, socks: 1},
			wantErr: order.ErrInvalidOrder,
		},
		{name: "no items", items: nil, prices: prices, wantErr: order.ErrInvalidOrder},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := order.New(id, user, tt.items, tt.prices)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("New error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			want := order.Order{ID: id, UserID: user, Status: order.Pending, Lines: tt.wantLines, TotalCents: tt.wantTotal}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("New = %+v, want %+v", got, want)
			}
		})
	}
}

func TestNewRejectsNegativePrice(t *testing.T) {
	_, err := order.New(uuid.New(), uuid.New(), []order.Item{it(mug, 1)}, map[uuid.UUID]int64{mug: -1})
	if err == nil || errors.Is(err, order.ErrInvalidOrder) {
		t.Fatalf("New with a negative catalogue price = %v, want an internal error (the client did nothing wrong)", err)
	}
}

func TestProductIDs(t *testing.T) {
	got := order.ProductIDs([]order.Item{it(socks, 1), it(mug, 2)})
	if want := []uuid.UUID{socks, mug}; !reflect.DeepEqual(got, want) {
		t.Errorf("ProductIDs = %v, want %v", got, want)
	}
}
