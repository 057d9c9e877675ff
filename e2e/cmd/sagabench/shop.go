package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tracecart/tracecart/e2e/internal/shoptest"
)

// The demo data every compose stack seeds (SEED_DEMO_DATA=true): the admin creates the
// benchmark's products.
const (
	adminEmail   = "admin@example.com"
	demoPassword = "tracecart-demo"
)

// requestTimeout bounds one HTTP request: a request that takes longer counts as failed.
const requestTimeout = 30 * time.Second

// shop talks to the gateway's API as a front-end would. Unlike shoptest.API it keeps many
// connections open (the default transport keeps two per host, so an open loop would spend its
// time opening connections) and counts what the gateway refused for rate limits, which would
// make a run's figures suspect.
type shop struct {
	base   string
	client *http.Client

	progress io.Writer // where setup and progress notes go (the report goes to stdout)

	rateLimited atomic.Int64 // 429 answers, retried or not
	requests    atomic.Int64 // requests sent, polls included
}

func newShop(gateway string, progress io.Writer) *shop {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConns = 1024
	transport.MaxIdleConnsPerHost = 1024
	return &shop{base: gateway + "/api", progress: progress, client: &http.Client{Transport: transport, Timeout: requestTimeout}}
}

// answer is what the gateway sent back, with the request's round-trip time.
type answer struct {
	status int
	header http.Header
	body   []byte
	took   time.Duration
}

// do sends a JSON request as the user of token (none if empty) and decodes a 2xx answer into
// out when out is not nil.
func (s *shop) do(ctx context.Context, token, method, path string, body, out any, headers ...string) (answer, error) {
	var reader io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return answer{}, fmt.Errorf("%s %s: encode body: %w", method, path, err)
		}
		reader = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, reader)
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	s.requests.Add(1)
	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	ans := answer{status: resp.StatusCode, header: resp.Header, body: raw, took: time.Since(start)}
	if err != nil {
		return ans, fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		s.rateLimited.Add(1)
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			return ans, fmt.Errorf("%s %s: decode %.200s: %w", method, path, raw, err)
		}
	}
	return ans, nil
}

// must is do for setup and checking calls, which are not measured: it waits out rate limits
// (the gateway limits each client address too, and setup registers many customers from one
// address), retries a few times when the gateway answers that an upstream is unavailable or
// slow (a busy machine makes password hashing slow), and turns any other status but want, or
// any of accepted, into an error.
func (s *shop) must(ctx context.Context, want int, token, method, path string, body, out any, headers ...string) error {
	const attempts = 5
	for attempt := 1; ; attempt++ {
		ans, err := s.do(ctx, token, method, path, body, out, headers...)
		if err != nil {
			return err
		}
		switch {
		case ans.status == want:
			return nil
		case ans.status == http.StatusTooManyRequests:
			err = sleep(ctx, retryAfter(ans.header))
		case attempt < attempts && (ans.status == http.StatusBadGateway ||
			ans.status == http.StatusServiceUnavailable || ans.status == http.StatusGatewayTimeout):
			err = sleep(ctx, time.Duration(attempt)*time.Second)
		default:
			return &statusError{method: method, path: path, got: ans.status, want: want, body: ans.body}
		}
		if err != nil {
			return err
		}
	}
}

// statusError is an answer with the wrong status.
type statusError struct {
	method, path string
	got, want    int
	body         []byte
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s = %d, want %d: %.300s", e.method, e.path, e.got, e.want, e.body)
}

// retryAfter reads a 429's Retry-After (whole seconds), with a short default.
func retryAfter(h http.Header) time.Duration {
	if n, err := strconv.Atoi(h.Get("Retry-After")); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	return 100 * time.Millisecond
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// waitReady waits until the shop can take an order: a login works, and order-service and
// product-service answer through the gateway (each service registers with Consul on its own
// schedule).
func (s *shop) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		token, err := s.login(ctx, adminEmail, demoPassword)
		if err == nil {
			err = errors.Join(
				s.must(ctx, http.StatusOK, token, http.MethodGet, "/orders?limit=1", nil, nil),
				s.must(ctx, http.StatusOK, token, http.MethodGet, "/products?limit=1", nil, nil))
		}
		if err == nil {
			return nil
		}
		last = err
		if sleep(ctx, 500*time.Millisecond) != nil {
			return fmt.Errorf("the shop at %s did not get ready in %s: %w", s.base, timeout, last)
		}
	}
}

// login returns a bearer token.
func (s *shop) login(ctx context.Context, email, password string) (string, error) {
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err := s.must(ctx, http.StatusOK, "", http.MethodPost, "/auth/login",
		map[string]string{"email": email, "password": password}, &tok)
	return tok.AccessToken, err
}

// customer is a shopper the benchmark registered, with the money it put in its wallet and the
// number of orders handed out to it so far.
type customer struct {
	token  string
	topUp  int64
	orders int
}

// customerTopUp is what each customer puts in the wallet: far more than PerCustomer orders can
// cost, so that every order is paid and a run measures the saga's longest path, to CONFIRMED.
const customerTopUp = 5_000_000

// productPrice is the benchmark products' price, in cents.
const productPrice = 250

// productStock is each benchmark product's initial stock: more than any run can sell, for the
// same reason as customerTopUp.
const productStock = 1_000_000

// registerCustomer creates a customer with a full wallet.
func (s *shop) registerCustomer(ctx context.Context) (*customer, error) {
	email := "bench-" + shoptest.RandomHex(8) + "@example.com"
	const password = "saga bench password"
	err := s.must(ctx, http.StatusCreated, "", http.MethodPost, "/auth/register",
		map[string]string{"email": email, "password": password, "name": "Bench Shopper"}, nil)
	// A registration that timed out at the gateway may have happened: its retry is a conflict.
	var answered *statusError
	if err != nil && !(errors.As(err, &answered) && answered.got == http.StatusConflict) {
		return nil, err
	}
	token, err := s.login(ctx, email, password)
	if err != nil {
		return nil, err
	}
	if err := s.must(ctx, http.StatusOK, token, http.MethodPost, "/users/me/wallet/top-ups",
		map[string]int64{"amount_cents": customerTopUp}, nil); err != nil {
		return nil, err
	}
	return &customer{token: token, topUp: customerTopUp}, nil
}

// fixture is what a run orders from and whose books it checks: its own products and customers,
// so that books of earlier runs on the same stack do not mix in.
type fixture struct {
	products []shoptest.Product

	mu        sync.Mutex
	customers []*customer
	next      int // round robin position in customers
	perOrder  int // orders per customer
	late      int // customers registered during the load because the prepared ones were used up
}

// prepare creates the run's products and registers as many customers as the run is expected to
// need (open loop: exactly; closed loop: an estimate, topped up during the run if short).
func prepare(ctx context.Context, s *shop, cfg config) (*fixture, error) {
	adminToken, err := s.login(ctx, adminEmail, demoPassword)
	if err != nil {
		return nil, err
	}
	f := &fixture{perOrder: cfg.PerCustomer}
	for range cfg.Products {
		var p shoptest.Product
		if err := s.must(ctx, http.StatusCreated, adminToken, http.MethodPost, "/products", map[string]any{
			"name": "Bench Item " + shoptest.RandomHex(4), "description": "made by sagabench", "category": "desk",
			"price_cents": productPrice, "stock": productStock,
		}, &p); err != nil {
			return nil, err
		}
		f.products = append(f.products, p)
	}

	n := customersNeeded(cfg)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		errs    []error
		started = time.Now()
	)
	jobs := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for range jobs {
				c, err := s.registerCustomer(ctx)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					f.customers = append(f.customers, c)
				}
				mu.Unlock()
			}
		})
	}
	for range n {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("register customers: %w", err)
	}
	fmt.Fprintf(s.progress, "prepared %d products and %d customers in %s\n", len(f.products), len(f.customers), time.Since(started).Round(100*time.Millisecond))
	return f, nil
}

// customersNeeded is how many customers prepare registers. The open loop knows how many orders
// it will place. The closed loop cannot: it starts with enough customers for five orders a second
// per client, and refill registers more while it runs. Each customer's requests are spread thin:
// the gateway limits every customer to 50 requests a second, and a customer's polls count too.
func customersNeeded(cfg config) int {
	expected := cfg.Rate * cfg.Duration.Seconds()
	if cfg.Clients > 0 {
		expected = 5 * float64(cfg.Clients) * cfg.Duration.Seconds()
	}
	return max(int(expected)/cfg.PerCustomer+1, 2*cfg.Clients)
}

// refill registers customers in the background until ctx ends, so that the closed loop, whose
// order count nobody knows in advance, does not run out: it keeps room for at least ten seconds
// of orders at the rate of the last second, and for two orders per client.
func (f *fixture) refill(ctx context.Context, s *shop, clients int) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var takenBefore int
	lastTick := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		f.mu.Lock()
		room, taken := 0, 0
		for _, c := range f.customers {
			room += f.perOrder - c.orders
			taken += c.orders
		}
		f.mu.Unlock()
		rate := float64(taken-takenBefore) / time.Since(lastTick).Seconds()
		takenBefore, lastTick = taken, time.Now()
		for want := max(int(rate*10), 2*clients); room < want && ctx.Err() == nil; room += f.perOrder {
			c, err := s.registerCustomer(ctx)
			if err != nil {
				break // take registers one itself if it has to
			}
			f.mu.Lock()
			f.customers = append(f.customers, c)
			f.mu.Unlock()
		}
	}
}

// take hands out the customer who places the next order, round robin over the customers that
// have not reached their quota, registering a new one if every customer has.
func (f *fixture) take(ctx context.Context, s *shop) (*customer, error) {
	f.mu.Lock()
	for range len(f.customers) {
		c := f.customers[f.next%len(f.customers)]
		f.next++
		if c.orders < f.perOrder {
			c.orders++
			f.mu.Unlock()
			return c, nil
		}
	}
	f.mu.Unlock()

	c, err := s.registerCustomer(ctx)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c.orders = 1
	f.customers = append(f.customers, c)
	f.late++
	return c, nil
}
