// Package shoptest is what tracecart's end-to-end suites share to talk to a running shop: a
// JSON client for the services' HTTP APIs, the shapes of their answers, polling with a
// deadline, and the Jaeger and Kafka helpers that look inside the system. The saga suite
// (services as local processes) and the system suite (everything in containers, behind the
// gateway) drive the same saga, so they assert it with the same code and cannot drift apart.
//
// It is a test-support package: its helpers take a testing.TB and fail the test themselves,
// so that a scenario reads as a list of steps.
package shoptest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tracecart/tracecart/shared/testinfra"
)

// requestTimeout bounds one HTTP request, so that a hung service fails a poll instead of the
// whole test binary.
const requestTimeout = 15 * time.Second

// API is a service's HTTP API as a front-end uses it: JSON over HTTP, with a bearer token once
// logged in. The value is cheap to copy, so each caller takes the identity it needs with As.
type API struct {
	// Base is the URL the request paths are relative to, such as http://127.0.0.1:port or the
	// gateway's http://127.0.0.1:port/api.
	Base string
	// Token is the bearer token sent with every request, if not empty.
	Token string
}

// Answer is what a service sent back. Scenarios assert on more than the decoded body: the
// gateway's X-Trace-Id and Location headers, problem+json bodies, and how long a failure took.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
	Took   time.Duration
}

// As returns the same API acting as the user the token belongs to.
func (a API) As(token string) API { return API{Base: a.Base, Token: token} }

// Do sends a JSON request and decodes a 2xx JSON answer into out (when not nil). headers are
// extra request headers as name, value pairs. A transport error is returned, not fatal, so
// that scenarios which break the system on purpose can look at it.
func (a API) Do(ctx context.Context, method, path string, body, out any, headers ...string) (Answer, error) {
	var reader io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return Answer{}, fmt.Errorf("%s %s: encode body: %w", method, path, err)
		}
		reader = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, a.Base+path, reader)
	if err != nil {
		return Answer{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.Token != "" {
		req.Header.Set("Authorization", "Bearer "+a.Token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Answer{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	ans := Answer{Status: resp.StatusCode, Header: resp.Header, Body: raw, Took: time.Since(start)}
	if err != nil {
		return ans, fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			return ans, fmt.Errorf("%s %s: decode %s: %w", method, path, raw, err)
		}
	}
	return ans, nil
}

// Call is Do that fails the test on a transport or decoding error but accepts any status, for
// scenarios that assert on the status themselves.
func (a API) Call(t testing.TB, method, path string, body, out any, headers ...string) Answer {
	t.Helper()
	ans, err := a.Do(t.Context(), method, path, body, out, headers...)
	if err != nil {
		t.Fatal(err)
	}
	return ans
}

// Must is Call that also fails the test unless the status is want.
func (a API) Must(t testing.TB, want int, method, path string, body, out any, headers ...string) Answer {
	t.Helper()
	ans := a.Call(t, method, path, body, out, headers...)
	if ans.Status != want {
		t.Fatalf("%s %s = %d, want %d: %s", method, path, ans.Status, want, ans.Body)
	}
	return ans
}

// The shapes of the services' answers that the suites read: only the fields they assert on.
type (
	// User is user-service's view of a customer and their wallet.
	User struct {
		ID           string `json:"id"`
		BalanceCents int64  `json:"balance_cents"`
	}
	// Product is product-service's catalogue entry with its stock books.
	Product struct {
		ID         string `json:"id"`
		PriceCents int64  `json:"price_cents"`
		Stock      int    `json:"stock"`
		Sold       int    `json:"sold"`
	}
	// Order is order-service's order: what was bought, its saga's state and, once decided, why
	// and for how much.
	Order struct {
		ID         string      `json:"id"`
		Status     string      `json:"status"`
		Reason     string      `json:"reason"`
		Lines      []OrderLine `json:"lines"`
		TotalCents int64       `json:"total_cents"`
	}
	// OrderLine is one line of an order as a customer places it.
	OrderLine struct {
		ProductID string `json:"product_id"`
		Quantity  int    `json:"quantity"`
	}
)

// Terminal reports whether an order status is final: the saga will not move it again.
func Terminal(status string) bool {
	return status == "CONFIRMED" || status == "REJECTED" || status == "CANCELLED"
}

// Login logs a seeded or registered user in through users (user-service's API, or the
// gateway's) and returns the bearer token every customer call needs.
func Login(t testing.TB, users API, email, password string) string {
	t.Helper()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	users.Must(t, http.StatusOK, http.MethodPost, "/auth/login",
		map[string]string{"email": email, "password": password}, &tok)
	return tok.AccessToken
}

// Balance returns the wallet balance of the user that users acts as: the money side of the
// saga's books.
func Balance(t testing.TB, users API) int64 {
	t.Helper()
	var u User
	users.Must(t, http.StatusOK, http.MethodGet, "/users/me", nil, &u)
	return u.BalanceCents
}

// Eventually polls check until it returns nil, failing the test with the last error once the
// timeout passes. The system is asynchronous, so this is how a test waits for it: never with a
// sleep. It is testinfra.WaitFor, named for how the scenarios read.
func Eventually(t testing.TB, timeout time.Duration, what string, check func() error) {
	t.Helper()
	testinfra.WaitFor(t, timeout, what, check)
}

// WaitTerminal polls an order through orders, which must act as its owner, until its saga has
// finished, and returns it. Failed requests are retried until the timeout: some scenarios wait
// through a service's restart.
func WaitTerminal(t testing.TB, orders API, id string, timeout time.Duration) Order {
	t.Helper()
	var o Order
	Eventually(t, timeout, "order "+id+" to finish its saga", func() error {
		o = Order{}
		ans, err := orders.Do(t.Context(), http.MethodGet, "/orders/"+id, nil, &o)
		if err != nil {
			return err
		}
		if ans.Status != http.StatusOK {
			return fmt.Errorf("GET /orders/%s = %d %s", id, ans.Status, ans.Body)
		}
		if !Terminal(o.Status) {
			return fmt.Errorf("status %s", o.Status)
		}
		return nil
	})
	return o
}

// RandomHex returns n random bytes in hex: names, e-mail addresses and trace IDs that do not
// collide with another test's, or with the previous run's, on a shop that keeps its data.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// Parallel runs f(i) for i in [0, n) on up to workers goroutines and returns when all are done:
// how a test makes customers contend for the same stock and money at the same time.
func Parallel(n, workers int, f func(i int)) {
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
