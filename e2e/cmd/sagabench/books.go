package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/tracecart/tracecart/e2e/internal/shoptest"
)

// books is the outcome of checking the run's books once the load is over. The rules are the
// ones the system suite checks after every fault (e2e/system's assertBooks), applied to the
// run's own products and customers:
//
//   - every order the shop stored for the run's customers is terminal, read back from
//     order-service (a POST that timed out may still have created an order);
//   - per product: initial stock = stock + sold, and sold = the units CONFIRMED orders bought;
//   - per customer: top-up = balance + the totals of CONFIRMED orders, and per order at most
//     one debit and one refund, each of the order's total, netting to the total for a
//     CONFIRMED order and to nothing for any other.
type books struct {
	Orders   int            // orders the shop stored for the run's customers
	Outcomes map[string]int // by final status ("PENDING" and the like for unfinished ones)
	Errors   []string       // every way the books do not balance; empty when they do
}

// checkBooks reads the books back through the gateway, waiting up to timeout for the last
// sagas and compensations to settle. It is long because it applies every rule of the books (orders
// terminal, stock, money, one payment per order) in one place, in the order e2e/system states them.
func checkBooks(ctx context.Context, s *shop, f *fixture, timeout time.Duration) books {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// The orders, read back per customer until every one is terminal or the time is up.
	var (
		mu      sync.Mutex
		all     = make([][]orderJSON, len(f.customers))
		errs    []string
		outcome = map[string]int{}
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		errs = append(errs, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	shoptest.Parallel(len(f.customers), 4, func(i int) {
		c := f.customers[i]
		var orders []orderJSON
		err := until(ctx, func() error {
			var err error
			orders, err = s.customerOrders(ctx, c.token)
			if err != nil {
				return err
			}
			for _, o := range orders {
				if !shoptest.Terminal(o.Status) {
					return fmt.Errorf("order %s is still %s", o.ID, o.Status)
				}
			}
			return nil
		})
		if err != nil {
			fail("customer %d: %v", i, err)
		}
		mu.Lock()
		all[i] = orders
		for _, o := range orders {
			outcome[o.Status]++
		}
		mu.Unlock()
	})

	sold := map[string]int{}
	paid := make([]int64, len(f.customers))
	total := 0
	for i, orders := range all {
		total += len(orders)
		for _, o := range orders {
			if o.Status == "CONFIRMED" {
				paid[i] += o.TotalCents
				for _, l := range o.Lines {
					sold[l.ProductID] += l.Quantity
				}
			}
		}
	}

	for _, p := range f.products {
		err := until(ctx, func() error {
			var now shoptest.Product
			if err := s.must(ctx, http.StatusOK, "", http.MethodGet, "/products/"+p.ID, nil, &now, "Cache-Control", "no-cache"); err != nil {
				return err
			}
			switch {
			case now.Stock < 0:
				return fmt.Errorf("stock below zero: %d", now.Stock)
			case now.Stock+now.Sold != p.Stock:
				return fmt.Errorf("stock %d + sold %d != initial %d", now.Stock, now.Sold, p.Stock)
			case now.Sold != sold[p.ID]:
				return fmt.Errorf("sold %d, but CONFIRMED orders bought %d", now.Sold, sold[p.ID])
			}
			return nil
		})
		if err != nil {
			fail("product %s: %v", p.ID, err)
		}
	}
	shoptest.Parallel(len(f.customers), 4, func(i int) {
		c := f.customers[i]
		err := until(ctx, func() error {
			balance, txs, err := s.wallet(ctx, c.token)
			if err != nil {
				return err
			}
			if balance+paid[i] != c.topUp {
				return fmt.Errorf("balance %d + CONFIRMED totals %d != top-up %d", balance, paid[i], c.topUp)
			}
			return checkPayments(all[i], txs)
		})
		if err != nil {
			fail("wallet of customer %d: %v", i, err)
		}
	})
	sort.Strings(errs)
	return books{Orders: total, Outcomes: outcome, Errors: errs}
}

// until calls check every 200 ms until it returns nil or ctx ends, and returns its last error.
func until(ctx context.Context, check func() error) error {
	for {
		err := check()
		if err == nil {
			return nil
		}
		if sleep(ctx, 200*time.Millisecond) != nil {
			return err
		}
	}
}

// customerOrders returns every order of the customer, page by page.
func (s *shop) customerOrders(ctx context.Context, token string) ([]orderJSON, error) {
	var out []orderJSON
	for offset := 0; ; offset += 100 {
		var page struct {
			Items []orderJSON `json:"items"`
			Total int         `json:"total"`
		}
		if err := s.must(ctx, http.StatusOK, token, http.MethodGet, fmt.Sprintf("/orders?limit=100&offset=%d", offset), nil, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
		if len(page.Items) == 0 || len(out) >= page.Total {
			return out, nil
		}
	}
}

// walletTransaction is one entry of a wallet's ledger.
type walletTransaction struct {
	Kind        string `json:"kind"` // topup, debit or refund
	AmountCents int64  `json:"amount_cents"`
	OrderID     string `json:"order_id"`
}

// wallet returns a customer's balance and whole ledger (one page: -per-customer keeps it short).
func (s *shop) wallet(ctx context.Context, token string) (int64, []walletTransaction, error) {
	var w struct {
		BalanceCents int64               `json:"balance_cents"`
		Transactions []walletTransaction `json:"transactions"`
	}
	if err := s.must(ctx, http.StatusOK, token, http.MethodGet, "/users/me/wallet?limit=100", nil, &w); err != nil {
		return 0, nil, err
	}
	if len(w.Transactions) == 100 {
		return 0, nil, errors.New("the wallet has 100 transactions or more, more than one page shows")
	}
	return w.BalanceCents, w.Transactions, nil
}

// checkPayments checks a customer's ledger order by order: at most one debit and one refund per
// order, each of the order's total, netting to the total for a CONFIRMED order and to nothing
// otherwise, and no payment for an order the customer does not have.
func checkPayments(orders []orderJSON, txs []walletTransaction) error {
	byOrder := map[string][]walletTransaction{}
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
