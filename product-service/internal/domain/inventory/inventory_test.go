package inventory_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/product-service/internal/domain/inventory"
	"github.com/tracecart/tracecart/shared/events"
)

var (
	mug   = uuid.MustParse("00000000-0000-4000-8000-000000000101")
	socks = uuid.MustParse("00000000-0000-4000-8000-000000000102")
	lamp  = uuid.MustParse("00000000-0000-4000-8000-000000000108")
	ghost = uuid.MustParse("99999999-0000-4000-8000-000000000000")
)

func TestMergeLines(t *testing.T) {
	tests := []struct {
		name    string
		lines   []inventory.Line
		want    []inventory.Line
		wantErr bool
	}{
		{
			name:  "one line",
			lines: []inventory.Line{{mug, 2}},
			want:  []inventory.Line{{mug, 2}},
		},
		{
			name:  "lines of the same product are summed, in order of first appearance",
			lines: []inventory.Line{{lamp, 1}, {mug, 2}, {lamp, 3}, {socks, 1}, {mug, 5}},
			want:  []inventory.Line{{lamp, 4}, {mug, 7}, {socks, 1}},
		},
		{name: "no lines", lines: nil, wantErr: true},
		{name: "no product", lines: []inventory.Line{{mug, 1}, {uuid.Nil, 1}}, wantErr: true},
		{name: "zero quantity", lines: []inventory.Line{{mug, 0}}, wantErr: true},
		{name: "negative quantity", lines: []inventory.Line{{mug, 3}, {mug, -1}}, wantErr: true},
		{name: "quantity above the stock limit", lines: []inventory.Line{{mug, inventory.MaxLineQuantity + 1}}, wantErr: true},
		{name: "quantity at the stock limit", lines: []inventory.Line{{mug, inventory.MaxLineQuantity}}, want: []inventory.Line{{mug, inventory.MaxLineQuantity}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := inventory.MergeLines(tt.lines)
			if tt.wantErr {
				if !errors.Is(err, inventory.ErrInvalidLines) {
					t.Fatalf("MergeLines(%v) = %v, %v; want ErrInvalidLines", tt.lines, got, err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("MergeLines(%v) = %v, %v; want %v", tt.lines, got, err, tt.want)
			}
		})
	}
}

func TestProductIDsAreSortedAndDistinct(t *testing.T) {
	got := inventory.ProductIDs([]inventory.Line{{lamp, 1}, {mug, 1}, {ghost, 1}, {socks, 2}, {mug, 4}})
	want := []uuid.UUID{mug, socks, lamp, ghost}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ProductIDs = %v, want %v", got, want)
	}
}

func TestCheckStock(t *testing.T) {
	available := map[uuid.UUID]int64{mug: 5, socks: 0, lamp: 1}
	tests := []struct {
		name  string
		lines []inventory.Line // before merging
		want  *inventory.Rejection
	}{
		{name: "every line available", lines: []inventory.Line{{mug, 2}, {lamp, 1}}, want: nil},
		{name: "exactly the available stock", lines: []inventory.Line{{mug, 5}}, want: nil},
		{
			name:  "one line short rejects the whole order",
			lines: []inventory.Line{{mug, 1}, {lamp, 2}},
			want:  &inventory.Rejection{Reason: inventory.ReasonOutOfStock, ProductID: lamp},
		},
		{
			name:  "none left",
			lines: []inventory.Line{{socks, 1}},
			want:  &inventory.Rejection{Reason: inventory.ReasonOutOfStock, ProductID: socks},
		},
		{
			name:  "duplicate lines are checked as their sum",
			lines: []inventory.Line{{mug, 3}, {lamp, 1}, {mug, 3}},
			want:  &inventory.Rejection{Reason: inventory.ReasonOutOfStock, ProductID: mug},
		},
		{
			name:  "unknown product",
			lines: []inventory.Line{{mug, 1}, {ghost, 1}},
			want:  &inventory.Rejection{Reason: inventory.ReasonUnknownProduct, ProductID: ghost},
		},
		{
			name:  "the first failing line in the order's own order is named",
			lines: []inventory.Line{{ghost, 1}, {socks, 1}},
			want:  &inventory.Rejection{Reason: inventory.ReasonUnknownProduct, ProductID: ghost},
		},
		{
			name:  "out of stock named before a later unknown product",
			lines: []inventory.Line{{lamp, 2}, {ghost, 1}},
			want:  &inventory.Rejection{Reason: inventory.ReasonOutOfStock, ProductID: lamp},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			merged, err := inventory.MergeLines(tt.lines)
			if err != nil {
				t.Fatal(err)
			}
			got := inventory.CheckStock(merged, available)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("CheckStock(%v) = %+v, want %+v", merged, got, tt.want)
			}
		})
	}
}

func TestNext(t *testing.T) {
	type cell struct {
		effect inventory.Effect
		to     inventory.Status
		reason string
	}
	none := func(s inventory.Status) cell { return cell{inventory.EffectNone, s, ""} }
	eventTypes := []string{events.OrderCreated, events.OrderConfirmed, events.PaymentFailed, events.OrderCancelled}
	// One row per status, one column per event, in eventTypes' order.
	table := map[inventory.Status][4]cell{
		inventory.StatusNone: {
			{inventory.EffectReserve, inventory.StatusReserved, ""},
			none(inventory.StatusNone), // a confirmation without a reservation: nothing to sell
			none(inventory.StatusNone), // a failed payment without a reservation: nothing to release
			{inventory.EffectTombstone, inventory.StatusCancelled, ""},
		},
		inventory.StatusReserved: {
			none(inventory.StatusReserved), // the same order twice: reserved once
			{inventory.EffectSell, inventory.StatusSold, ""},
			{inventory.EffectRelease, inventory.StatusReleased, inventory.ReleasePaymentFailed},
			{inventory.EffectRelease, inventory.StatusReleased, inventory.ReleaseOrderCancelled},
		},
		inventory.StatusSold: {
			none(inventory.StatusSold), none(inventory.StatusSold), none(inventory.StatusSold),
			{inventory.EffectRestock, inventory.StatusRestocked, inventory.ReleaseOrderCancelled},
		},
		inventory.StatusReleased:  {none(inventory.StatusReleased), none(inventory.StatusReleased), none(inventory.StatusReleased), none(inventory.StatusReleased)},
		inventory.StatusRestocked: {none(inventory.StatusRestocked), none(inventory.StatusRestocked), none(inventory.StatusRestocked), none(inventory.StatusRestocked)},
		inventory.StatusRejected:  {none(inventory.StatusRejected), none(inventory.StatusRejected), none(inventory.StatusRejected), none(inventory.StatusRejected)},
		// The tombstone: a late order.created reserves nothing, and nothing else moves it.
		inventory.StatusCancelled: {none(inventory.StatusCancelled), none(inventory.StatusCancelled), none(inventory.StatusCancelled), none(inventory.StatusCancelled)},
	}
	for status, row := range table {
		for i, eventType := range eventTypes {
			t.Run(string(status)+"/"+eventType, func(t *testing.T) {
				got := inventory.Next(status, eventType)
				want := inventory.Transition{Effect: row[i].effect, To: row[i].to, ReleaseReason: row[i].reason}
				if got != want {
					t.Errorf("Next(%q, %s) = %+v, want %+v", status, eventType, got, want)
				}
			})
		}
		// Events product-service receives but has no part in change nothing, whatever the status.
		for _, other := range []string{events.PaymentSucceeded, events.PaymentRefunded, events.InventoryReserved} {
			if got := inventory.Next(status, other); got != (inventory.Transition{Effect: inventory.EffectNone, To: status}) {
				t.Errorf("Next(%q, %s) = %+v, want no effect", status, other, got)
			}
		}
	}
}

func TestHeal(t *testing.T) {
	statuses := []inventory.Status{
		inventory.StatusNone, inventory.StatusReserved, inventory.StatusSold, inventory.StatusReleased,
		inventory.StatusRestocked, inventory.StatusRejected, inventory.StatusCancelled,
	}
	orders := []inventory.OrderStatus{
		inventory.OrderPending, inventory.OrderConfirmed, inventory.OrderRejected, inventory.OrderCancelled, "SOMETHING_NEW",
	}
	// Only a RESERVED reservation of an order that ended moves; it moves as the lost event would
	// have moved it.
	want := map[inventory.OrderStatus]inventory.Transition{
		inventory.OrderConfirmed: {Effect: inventory.EffectSell, To: inventory.StatusSold},
		inventory.OrderCancelled: {Effect: inventory.EffectRelease, To: inventory.StatusReleased, ReleaseReason: inventory.ReleaseOrderCancelled},
		inventory.OrderRejected:  {Effect: inventory.EffectRelease, To: inventory.StatusReleased, ReleaseReason: inventory.ReleaseOrderCancelled},
	}
	for _, status := range statuses {
		for _, order := range orders {
			t.Run(string(status)+"/"+string(order), func(t *testing.T) {
				w, moves := want[order]
				if !moves || status != inventory.StatusReserved {
					w = inventory.Transition{Effect: inventory.EffectNone, To: status}
				}
				if got := inventory.Heal(status, order); got != w {
					t.Errorf("Heal(%q, %q) = %+v, want %+v", status, order, got, w)
				}
			})
		}
	}
}

func TestEffectChanges(t *testing.T) {
	lines := []inventory.Line{{lamp, 1}, {mug, 3}} // lamp sorts after mug
	tests := []struct {
		effect inventory.Effect
		want   []inventory.StockChange
	}{
		{inventory.EffectReserve, []inventory.StockChange{{mug, -3, 0}, {lamp, -1, 0}}},
		{inventory.EffectSell, []inventory.StockChange{{mug, 0, 3}, {lamp, 0, 1}}},
		{inventory.EffectRelease, []inventory.StockChange{{mug, 3, 0}, {lamp, 1, 0}}},
		{inventory.EffectRestock, []inventory.StockChange{{mug, 3, -3}, {lamp, 1, -1}}},
		{inventory.EffectTombstone, nil},
		{inventory.EffectNone, nil},
	}
	for _, tt := range tests {
		t.Run(tt.effect.String(), func(t *testing.T) {
			if got := tt.effect.Changes(lines); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s.Changes = %v, want %v", tt.effect, got, tt.want)
			}
		})
	}
}

// TestLifecyclesKeepTheInvariant replays every path a reservation can take through the pure
// rules, on an in-memory stock, and checks what the lead's saga test checks on the database:
// initial stock = stock + sold, and stock never below zero.
func TestLifecyclesKeepTheInvariant(t *testing.T) {
	paths := [][]string{
		{events.OrderCreated, events.OrderConfirmed},
		{events.OrderCreated, events.PaymentFailed},
		{events.OrderCreated, events.OrderConfirmed, events.OrderCancelled},
		{events.OrderCreated, events.OrderCancelled, events.PaymentFailed, events.OrderConfirmed},
		{events.OrderCancelled, events.OrderCreated},
		{events.OrderCreated, events.OrderCreated, events.OrderConfirmed, events.OrderConfirmed, events.OrderCancelled, events.OrderCancelled},
	}
	for _, path := range paths {
		stock := map[uuid.UUID]int64{mug: 4, lamp: 1}
		sold := map[uuid.UUID]int64{}
		lines, err := inventory.MergeLines([]inventory.Line{{mug, 2}, {lamp, 1}})
		if err != nil {
			t.Fatal(err)
		}
		status := inventory.StatusNone
		for _, eventType := range path {
			tr := inventory.Next(status, eventType)
			if tr.Effect == inventory.EffectReserve && inventory.CheckStock(lines, stock) != nil {
				status = inventory.StatusRejected
				continue
			}
			for _, c := range tr.Effect.Changes(lines) {
				stock[c.ProductID] += c.Stock
				sold[c.ProductID] += c.Sold
			}
			status = tr.To
		}
		for id, initial := range map[uuid.UUID]int64{mug: 4, lamp: 1} {
			if stock[id] < 0 || sold[id] < 0 || stock[id]+sold[id] != initial {
				t.Errorf("path %v: %s has stock %d + sold %d, want %d and neither negative", path, id, stock[id], sold[id], initial)
			}
		}
	}
}
