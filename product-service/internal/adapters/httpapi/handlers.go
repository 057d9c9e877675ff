package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/tracecart/tracecart/product-service/internal/domain/catalog"
	"github.com/tracecart/tracecart/shared/httpserver"
)

// readCacheControl lets the gateway and browsers keep catalogue reads for a few seconds: long
// enough to absorb a burst of page views, short enough that stock figures stay roughly current.
// Whether an order can really be served is decided by the reservation, never by a cached page.
const readCacheControl = "public, max-age=5"

// server holds the handlers' dependencies.
type server struct {
	catalogue Catalogue
}

// product is a product as the API shows it. Stock is the quantity available to order.
type product struct {
	ID          uuid.UUID `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Category    string    `json:"category"`
	PriceCents  int64     `json:"price_cents"`
	Stock       int64     `json:"stock"`
	Sold        int64     `json:"sold"`
}

func toJSON(p catalog.Product) product {
	return product{
		ID: p.ID, Name: p.Name, Description: p.Description, Category: p.Category,
		PriceCents: p.PriceCents, Stock: p.Stock, Sold: p.Sold,
	}
}

// productList is one page of the catalogue.
type productList struct {
	Items  []product `json:"items"`
	Total  int       `json:"total"`
	Limit  int       `json:"limit"`
	Offset int       `json:"offset"`
}

// list answers GET /products?limit=&offset=&category=&q=&min_price_cents=&max_price_cents=.
func (s *server) list(w http.ResponseWriter, r *http.Request) {
	filter, err := parseFilter(r.URL.Query())
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	page, err := s.catalogue.ListProducts(r.Context(), filter)
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	body := productList{Items: make([]product, 0, len(page.Items)), Total: page.Total, Limit: filter.Limit, Offset: filter.Offset}
	for _, p := range page.Items {
		body.Items = append(body.Items, toJSON(p))
	}
	w.Header().Set("Cache-Control", readCacheControl)
	httpserver.WriteJSON(w, http.StatusOK, body)
}

// get answers GET /products/{id}.
func (s *server) get(w http.ResponseWriter, r *http.Request) {
	id, err := productID(r)
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	p, err := s.catalogue.GetProduct(r.Context(), id)
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", readCacheControl)
	httpserver.WriteJSON(w, http.StatusOK, toJSON(p))
}

// createRequest is the body of POST /products.
type createRequest struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Category    string `json:"category"`
	PriceCents  int64  `json:"price_cents"`
	Stock       int64  `json:"stock"`
}

// create answers POST /products with 201, the new product and its Location.
func (s *server) create(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	if err := httpserver.DecodeJSON(r, &req); err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	p, err := s.catalogue.CreateProduct(r.Context(), catalog.Details{
		Name: req.Name, Description: req.Description, Category: req.Category, PriceCents: req.PriceCents,
	}, req.Stock)
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	w.Header().Set("Location", "/products/"+p.ID.String())
	httpserver.WriteJSON(w, http.StatusCreated, toJSON(p))
}

// updateRequest is the body of PUT /products/{id}: every editable detail, replaced as a whole.
// Stock is changed through stock adjustments only.
type updateRequest struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Category    string `json:"category"`
	PriceCents  int64  `json:"price_cents"`
}

// update answers PUT /products/{id} with the product as it now is.
func (s *server) update(w http.ResponseWriter, r *http.Request) {
	id, err := productID(r)
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	var req updateRequest
	if err := httpserver.DecodeJSON(r, &req); err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	details := catalog.Details{Name: req.Name, Description: req.Description, Category: req.Category, PriceCents: req.PriceCents}
	p, err := s.catalogue.UpdateProduct(r.Context(), id, details)
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, toJSON(p))
}

// adjustRequest is the body of POST /products/{id}/stock-adjustments.
type adjustRequest struct {
	// Delta is added to the available stock: positive to restock, negative to write off.
	Delta int64 `json:"delta"`
}

// adjustStock answers POST /products/{id}/stock-adjustments with the product as it now is.
func (s *server) adjustStock(w http.ResponseWriter, r *http.Request) {
	id, err := productID(r)
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	var req adjustRequest
	if err := httpserver.DecodeJSON(r, &req); err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	p, err := s.catalogue.AdjustStock(r.Context(), id, req.Delta)
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, toJSON(p))
}

// productID parses the {id} of the path. Only the canonical 36-character form is accepted, so
// that one product has one URL (and one entry in the gateway's cache).
func productID(r *http.Request) (uuid.UUID, error) {
	raw := mux.Vars(r)["id"]
	id, err := uuid.Parse(raw)
	if err != nil || len(raw) != 36 {
		return uuid.Nil, &httpserver.RequestError{
			Status: http.StatusBadRequest,
			Detail: fmt.Sprintf("%q is not a product ID (a UUID such as 00000000-0000-4000-8000-000000000101)", raw),
			Err:    err,
		}
	}
	return id, nil
}

// parseFilter reads the listing's query parameters. A malformed or out-of-range value is a 400:
// these are part of the URL, not a document to validate. An empty value counts as absent, as an
// HTML form sends a field left blank.
func parseFilter(q url.Values) (catalog.Filter, error) {
	f := catalog.Filter{Category: q.Get("category"), Query: q.Get("q"), Limit: catalog.DefaultLimit}
	integers := []struct {
		name string
		set  func(v int64)
	}{
		{"limit", func(v int64) { f.Limit = int(v) }},
		{"offset", func(v int64) { f.Offset = int(v) }},
		{"min_price_cents", func(v int64) { f.MinPriceCents = &v }},
		{"max_price_cents", func(v int64) { f.MaxPriceCents = &v }},
	}
	for _, param := range integers {
		raw := q.Get(param.name)
		if raw == "" {
			continue
		}
		v, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return catalog.Filter{}, &httpserver.RequestError{
				Status: http.StatusBadRequest,
				Detail: fmt.Sprintf("query parameter %s must be an integer, not %q", param.name, raw),
				Err:    err,
			}
		}
		param.set(v)
	}
	if err := f.Validate(); err != nil {
		var verr *catalog.ValidationError
		if errors.As(err, &verr) {
			return catalog.Filter{}, &httpserver.RequestError{Status: http.StatusBadRequest, Detail: "query parameter " + verr.Error(), Err: err}
		}
		return catalog.Filter{}, err
	}
	return f, nil
}
