package system

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

// api is the shop as a front-end sees it: JSON over the gateway's /api, with a bearer token
// once logged in.
type api struct {
	base  string // http://127.0.0.1:port/api
	token string
}

// answer is what the gateway sent back.
type answer struct {
	status int
	header http.Header
	body   []byte
	took   time.Duration
}

// do sends a JSON request and decodes a 2xx JSON answer into out (when not nil). headers are
// extra request headers as name, value pairs. A transport error is returned, not fatal, so
// that scenarios which break the system can look at it.
func (a api) do(ctx context.Context, method, path string, body, out any, headers ...string) (answer, error) {
	var reader io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return answer{}, err
		}
		reader = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, reader)
	if err != nil {
		return answer{}, err
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
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	ans := answer{status: resp.StatusCode, header: resp.Header, body: raw, took: time.Since(start)}
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

// must is do that fails the test unless the status is want.
func (a api) must(t testing.TB, want int, method, path string, body, out any, headers ...string) answer {
	t.Helper()
	ans, err := a.do(t.Context(), method, path, body, out, headers...)
	if err != nil {
		t.Fatal(err)
	}
	if ans.status != want {
		t.Fatalf("%s %s = %d, want %d: %s", method, path, ans.status, want, ans.body)
	}
	return ans
}

func (a api) as(token string) api { return api{base: a.base, token: token} }

// noCache asks the gateway's catalogue cache for a fresh answer: stock changes under the test.
var noCache = []string{"Cache-Control", "no-cache"}

// The shapes of the answers the suite reads.
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

// eventually polls check until it returns nil, failing the test with the last error once the
// deadline passes.
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
		select {
		case <-t.Context().Done():
			t.Fatalf("%s: %v", what, t.Context().Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
