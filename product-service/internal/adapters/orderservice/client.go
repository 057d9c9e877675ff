// Package orderservice is product-service's client of order-service: it asks how an order's
// saga ended, for the reconciler that settles reservations whose saga events never arrived. It
// speaks HTTP through whatever *http.Client it is given; in production that is the chain run
// composes (service discovery, circuit breaker, retries, timeouts, tracing), which is why this
// package has none of those concerns itself.
package orderservice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/product-service/internal/app"
	"github.com/tracecart/tracecart/product-service/internal/domain/inventory"
)

// maxBodyBytes bounds an answer read from the network; a status document is tiny.
const maxBodyBytes = 4 << 10

// ErrUnknownOrder means order-service has no such order. For an order product-service
// reserved stock for, that is not a state to heal but something to look at: the reservation is
// left as it is.
var ErrUnknownOrder = errors.New("order-service does not know the order")

// Client reads order statuses with order-service's GET /internal/orders/{id}/status.
type Client struct {
	http    *http.Client
	baseURL *url.URL
}

var _ app.OrderStatuses = (*Client)(nil)

// New returns a client that calls order-service at baseURL (such as "http://order-service",
// a name the client's resolver turns into an instance) through client.
func New(client *http.Client, baseURL string) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("order-service URL %q is not an http(s) URL", baseURL)
	}
	return &Client{http: client, baseURL: u}, nil
}

// statusJSON is order-service's answer.
type statusJSON struct {
	ID     uuid.UUID `json:"id"`
	Status string    `json:"status"`
}

// Status returns order-service's status of order id. An order order-service does not know is
// an error wrapping ErrUnknownOrder; any other failure (unreachable, an open breaker, a 5xx, an
// answer that makes no sense) is an error to try again later. Pass a context that carries the
// order's trace: the call then joins it.
func (c *Client) Status(ctx context.Context, id uuid.UUID) (inventory.OrderStatus, error) {
	u := c.baseURL.JoinPath("internal", "orders", id.String(), "status")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", fmt.Errorf("status of order %s: %w", id, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("status of order %s: %w", id, err)
	}
	defer resp.Body.Close()

	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return "", fmt.Errorf("status of order %s: %w", id, ErrUnknownOrder)
	default:
		return "", fmt.Errorf("status of order %s: order-service answered %s", id, resp.Status)
	}
	var s statusJSON
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBodyBytes)).Decode(&s); err != nil {
		return "", fmt.Errorf("status of order %s: decode order-service's answer: %w", id, err)
	}
	if s.ID != id || s.Status == "" {
		return "", fmt.Errorf("status of order %s: order-service answered %+v", id, s)
	}
	return inventory.OrderStatus(s.Status), nil
}
