package system

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tracecart/tracecart/e2e/stack"
)

// The demo data the services seed (SEED_DEMO_DATA defaults to true).
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

// shop is a running stack seen through its gateway.
type shop struct {
	*stack.Stack
	api api
}

func newShop(t *testing.T, opts stack.Options) *shop {
	t.Helper()
	s := stack.Start(t, opts)
	return &shop{Stack: s, api: api{base: s.GatewayURL(t) + "/api"}}
}

// login returns a bearer token.
func (s *shop) login(t testing.TB, email, password string) string {
	t.Helper()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	s.api.must(t, http.StatusOK, http.MethodPost, "/auth/login",
		map[string]string{"email": email, "password": password}, &tok)
	return tok.AccessToken
}

// newUser registers a user with an empty wallet, tops it up by amount (if positive) and returns
// its token.
func (s *shop) newUser(t testing.TB, amount int64) string {
	t.Helper()
	email := "shopper-" + randomHex(6) + "@example.com"
	const password = "correct horse battery"
	s.api.must(t, http.StatusCreated, http.MethodPost, "/auth/register",
		map[string]string{"email": email, "password": password, "name": "Shopper"}, nil)
	token := s.login(t, email, password)
	if amount > 0 {
		s.api.as(token).must(t, http.StatusOK, http.MethodPost, "/users/me/wallet/top-ups",
			map[string]int64{"amount_cents": amount}, nil)
	}
	return token
}

// newProduct creates a product as the admin.
func (s *shop) newProduct(t testing.TB, priceCents int64, stock int) product {
	t.Helper()
	var p product
	s.api.as(s.login(t, admin, demoPassword)).must(t, http.StatusCreated, http.MethodPost, "/products", map[string]any{
		"name": "E2E Item " + randomHex(4), "description": "made by the e2e suite", "category": "desk",
		"price_cents": priceCents, "stock": stock,
	}, &p)
	return p
}

func (s *shop) balance(t testing.TB, token string) int64 {
	t.Helper()
	var u user
	s.api.as(token).must(t, http.StatusOK, http.MethodGet, "/users/me", nil, &u)
	return u.BalanceCents
}

// product reads a product past the gateway's cache.
func (s *shop) product(t testing.TB, id string) product {
	t.Helper()
	var p product
	s.api.must(t, http.StatusOK, http.MethodGet, "/products/"+id, nil, &p, noCache...)
	return p
}

// placeOrder posts an order, which must be accepted, and returns it with the gateway's answer.
func (s *shop) placeOrder(t testing.TB, token string, lines ...orderLine) (order, answer) {
	t.Helper()
	var o order
	ans := s.api.as(token).must(t, http.StatusAccepted, http.MethodPost, "/orders", map[string]any{"lines": lines}, &o)
	if o.Status != "PENDING" {
		t.Errorf("accepted order %s is %s, want PENDING", o.ID, o.Status)
	}
	return o, ans
}

// waitTerminal polls an order until its saga has finished and returns it. Failed requests
// are retried until the deadline: some scenarios wait through a service's restart.
func (s *shop) waitTerminal(t testing.TB, token, id string) order {
	t.Helper()
	var o order
	eventually(t, sagaDeadline, "order "+id+" to finish its saga", func() error {
		o = order{}
		ans, err := s.api.as(token).do(t.Context(), http.MethodGet, "/orders/"+id, nil, &o)
		if err != nil {
			return err
		}
		if ans.status != http.StatusOK {
			return fmt.Errorf("GET /orders/%s = %d %s", id, ans.status, ans.body)
		}
		if !terminal(o.Status) {
			return fmt.Errorf("status %s", o.Status)
		}
		return nil
	})
	return o
}

// orderCount is how many orders a user has.
func (s *shop) orderCount(t testing.TB, token string) int {
	t.Helper()
	var page struct {
		Total int `json:"total"`
	}
	s.api.as(token).must(t, http.StatusOK, http.MethodGet, "/orders", nil, &page)
	return page.Total
}

// orderIDs returns the IDs of every order a user has (up to 100), waiting through a restart of
// order-service.
func (s *shop) orderIDs(t testing.TB, token string) []string {
	t.Helper()
	var page struct {
		Items []order `json:"items"`
	}
	eventually(t, 30*time.Second, "the order list", func() error {
		ans, err := s.api.as(token).do(t.Context(), http.MethodGet, "/orders?limit=100", nil, &page)
		if err != nil {
			return err
		}
		if ans.status != http.StatusOK {
			return fmt.Errorf("GET /orders = %d %s", ans.status, ans.body)
		}
		return nil
	})
	ids := make([]string, 0, len(page.Items))
	for _, o := range page.Items {
		ids = append(ids, o.ID)
	}
	return ids
}

// catalogueUp reports whether a fresh catalogue read succeeds through the gateway.
func (s *shop) catalogueUp(t testing.TB) error {
	t.Helper()
	ans, err := s.api.do(t.Context(), http.MethodGet, "/products/"+tracingMug, nil, nil, noCache...)
	if err != nil {
		return err
	}
	if ans.status != http.StatusOK {
		return fmt.Errorf("GET /products/{id} = %d %s", ans.status, ans.body)
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// parallel runs f(i) for i in [0, n) on up to workers goroutines.
func parallel(n, workers int, f func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}
