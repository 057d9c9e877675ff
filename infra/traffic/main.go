// Command traffic gives the demo's dashboards and traces something to show: a few shoppers who
// register, top up their wallets, browse the catalogue and place orders through the gateway's
// public API, as the storefront would. Some orders ask for more than is in stock or more than
// the wallet holds, so rejections, cancellations and their compensations show up too, and a few
// confirmed orders are cancelled again (restock and refund).
//
// It is configured by the environment:
//
//	GATEWAY_URL   the gateway's address (http://gateway:8080)
//	SHOPPERS      how many shoppers order at once (3)
//	ORDER_EVERY   the pause between one shopper's orders (1s)
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"
)

func main() {
	if err := run(context.Background(), os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// config is what run reads from the environment.
type config struct {
	gateway    string
	shoppers   int
	orderEvery time.Duration
}

func loadConfig(getenv func(string) string) (config, error) {
	c := config{gateway: "http://gateway:8080", shoppers: 3, orderEvery: time.Second}
	if v := getenv("GATEWAY_URL"); v != "" {
		c.gateway = v
	}
	if v := getenv("SHOPPERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return c, fmt.Errorf("SHOPPERS=%q: want a positive number", v)
		}
		c.shoppers = n
	}
	if v := getenv("ORDER_EVERY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("ORDER_EVERY=%q: want a positive duration such as 500ms", v)
		}
		c.orderEvery = d
	}
	return c, nil
}

// run starts the shoppers and stops them on SIGINT or SIGTERM. A shopper that meets an error
// logs it and tries again later: the gateway may not be up yet, and a demo should recover.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("traffic: %w", err)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewJSONHandler(stdout, nil))
	client := &http.Client{Timeout: 10 * time.Second}

	var wg sync.WaitGroup
	for i := range cfg.shoppers {
		wg.Go(func() {
			s := &shopper{api: api{client: client, base: cfg.gateway}, email: fmt.Sprintf("shopper-%d-%d@traffic.example", i, time.Now().UnixNano())}
			for ctx.Err() == nil {
				if err := s.shop(ctx); err != nil && ctx.Err() == nil {
					logger.Warn("shopping failed; trying again", slog.String("shopper", s.email), slog.String("error", err.Error()))
				}
				sleep(ctx, cfg.orderEvery)
			}
		})
	}
	wg.Wait()
	return nil
}

// maxQuantity is the most of one product order-service accepts on an order line.
const maxQuantity = 100

// shopper is one customer of the shop.
type shopper struct {
	api   api
	email string
	token string
}

// shop is one visit: sign in if needed, browse, order, and follow the order to its end.
func (s *shopper) shop(ctx context.Context) error {
	if s.token == "" {
		if err := s.signUp(ctx); err != nil {
			return err
		}
	}
	var catalogue struct {
		Items []struct {
			ID    string `json:"id"`
			Stock int    `json:"stock"`
		} `json:"items"`
	}
	if err := s.api.call(ctx, http.MethodGet, "/api/products?limit=20", nil, &catalogue); err != nil {
		return fmt.Errorf("browse: %w", err)
	}
	if len(catalogue.Items) == 0 {
		return errors.New("browse: the catalogue is empty")
	}
	item := catalogue.Items[rand.IntN(len(catalogue.Items))]
	if err := s.api.call(ctx, http.MethodGet, "/api/products/"+item.ID, nil, nil); err != nil {
		return fmt.Errorf("view product %s: %w", item.ID, err)
	}
	quantity := 1 + rand.IntN(2)
	if rand.IntN(20) == 0 && item.Stock < maxQuantity {
		quantity = item.Stock + 1 // more than there is: the saga rejects it
	}
	var order struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	lines := []map[string]any{{"product_id": item.ID, "quantity": quantity}}
	if err := s.api.call(ctx, http.MethodPost, "/api/orders", map[string]any{"lines": lines}, &order); err != nil {
		return fmt.Errorf("order: %w", err)
	}
	for deadline := time.Now().Add(30 * time.Second); order.Status == "PENDING" && time.Now().Before(deadline); {
		sleep(ctx, 100*time.Millisecond)
		if err := s.api.call(ctx, http.MethodGet, "/api/orders/"+order.ID, nil, &order); err != nil {
			return fmt.Errorf("follow order %s: %w", order.ID, err)
		}
	}
	if order.Status == "CONFIRMED" && rand.IntN(10) == 0 {
		// Changed their mind: restock and refund.
		if err := s.api.call(ctx, http.MethodPost, "/api/orders/"+order.ID+"/cancel", nil, nil); err != nil {
			return fmt.Errorf("cancel order %s: %w", order.ID, err)
		}
	}
	if rand.IntN(5) == 0 {
		// Top up now and then, but not always enough: some orders fail for want of money.
		top := map[string]any{"amount_cents": 2000 + rand.IntN(10000)}
		if err := s.api.call(ctx, http.MethodPost, "/api/users/me/wallet/top-ups", top, nil); err != nil {
			return fmt.Errorf("top up: %w", err)
		}
	}
	return nil
}

// signUp registers the shopper (or finds them already registered) and logs in.
func (s *shopper) signUp(ctx context.Context) error {
	const password = "traffic-generator"
	account := map[string]string{"email": s.email, "password": password, "name": "Traffic Generator"}
	if err := s.api.call(ctx, http.MethodPost, "/api/auth/register", account, nil); err != nil {
		var status statusError
		if !errors.As(err, &status) || status.code != http.StatusConflict {
			return fmt.Errorf("register: %w", err)
		}
	}
	var token struct {
		AccessToken string `json:"access_token"`
	}
	login := map[string]string{"email": s.email, "password": password}
	if err := s.api.call(ctx, http.MethodPost, "/api/auth/login", login, &token); err != nil {
		return fmt.Errorf("log in: %w", err)
	}
	s.token = token.AccessToken
	s.api.token = token.AccessToken
	return nil
}

// api calls the gateway with JSON.
type api struct {
	client *http.Client
	base   string
	token  string
}

// statusError is an answer outside 2xx.
type statusError struct {
	code int
	body string
}

func (e statusError) Error() string { return fmt.Sprintf("status %d: %.200s", e.code, e.body) }

// call sends body (if not nil) as JSON and decodes a 2xx answer into out (if not nil).
func (a api) call(ctx context.Context, method, path string, body, out any) error {
	var reader io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		reader = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, reader)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return statusError{code: resp.StatusCode, body: string(raw)}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("decode answer: %w", err)
		}
	}
	return nil
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
