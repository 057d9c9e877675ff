package httpapi

import (
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/order-service/internal/domain/order"
	"github.com/tracecart/tracecart/shared/httpserver"
)

// createOrderRequest is the body of POST /orders.
type createOrderRequest struct {
	Lines []lineRequest `json:"lines"`
}

// lineRequest is one requested line. The product ID is decoded as a string and parsed here,
// so that a malformed one gets an answer naming its line rather than a generic decode error.
type lineRequest struct {
	ProductID string `json:"product_id"`
	Quantity  int    `json:"quantity"`
}

// items parses the request's product IDs. A malformed ID is a malformed request (400); a
// missing one is left as uuid.Nil for order.NewItems to refuse (422) with the other rules.
func (req createOrderRequest) items() ([]order.Item, error) {
	items := make([]order.Item, len(req.Lines))
	for i, l := range req.Lines {
		items[i].Quantity = l.Quantity
		if l.ProductID == "" {
			continue
		}
		id, err := uuid.Parse(l.ProductID)
		if err != nil {
			return nil, &httpserver.RequestError{
				Status: http.StatusBadRequest,
				Detail: fmt.Sprintf("line %d: product_id %q is not a UUID", i+1, l.ProductID),
				Err:    err,
			}
		}
		items[i].ProductID = id
	}
	return items, nil
}

// orderJSON is an order as the API shows it.
type orderJSON struct {
	ID         uuid.UUID  `json:"id"`
	UserID     uuid.UUID  `json:"user_id"`
	Status     string     `json:"status"`
	Reason     string     `json:"reason,omitempty"`
	Lines      []lineJSON `json:"lines"`
	TotalCents int64      `json:"total_cents"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
}

// orderStatusJSON is the answer of the internal status route.
type orderStatusJSON struct {
	ID     uuid.UUID `json:"id"`
	Status string    `json:"status"`
}

// lineJSON is one priced line of an order.
type lineJSON struct {
	ProductID      uuid.UUID `json:"product_id"`
	Quantity       int       `json:"quantity"`
	UnitPriceCents int64     `json:"unit_price_cents"`
}

// orderListJSON is a page of GET /orders, shaped like product-service's pages of products.
type orderListJSON struct {
	Items  []orderJSON `json:"items"`
	Total  int         `json:"total"`
	Limit  int         `json:"limit"`
	Offset int         `json:"offset"`
}

func orderResponse(o order.Order) orderJSON {
	lines := make([]lineJSON, 0, len(o.Lines))
	for _, l := range o.Lines {
		lines = append(lines, lineJSON{ProductID: l.ProductID, Quantity: l.Quantity, UnitPriceCents: l.UnitPriceCents})
	}
	return orderJSON{
		ID: o.ID, UserID: o.UserID, Status: string(o.Status), Reason: o.Reason,
		Lines: lines, TotalCents: o.TotalCents, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
	}
}
