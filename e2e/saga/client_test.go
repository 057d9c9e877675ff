package saga

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// api is a small JSON client for the services' HTTP APIs, as a shop front-end would use them.
type api struct {
	base  string // http://127.0.0.1:port
	token string // bearer token, if any
}

// call sends a JSON request and decodes a JSON answer into out (when not nil). It returns the
// status code and the raw body, so tests can assert on problem+json answers too.
func (a api) call(t testing.TB, method, path string, body, out any, headers ...string) (int, []byte) {
	t.Helper()
	var reader io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		reader = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, reader)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode, raw
}

// must is call that fails the test unless the status is want.
func (a api) must(t testing.TB, want int, method, path string, body, out any, headers ...string) {
	t.Helper()
	if status, raw := a.call(t, method, path, body, out, headers...); status != want {
		t.Fatalf("%s %s = %d, want %d: %s", method, path, status, want, raw)
	}
}

func (a api) as(token string) api { return api{base: a.base, token: token} }

// The shapes of the services' answers that the saga test reads.
type (
	user struct {
		ID           string `json:"id"`
		BalanceCents int64  `json:"balance_cents"`
	}
	product struct {
		ID         string `json:"id"`
		PriceCents int64  `json:"price_cents"`
		Stock      int    `json:"stock"`
		Sold       int    `json:"sold"`
	}
	order struct {
		ID         string `json:"id"`
		Status     string `json:"status"`
		Reason     string `json:"reason"`
		TotalCents int64  `json:"total_cents"`
	}
	orderLine struct {
		ProductID string `json:"product_id"`
		Quantity  int    `json:"quantity"`
	}
)

// terminal reports whether an order status is final.
func terminal(status string) bool {
	return status == "CONFIRMED" || status == "REJECTED" || status == "CANCELLED"
}

// eventually polls check until it returns nil or the deadline passes.
func eventually(t testing.TB, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, %s: %v", timeout, what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitForStatus polls an order until it is terminal and returns it.
func waitForStatus(t testing.TB, orders api, id string) order {
	t.Helper()
	var o order
	eventually(t, 30*time.Second, "order "+id+" to finish its saga", func() error {
		o = order{}
		if status, raw := orders.call(t, http.MethodGet, "/orders/"+id, nil, &o); status != http.StatusOK {
			return fmt.Errorf("GET /orders/%s = %d %s", id, status, raw)
		}
		if !terminal(o.Status) {
			return fmt.Errorf("status %s", o.Status)
		}
		return nil
	})
	return o
}
