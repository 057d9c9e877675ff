// Package productservice is order-service's client of product-service: it prices the lines of
// a new order by asking for each product. It speaks HTTP through whatever *http.Client it is
// given; in production that is the shared resilient client (service discovery, circuit breaker,
// retries, timeouts, tracing), which is why this package has none of those concerns itself.
package productservice

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/tracecart/tracecart/order-service/internal/domain/order"
)

// maxConcurrentCalls bounds the calls one order makes to product-service at once: an order of
// twenty lines is priced in a few round trips without a burst of twenty connections.
const maxConcurrentCalls = 4

// maxBodyBytes bounds a product document read from the network.
const maxBodyBytes = 64 << 10

// Client prices products with product-service's GET /products/{id}.
type Client struct {
	http    *http.Client
	baseURL *url.URL
}

// New returns a client that calls product-service at baseURL (such as "http://product-service",
// a name the client's resolver turns into an instance) through client.
func New(client *http.Client, baseURL string) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("product-service URL %q is not an http(s) URL", baseURL)
	}
	return &Client{http: client, baseURL: u}, nil
}

// product is the part of product-service's product document that pricing needs.
type product struct {
	ID         uuid.UUID `json:"id"`
	PriceCents *int64    `json:"price_cents"`
}

// Prices returns the unit price in cents of every product in ids. A product product-service does
// not know is an error wrapping order.ErrUnknownProduct that names it; product-service failing,
// unreachable or cut off by the circuit breaker is an error wrapping order.ErrCatalogUnavailable.
// Pass the request's context: the calls then join its trace, and stop when it is cancelled.
func (c *Client) Prices(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]int64, error) {
	prices := make([]int64, len(ids))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(maxConcurrentCalls)
	for i, id := range ids {
		g.Go(func() error {
			price, err := c.price(ctx, id)
			prices[i] = price
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	byID := make(map[uuid.UUID]int64, len(ids))
	for i, id := range ids {
		byID[id] = prices[i]
	}
	return byID, nil
}

// price fetches one product and returns its price.
func (c *Client) price(ctx context.Context, id uuid.UUID) (int64, error) {
	u := c.baseURL.JoinPath("products", id.String())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, fmt.Errorf("price product %s: %w", id, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, fmt.Errorf("price product %s: %w", id, context.Cause(ctx))
		}
		// Unreachable, timed out, no healthy instance or an open breaker: all say "later".
		return 0, fmt.Errorf("price product %s: %w: %w", id, order.ErrCatalogUnavailable, err)
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, maxBodyBytes)

	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusNotFound:
		return 0, fmt.Errorf("product %s does not exist: %w", id, order.ErrUnknownProduct)
	case resp.StatusCode >= http.StatusInternalServerError || resp.StatusCode == http.StatusTooManyRequests:
		return 0, fmt.Errorf("price product %s: product-service answered %s: %w", id, resp.Status, order.ErrCatalogUnavailable)
	default:
		// Any other answer means this client asked wrongly: a bug, not an outage.
		return 0, fmt.Errorf("price product %s: product-service answered %s", id, resp.Status)
	}

	var p product
	if err := json.NewDecoder(body).Decode(&p); err != nil {
		return 0, fmt.Errorf("price product %s: decode product-service's answer: %w", id, err)
	}
	switch {
	case p.ID != id:
		return 0, fmt.Errorf("price product %s: product-service answered with product %s", id, p.ID)
	case p.PriceCents == nil:
		return 0, fmt.Errorf("price product %s: product-service's answer has no price_cents", id)
	case *p.PriceCents < 0:
		return 0, fmt.Errorf("price product %s: product-service gave a negative price (%d cents)", id, *p.PriceCents)
	}
	return *p.PriceCents, nil
}
