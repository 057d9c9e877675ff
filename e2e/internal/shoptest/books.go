package shoptest

import (
	"errors"
	"fmt"
)

// WalletTransaction is one entry of a wallet's ledger (GET /users/me/wallet).
type WalletTransaction struct {
	Kind        string `json:"kind"` // topup, debit or refund
	AmountCents int64  `json:"amount_cents"`
	OrderID     string `json:"order_id"`
}

// CheckStock checks a product's books: stock never below zero, initial stock = stock + sold,
// and sold = what CONFIRMED orders bought (wantSold).
func CheckStock(initial, now Product, wantSold int) error {
	switch {
	case now.Stock < 0:
		return fmt.Errorf("stock below zero: %d", now.Stock)
	case now.Stock+now.Sold != initial.Stock:
		return fmt.Errorf("stock %d + sold %d != initial %d", now.Stock, now.Sold, initial.Stock)
	case now.Sold != wantSold:
		return fmt.Errorf("sold %d, but CONFIRMED orders bought %d", now.Sold, wantSold)
	}
	return nil
}

// CheckPayments checks a customer's ledger order by order, as the books of every suite and of the
// saga benchmark require: at most one debit and one refund per order, each of the order's total,
// netting to the total for a CONFIRMED order and to nothing otherwise, and no payment for an order
// the customer does not have.
func CheckPayments(orders []Order, txs []WalletTransaction) error {
	byOrder := map[string][]WalletTransaction{}
	for _, tx := range txs {
		if tx.OrderID != "" {
			byOrder[tx.OrderID] = append(byOrder[tx.OrderID], tx)
		}
	}
	var errs []error
	for _, o := range orders {
		count := map[string]int{}
		var net int64
		for _, tx := range byOrder[o.ID] {
			count[tx.Kind]++
			switch {
			case tx.AmountCents != o.TotalCents:
				errs = append(errs, fmt.Errorf("order %s (%s): a %s of %d, the order's total is %d", o.ID, o.Status, tx.Kind, tx.AmountCents, o.TotalCents))
			case tx.Kind == "debit":
				net += tx.AmountCents
			case tx.Kind == "refund":
				net -= tx.AmountCents
			}
		}
		want := int64(0)
		if o.Status == "CONFIRMED" {
			want = o.TotalCents
		}
		if count["debit"] > 1 || count["refund"] > 1 || net != want {
			errs = append(errs, fmt.Errorf("order %s (%s): %d debits and %d refunds, %d paid in all, want %d",
				o.ID, o.Status, count["debit"], count["refund"], net, want))
		}
		delete(byOrder, o.ID)
	}
	for id := range byOrder {
		errs = append(errs, fmt.Errorf("wallet transactions for order %s, which the customer does not have", id))
	}
	return errors.Join(errs...)
}
