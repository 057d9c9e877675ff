package system

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tracecart/tracecart/e2e/internal/shoptest"
	"github.com/tracecart/tracecart/e2e/stack"
)

// TestHostileInput is the edge of the system as an attacker sees it, from outside, through the
// gateway: text no service can take (NUL, invalid UTF-8) in every place a client can put it gets
// a 4xx problem document and changes nothing, and a client sending nothing else cannot take the
// shop down for anybody: its failures must never open a breaker that everyone shares.
func TestHostileInput(t *testing.T) {
	s := newShop(t, stack.Options{})
	adminToken := s.login(t, admin, demoPassword)
	aliceToken := s.login(t, alice, demoPassword)

	t.Run("NUL and invalid UTF-8 are refused with a problem and change nothing", func(t *testing.T) {
		products, orders := s.productCount(t), s.orderCount(t, aliceToken)
		email := "edge-" + shoptest.RandomHex(6) + "@example.com"
		// Bodies are written out, not marshalled: encoding/json would repair the invalid UTF-8.
		const badUTF8 = "\xff\xfe"
		tests := []struct {
			name         string
			api          shoptest.API
			method, path string
			body         string // raw JSON, sent as it is; "" for none
		}{
			{"login: NUL email", s.api, http.MethodPost, "/auth/login", `{"email":"\u0000","password":"whatever1"}`},
			{"login: NUL in a known email", s.api, http.MethodPost, "/auth/login", `{"email":"alice@example.com\u0000","password":"tracecart-demo"}`},
			{"login: invalid UTF-8 email", s.api, http.MethodPost, "/auth/login", `{"email":"al` + badUTF8 + `ce@example.com","password":"whatever1"}`},
			{"login: not an email address", s.api, http.MethodPost, "/auth/login", `{"email":"alice","password":"whatever1"}`},
			{"register: NUL name", s.api, http.MethodPost, "/auth/register", `{"email":"` + email + `","password":"correct horse","name":"Ed\u0000ge"}`},
			{"register: invalid UTF-8 name", s.api, http.MethodPost, "/auth/register", `{"email":"` + email + `","password":"correct horse","name":"Ed` + badUTF8 + `ge"}`},
			{"register: invalid UTF-8 email", s.api, http.MethodPost, "/auth/register", `{"email":"ed` + badUTF8 + `ge@example.com","password":"correct horse","name":"Edge"}`},
			{"register: NUL password", s.api, http.MethodPost, "/auth/register", `{"email":"` + email + `","password":"correct\u0000horse","name":"Edge"}`},
			{"search: NUL q", s.api, http.MethodGet, "/products?q=%00", ""},
			{"search: invalid UTF-8 q", s.api, http.MethodGet, "/products?q=%FF%FE", ""},
			{"search: NUL category", s.api, http.MethodGet, "/products?category=%00", ""},
			{"search: invalid UTF-8 category", s.api, http.MethodGet, "/products?category=desk%C3", ""},
			{"product create: NUL name", s.api.As(adminToken), http.MethodPost, "/products", `{"name":"Edge\u0000","description":"d","category":"desk","price_cents":100,"stock":1}`},
			{"product create: invalid UTF-8 name", s.api.As(adminToken), http.MethodPost, "/products", `{"name":"Edge` + badUTF8 + `","description":"d","category":"desk","price_cents":100,"stock":1}`},
			{"product create: NUL category", s.api.As(adminToken), http.MethodPost, "/products", `{"name":"Edge","description":"d","category":"\u0000","price_cents":100,"stock":1}`},
			{"product update: NUL description", s.api.As(adminToken), http.MethodPut, "/products/" + spanSocks, `{"name":"Span Socks","description":"\u0000","category":"apparel","price_cents":100}`},
			{"product update: invalid UTF-8 name", s.api.As(adminToken), http.MethodPut, "/products/" + spanSocks, `{"name":"Span` + badUTF8 + `","description":"d","category":"apparel","price_cents":100}`},
			{"order: NUL product ID", s.api.As(aliceToken), http.MethodPost, "/orders", `{"lines":[{"product_id":"\u0000","quantity":1}]}`},
			{"order: invalid UTF-8 product ID", s.api.As(aliceToken), http.MethodPost, "/orders", `{"lines":[{"product_id":"` + tracingMug[:35] + badUTF8 + `","quantity":1}]}`},
			{"path: NUL product ID", s.api, http.MethodGet, "/products/%00", ""},
			{"path: invalid UTF-8 product ID", s.api, http.MethodGet, "/products/%FF", ""},
			{"path: NUL order ID", s.api.As(aliceToken), http.MethodGet, "/orders/%00", ""},
			{"path: NUL order ID to cancel", s.api.As(aliceToken), http.MethodPost, "/orders/%00/cancel", ""},
			{"path: invalid UTF-8 user ID", s.api.As(aliceToken), http.MethodGet, "/users/%C3", ""},
			{"path: NUL stock adjustment", s.api.As(adminToken), http.MethodPost, "/products/%00/stock-adjustments", `{"delta":1}`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var body any
				if tt.body != "" {
					body = json.RawMessage(tt.body)
				}
				ans := tt.api.Call(t, tt.method, tt.path, body, nil, noCache...)
				assertRefused(t, ans)
			})
		}

		// Nothing was written: no product, no order, no account, and the product that the
		// refused updates named is as it was.
		if n := s.productCount(t); n != products {
			t.Errorf("the catalogue has %d products after the refused writes, want %d", n, products)
		}
		if n := s.orderCount(t, aliceToken); n != orders {
			t.Errorf("alice has %d orders after the refused ones, want %d", n, orders)
		}
		s.api.Must(t, http.StatusCreated, http.MethodPost, "/auth/register",
			map[string]string{"email": email, "password": "correct horse", "name": "Edge"}, nil)
		var socks struct {
			Name        string `json:"name"`
			Description string `json:"description"`
		}
		s.api.Must(t, http.StatusOK, http.MethodGet, "/products/"+spanSocks, nil, &socks, noCache...)
		if socks.Name != "Span Socks" || socks.Description == "" || strings.ContainsAny(socks.Description+socks.Name, "\x00\ufffd") {
			t.Errorf("span socks after the refused updates = %+v, want them unchanged", socks)
		}
	})

	t.Run("a path with dot segments is redirected with a trace ID and a problem", func(t *testing.T) {
		ans := s.doNoRedirect(t, http.MethodGet, "/api/products/../products/"+tracingMug)
		if ans.Status != http.StatusMovedPermanently || ans.Header.Get("Location") != "/api/products/"+tracingMug {
			t.Errorf("GET with dot segments = %d, Location %q; want 301 to the clean path", ans.Status, ans.Header.Get("Location"))
		}
		assertProblem(t, ans)
	})

	t.Run("a hostile client interleaved with a victim costs the victim nothing", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 6*time.Second)
		defer cancel()
		hostile := []struct {
			method, path string
			body         any
		}{
			{http.MethodPost, "/auth/login", json.RawMessage(`{"email":"\u0000","password":"whatever1"}`)},
			{http.MethodGet, "/products?q=%00", nil},
			{http.MethodGet, "/products?category=%00", nil},
			{http.MethodPost, "/auth/login", json.RawMessage(`{"email":"x\u0000@example.com","password":"whatever1"}`)},
		}
		var (
			mu                  sync.Mutex
			victimCalls         int
			victimFailures      []string
			hostileCalls        int
			hostileServerErrors []string
		)
		var wg sync.WaitGroup
		for worker := range 2 { // two hostile connections, as fast as they can
			wg.Go(func() {
				for i := worker; ctx.Err() == nil; i++ {
					h := hostile[i%len(hostile)]
					ans, err := s.api.Do(ctx, h.method, h.path, h.body, nil, noCache...)
					if err != nil {
						continue // the deadline, mid-request
					}
					mu.Lock()
					hostileCalls++
					if ans.Status >= 500 {
						hostileServerErrors = append(hostileServerErrors, fmt.Sprintf("%s %s = %d", h.method, h.path, ans.Status))
					}
					mu.Unlock()
				}
			})
		}
		wg.Go(func() { // the victim: logs in and reads the catalogue, like any shopper
			for i := 0; ctx.Err() == nil; i++ {
				var ans shoptest.Answer
				var err error
				what := "login"
				if i%2 == 0 {
					ans, err = s.api.Do(ctx, http.MethodPost, "/auth/login", map[string]string{"email": bob, "password": demoPassword}, nil)
				} else {
					what = "catalogue read"
					ans, err = s.api.Do(ctx, http.MethodGet, "/products?limit=5", nil, nil, noCache...)
				}
				if err != nil {
					continue // the deadline, mid-request
				}
				mu.Lock()
				victimCalls++
				if ans.Status != http.StatusOK {
					victimFailures = append(victimFailures, fmt.Sprintf("%s = %d %s", what, ans.Status, ans.Body))
				}
				mu.Unlock()
			}
		})
		wg.Wait()

		t.Logf("%d hostile requests interleaved with %d of the victim's", hostileCalls, victimCalls)
		if victimCalls < 10 || hostileCalls < 20 {
			t.Fatalf("only %d victim and %d hostile requests finished: the test proves nothing", victimCalls, hostileCalls)
		}
		if len(victimFailures) > 0 {
			t.Errorf("the victim failed %d of %d requests, want none; first: %s", len(victimFailures), victimCalls, victimFailures[0])
		}
		if len(hostileServerErrors) > 0 {
			t.Errorf("hostile input got %d 5xx answers, want none; first: %s", len(hostileServerErrors), hostileServerErrors[0])
		}
	})
}

// assertRefused checks that the gateway answered a hostile request with a 4xx problem document
// that names its trace.
func assertRefused(t *testing.T, ans shoptest.Answer) {
	t.Helper()
	if ans.Status < 400 || ans.Status >= 500 {
		t.Errorf("status %d, want a 4xx: %s", ans.Status, ans.Body)
	}
	assertProblem(t, ans)
}

// assertProblem checks that an answer is an RFC 9457 problem document with its status, and
// carries the X-Trace-Id that the problem names.
func assertProblem(t *testing.T, ans shoptest.Answer) {
	t.Helper()
	if ct := ans.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("Content-Type %q, want application/problem+json: %s", ct, ans.Body)
		return
	}
	var p struct {
		Status  int    `json:"status"`
		TraceID string `json:"trace_id"`
	}
	if err := json.Unmarshal(ans.Body, &p); err != nil || p.Status != ans.Status {
		t.Errorf("problem %s (%v), want its status %d", ans.Body, err, ans.Status)
	}
	if id := ans.Header.Get("X-Trace-Id"); !traceIDPattern.MatchString(id) {
		t.Errorf("X-Trace-Id %q, want a trace ID", id)
	}
}

// productCount is how many products the catalogue has, read past the gateway's cache.
func (s *shop) productCount(t testing.TB) int {
	t.Helper()
	var page struct {
		Total int `json:"total"`
	}
	s.api.Must(t, http.StatusOK, http.MethodGet, "/products", nil, &page, noCache...)
	return page.Total
}

// doNoRedirect sends a request to the gateway, path and all as written, and returns its answer
// without following a redirect (which shoptest.API, on http.DefaultClient, would).
func (s *shop) doNoRedirect(t testing.TB, method, path string) shoptest.Answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.GatewayURL(t)+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return shoptest.Answer{Status: resp.StatusCode, Header: resp.Header, Body: body, Took: time.Since(start)}
}
