package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracecart/tracecart/order-service/internal/app"
	"github.com/tracecart/tracecart/order-service/internal/domain/order"
	"github.com/tracecart/tracecart/shared/auth"
	"github.com/tracecart/tracecart/shared/httpserver"
)

// Paging of GET /orders. The offset is bounded too: deeper pages would be slow to skip to, and
// nobody pages that far.
const (
	defaultLimit = 20
	maxLimit     = 100
	maxOffset    = 1_000_000
)

// server holds the handlers' dependencies.
type server struct {
	app        *app.App
	retryAfter time.Duration
}

// createOrder places an order: POST /orders {"lines":[{"product_id","quantity"}]}. It prices
// the lines with product-service, stores the order PENDING with its order.created event, and
// answers 202 Accepted: the saga decides the rest, and GET /orders/{id} tells how it went.
//
// With an Idempotency-Key, a repeat of the same request by the same user answers 202 with the
// order the first one placed, as it is now (so the same body while its saga runs), and places
// nothing; the same key with a different request is refused with 422.
func (s *server) createOrder(w http.ResponseWriter, r *http.Request) {
	userID, err := auth.CallerID(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	key, err := httpserver.IdempotencyKey(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req createOrderRequest
	if err := httpserver.DecodeJSON(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	requested, err := req.items()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	o, err := s.app.PlaceOrder(r.Context(), userID, requested, key)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeAccepted(w, r, o)
}

// writeAccepted answers 202 with the order and where to follow it.
func writeAccepted(w http.ResponseWriter, r *http.Request, o order.Order) {
	tagSpan(r, o.ID)
	w.Header().Set("Location", "/orders/"+o.ID.String())
	w.Header().Set("ETag", orderETag(o))
	httpserver.WriteJSON(w, http.StatusAccepted, orderResponse(o))
}

// getOrder answers GET /orders/{id} with the caller's order and its ETag.
//
// With If-None-Match naming the version the client has, the answer is 304 Not Modified while the
// order is still that version. With Prefer: wait=N as well (RFC 7240, at most MaxWait seconds),
// it is a long poll: the answer comes as soon as the order changes, or after N seconds with 304.
// A client following a saga then asks once per change instead of polling.
func (s *server) getOrder(w http.ResponseWriter, r *http.Request) {
	userID, id, err := callerAndOrder(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var o order.Order
	if wait, ok := preferredWait(r); ok && r.Header.Get("If-None-Match") != "" {
		seen := func(o order.Order) bool { return matchesNoneOf(r, orderETag(o)) }
		o, err = s.app.WaitForOrder(r.Context(), userID, id, seen, wait)
		w.Header().Set("Preference-Applied", "wait="+strconv.Itoa(int(wait/time.Second)))
	} else {
		o, err = s.app.GetOrder(r.Context(), userID, id)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	tag := orderETag(o)
	w.Header().Set("ETag", tag)
	if matchesNoneOf(r, tag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, orderResponse(o))
}

// listOrders answers GET /orders?limit=&offset= with the caller's orders, newest first.
func (s *server) listOrders(w http.ResponseWriter, r *http.Request) {
	userID, err := auth.CallerID(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	limit, err := queryInt(r, "limit", defaultLimit, 1, maxLimit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	offset, err := queryInt(r, "offset", 0, 0, maxOffset)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	orders, total, err := s.app.ListOrders(r.Context(), userID, limit, offset)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page := orderListJSON{Items: make([]orderJSON, 0, len(orders)), Total: total, Limit: limit, Offset: offset}
	for _, o := range orders {
		page.Items = append(page.Items, orderResponse(o))
	}
	httpserver.WriteJSON(w, http.StatusOK, page)
}

// cancelOrder answers POST /orders/{id}/cancel: the owner cancels a CONFIRMED order, and the
// other services give back the stock and the money when they see order.cancelled.
func (s *server) cancelOrder(w http.ResponseWriter, r *http.Request) {
	userID, id, err := callerAndOrder(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	o, err := s.app.CancelOrder(r.Context(), userID, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, orderResponse(o))
}

// orderStatus answers GET /internal/orders/{id}/status with {"id", "status"} of any order:
// product-service asks it before settling a reservation whose saga events never arrived.
func (s *server) orderStatus(w http.ResponseWriter, r *http.Request) {
	id, err := orderID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	tagSpan(r, id)
	status, err := s.app.OrderStatus(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, orderStatusJSON{ID: id, Status: string(status)})
}

// callerAndOrder reads who is asking (the token) and which order they mean (the path), and tags
// the request's span with the order: the first steps of every route about one order.
func callerAndOrder(r *http.Request) (userID, id uuid.UUID, err error) {
	if userID, err = auth.CallerID(r.Context()); err != nil {
		return uuid.Nil, uuid.Nil, err
	}
	if id, err = orderID(r); err != nil {
		return uuid.Nil, uuid.Nil, err
	}
	tagSpan(r, id)
	return userID, id, nil
}

// writeError answers with the problem document for err (see mapError), telling clients when
// to come back if the catalogue is unavailable.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, order.ErrCatalogUnavailable) && s.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((s.retryAfter+time.Second-1)/time.Second)))
	}
	if errors.Is(err, httpserver.ErrUnauthorized) {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
	httpserver.WriteError(w, r, err)
}

// orderID parses the {id} of the path.
func orderID(r *http.Request) (uuid.UUID, error) {
	raw := mux.Vars(r)["id"]
	id, err := uuid.Parse(raw)
	if err != nil {
		return uuid.Nil, &httpserver.RequestError{
			Status: http.StatusBadRequest, Detail: fmt.Sprintf("order ID %q is not a UUID", raw), Err: err,
		}
	}
	return id, nil
}

// queryInt reads an integer query parameter: absent means def, not a number is a malformed
// request (400), a number outside [lowest, highest] an invalid one (422).
func queryInt(r *http.Request, name string, def, lowest, highest int) (int, error) {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil {
		return 0, &httpserver.RequestError{
			Status: http.StatusBadRequest, Detail: fmt.Sprintf("query parameter %s must be an integer", name), Err: err,
		}
	}
	if n < lowest || n > highest {
		return 0, fmt.Errorf("query parameter %s must be between %d and %d, got %d: %w", name, lowest, highest, n, httpserver.ErrInvalid)
	}
	return n, nil
}

// tagSpan puts the order's ID on the request's span, as on every saga span, so one search for
// order.id finds the whole story of an order.
func tagSpan(r *http.Request, id uuid.UUID) {
	trace.SpanFromContext(r.Context()).SetAttributes(attribute.String("order.id", id.String()))
}
