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
// sagas and compensations to settle: orders terminal, stock, money, one payment per order, in the
// order e2e/system states them.
func checkBooks(ctx context.Context, s *shop, f *fixture, timeout time.Duration) books {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var errs failures
	all, outcome := readOrders(ctx, s, f, &errs)
	sold, paid, total := tally(all)
	for _, p := range f.products {
		err := until(ctx, func() error {
			var now shoptest.Product
			if err := s.must(ctx, http.StatusOK, "", http.MethodGet, "/products/"+p.ID, nil, &now, "Cache-Control", "no-cache"); err != nil {
				return err
			}
			return shoptest.CheckStock(p, now, sold[p.ID])
		})
		if err != nil {
			errs.add("product %s: %v", p.ID, err)
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
			return shoptest.CheckPayments(plain(all[i]), txs)
		})
		if err != nil {
			errs.add("wallet of customer %d: %v", i, err)
		}
	})
	sort.Strings(errs.list)
	return books{Orders: total, Outcomes: outcome, Errors: errs.list}
}

// failures collects the books' errors from parallel checks.
type failures struct {
	mu   sync.Mutex
	list []string
}

func (f *failures) add(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.list = append(f.list, fmt.Sprintf(format, args...))
}

// readOrders reads every customer's orders back until each is terminal or ctx ends, and counts
// them by status.
func readOrders(ctx context.Context, s *shop, f *fixture, errs *failures) ([][]orderJSON, map[string]int) {
	var (
		mu      sync.Mutex
		all     = make([][]orderJSON, len(f.customers))
		outcome = map[string]int{}
	)
	shoptest.Parallel(len(f.customers), 4, func(i int) {
		var orders []orderJSON
		err := until(ctx, func() error {
			var err error
			if orders, err = s.customerOrders(ctx, f.customers[i].token); err != nil {
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
			errs.add("customer %d: %v", i, err)
		}
		mu.Lock()
		defer mu.Unlock()
		all[i] = orders
		for _, o := range orders {
			outcome[o.Status]++
		}
	})
	return all, outcome
}

// tally adds up what the CONFIRMED orders bought (per product) and paid (per customer).
func tally(all [][]orderJSON) (sold map[string]int, paid []int64, total int) {
	sold, paid = map[string]int{}, make([]int64, len(all))
	for i, orders := range all {
		total += len(orders)
		for _, o := range orders {
			if o.Status != "CONFIRMED" {
				continue
			}
			paid[i] += o.TotalCents
			for _, l := range o.Lines {
				sold[l.ProductID] += l.Quantity
			}
		}
	}
	return sold, paid, total
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

// wallet returns a customer's balance and whole ledger (one page: -per-customer keeps it short).
func (s *shop) wallet(ctx context.Context, token string) (int64, []shoptest.WalletTransaction, error) {
	var w struct {
		BalanceCents int64                        `json:"balance_cents"`
		Transactions []shoptest.WalletTransaction `json:"transactions"`
	}
	if err := s.must(ctx, http.StatusOK, token, http.MethodGet, "/users/me/wallet?limit=100", nil, &w); err != nil {
		return 0, nil, err
	}
	if len(w.Transactions) == 100 {
		return 0, nil, errors.New("the wallet has 100 transactions or more, more than one page shows")
	}
	return w.BalanceCents, w.Transactions, nil
}

// plain drops the timestamps the benchmark reads, for the books' shared checks.
func plain(orders []orderJSON) []shoptest.Order {
	out := make([]shoptest.Order, len(orders))
	for i, o := range orders {
		out[i] = o.Order
	}
	return out
}
