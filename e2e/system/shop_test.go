package system

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/tracecart/tracecart/e2e/internal/shoptest"
	"github.com/tracecart/tracecart/e2e/stack"
)

// The demo data the services seed (the stack sets SEED_DEMO_DATA=true, as the compose file does).
const (
	alice        = "alice@example.com"
	bob          = "bob@example.com"
	admin        = "admin@example.com"
	demoPassword = "tracecart-demo"

	tracingMug      = "00000000-0000-4000-8000-000000000101"
	spanSocks       = "00000000-0000-4000-8000-000000000102"
	contextKeyboard = "00000000-0000-4000-8000-000000000107" // 8900 cents, more than bob has
	lastOneLamp     = "00000000-0000-4000-8000-000000000108" // stock 1
)

// sagaDeadline is how long a test waits for one saga to finish. It is longer than the stack's
// saga timeout, so an order that is never decided fails the test only after order-service had
// its chance to cancel it.
const sagaDeadline = 45 * time.Second

// noCache asks the gateway's catalogue cache for a fresh answer: stock changes under the test.
var noCache = []string{"Cache-Control", "no-cache"}

// shop is a running stack seen through its gateway.
type shop struct {
	*stack.Stack
	api shoptest.API
}

func newShop(t *testing.T, opts stack.Options) *shop {
	t.Helper()
	s := stack.Start(t, opts)
	return &shop{Stack: s, api: shoptest.API{Base: s.GatewayURL(t) + "/api"}}
}

// login returns a bearer token.
func (s *shop) login(t testing.TB, email, password string) string {
	t.Helper()
	return shoptest.Login(t, s.api, email, password)
}

// newUser registers a user with an empty wallet, tops it up by amount (if positive) and returns
// its token.
func (s *shop) newUser(t testing.TB, amount int64) string {
	t.Helper()
	email := "shopper-" + shoptest.RandomHex(6) + "@example.com"
	const password = "correct horse battery"
	s.api.Must(t, http.StatusCreated, http.MethodPost, "/auth/register",
		map[string]string{"email": email, "password": password, "name": "Shopper"}, nil)
	token := s.login(t, email, password)
	if amount > 0 {
		s.api.As(token).Must(t, http.StatusOK, http.MethodPost, "/users/me/wallet/top-ups",
			map[string]int64{"amount_cents": amount}, nil)
	}
	return token
}

// newProduct creates a product as the admin.
func (s *shop) newProduct(t testing.TB, priceCents int64, stock int) shoptest.Product {
	t.Helper()
	var p shoptest.Product
	s.api.As(s.login(t, admin, demoPassword)).Must(t, http.StatusCreated, http.MethodPost, "/products", map[string]any{
		"name": "E2E Item " + shoptest.RandomHex(4), "description": "made by the e2e suite", "category": "desk",
		"price_cents": priceCents, "stock": stock,
	}, &p)
	return p
}

// balance is the wallet balance of the user the token belongs to.
func (s *shop) balance(t testing.TB, token string) int64 {
	t.Helper()
	return shoptest.Balance(t, s.api.As(token))
}

// product reads a product past the gateway's cache.
func (s *shop) product(t testing.TB, id string) shoptest.Product {
	t.Helper()
	var p shoptest.Product
	s.api.Must(t, http.StatusOK, http.MethodGet, "/products/"+id, nil, &p, noCache...)
	return p
}

// placeOrder posts an order, which must be accepted, and returns it with the gateway's answer.
func (s *shop) placeOrder(t testing.TB, token string, lines ...shoptest.OrderLine) (shoptest.Order, shoptest.Answer) {
	t.Helper()
	var o shoptest.Order
	ans := s.api.As(token).Must(t, http.StatusAccepted, http.MethodPost, "/orders", map[string]any{"lines": lines}, &o)
	if o.Status != "PENDING" {
		t.Errorf("accepted order %s is %s, want PENDING", o.ID, o.Status)
	}
	return o, ans
}

// waitTerminal polls an order until its saga has finished and returns it. Failed requests
// are retried until the deadline: some scenarios wait through a service's restart.
func (s *shop) waitTerminal(t testing.TB, token, id string) shoptest.Order {
	t.Helper()
	return shoptest.WaitTerminal(t, s.api.As(token), id, sagaDeadline)
}

// orderCount is how many orders a user has.
func (s *shop) orderCount(t testing.TB, token string) int {
	t.Helper()
	var page struct {
		Total int `json:"total"`
	}
	s.api.As(token).Must(t, http.StatusOK, http.MethodGet, "/orders", nil, &page)
	return page.Total
}

// orders returns every order a customer has, as order-service lists them, waiting through a
// restart of order-service. A page holds 100 orders, more than any scenario places for one
// customer; a customer with more fails the test rather than hiding the rest.
func (s *shop) orders(t testing.TB, token string) []shoptest.Order {
	t.Helper()
	var page struct {
		Items []shoptest.Order `json:"items"`
		Total int              `json:"total"`
	}
	shoptest.Eventually(t, 30*time.Second, "the order list", func() error {
		ans, err := s.api.As(token).Do(t.Context(), http.MethodGet, "/orders?limit=100", nil, &page)
		if err != nil {
			return err
		}
		if ans.Status != http.StatusOK {
			return fmt.Errorf("GET /orders = %d %s", ans.Status, ans.Body)
		}
		return nil
	})
	if page.Total > len(page.Items) {
		t.Fatalf("the customer has %d orders, more than the %d one page lists", page.Total, len(page.Items))
	}
	return page.Items
}

// wallet returns a customer's balance and whole ledger, newest first. It returns an error
// rather than failing, for checks that poll it.
func (s *shop) wallet(ctx context.Context, token string) (balance int64, txs []shoptest.WalletTransaction, err error) {
	var w struct {
		BalanceCents int64                        `json:"balance_cents"`
		Transactions []shoptest.WalletTransaction `json:"transactions"`
	}
	ans, err := s.api.As(token).Do(ctx, http.MethodGet, "/users/me/wallet?limit=100", nil, &w)
	if err != nil {
		return 0, nil, err
	}
	if ans.Status != http.StatusOK {
		return 0, nil, fmt.Errorf("GET /users/me/wallet = %d %s", ans.Status, ans.Body)
	}
	if len(w.Transactions) == 100 {
		return 0, nil, errors.New("the wallet has 100 transactions or more, more than one page shows")
	}
	return w.BalanceCents, w.Transactions, nil
}

// kafka reaches the broker from the test. The broker advertises kafka:9092, the name the
// services know it by; the test dials where that listener is published on the host, which
// changes when the broker restarts, so it is looked up each time.
func (s *shop) kafka(t testing.TB) shoptest.Kafka {
	t.Helper()
	return shoptest.PublishedKafka("kafka:9092", s.KafkaAddr(t))
}

// catalogueUp reports whether a fresh catalogue read succeeds through the gateway.
func (s *shop) catalogueUp(t testing.TB) error {
	t.Helper()
	ans, err := s.api.Do(t.Context(), http.MethodGet, "/products/"+tracingMug, nil, nil, noCache...)
	if err != nil {
		return err
	}
	if ans.Status != http.StatusOK {
		return fmt.Errorf("GET /products/{id} = %d %s", ans.Status, ans.Body)
	}
	return nil
}
