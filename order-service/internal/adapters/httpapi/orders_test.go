package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/order-service/internal/adapters/postgres/postgrestest"
	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/httpserver"
	"github.com/tracecart/tracecart/shared/postgres/pgtest"
)

func TestCreateOrder(t *testing.T) {
	e := newEnv(t)
	body := fmt.Sprintf(`{"lines":[{"product_id":%q,"quantity":2},{"product_id":%q,"quantity":1},{"product_id":%q,"quantity":3}]}`,
		mug, socks, mug)

	resp := e.post(alice, body, nil)
	if resp.status != http.StatusAccepted {
		t.Fatalf("POST /orders = %d %s, want 202", resp.status, resp.body)
	}
	got := decode[orderJSON](t, resp)
	if loc := resp.header.Get("Location"); loc != "/orders/"+got.ID.String() {
		t.Errorf("Location = %q, want /orders/%s", loc, got.ID)
	}
	wantLines := []lineJSON{{mug, 5, 1200}, {socks, 1, 900}} // the two mug lines summed, in first-seen order
	const wantTotal = 5*1200 + 900
	if got.UserID != alice || got.Status != "PENDING" || got.Reason != "" || got.TotalCents != wantTotal ||
		!reflect.DeepEqual(got.Lines, wantLines) || got.ID == uuid.Nil {
		t.Errorf("order = %+v, want alice's PENDING order of %v totalling %d", got, wantLines, wantTotal)
	}
	if got.CreatedAt.IsZero() || !got.UpdatedAt.Equal(got.CreatedAt) {
		t.Errorf("created_at %v, updated_at %v: want both set and equal", got.CreatedAt, got.UpdatedAt)
	}

	// The order, its lines and exactly one order.created event are in the database.
	if rows := postgrestest.CountRows(t, e.pool); rows != (postgrestest.Rows{Orders: 1, Lines: 2, Outbox: 1}) {
		t.Errorf("rows = %+v, want 1 order, 2 lines, 1 outbox row", rows)
	}
	created := pgtest.OutboxEvents(t, e.pool, got.ID.String(), events.OrderCreated)
	if len(created) != 1 {
		t.Fatalf("%d order.created events, want 1", len(created))
	}
	if created[0].Topic != events.TopicOrders || created[0].Envelope.OrderID != got.ID {
		t.Errorf("order.created on topic %q for order %s, want %q and %s", created[0].Topic, created[0].Envelope.OrderID, events.TopicOrders, got.ID)
	}
	payload := pgtest.Payload[events.OrderCreatedPayload](t, created[0])
	wantPayload := events.OrderCreatedPayload{
		UserID: alice, TotalCents: wantTotal,
		Lines: []events.Line{{ProductID: mug, Quantity: 5, UnitPriceCents: 1200}, {ProductID: socks, Quantity: 1, UnitPriceCents: 900}},
	}
	if !reflect.DeepEqual(payload, wantPayload) {
		t.Errorf("order.created payload = %+v, want %+v", payload, wantPayload)
	}

	// The Location leads to the same order.
	again := e.do(request{method: http.MethodGet, path: resp.header.Get("Location"), token: e.token(alice)})
	if again.status != http.StatusOK || string(again.body) != string(resp.body) {
		t.Errorf("GET Location = %d %s, want 200 with the body of the 202:\n%s", again.status, again.body, resp.body)
	}
}

func TestCreateOrderIdempotencyKey(t *testing.T) {
	e := newEnv(t)
	body := fmt.Sprintf(`{"lines":[{"product_id":%q,"quantity":2},{"product_id":%q,"quantity":1}]}`, mug, socks)
	key := map[string]string{"Idempotency-Key": "checkout-7f3a"}

	first := e.post(alice, body, key)
	if first.status != http.StatusAccepted {
		t.Fatalf("first POST = %d %s", first.status, first.body)
	}
	calls := e.products.calls.Load()

	// The same request again, as sent or reworded (other whitespace, other line order, a line
	// split in two: the same things ordered), returns the first order without asking
	// product-service again.
	reworded := fmt.Sprintf(`{ "lines": [ {"product_id":%q,"quantity":1}, {"product_id":%q,"quantity":1},
		{"product_id":%q,"quantity":1} ] }`, socks, mug, mug)
	for _, repeat := range []string{body, reworded} {
		resp := e.post(alice, repeat, key)
		if resp.status != http.StatusAccepted || string(resp.body) != string(first.body) ||
			resp.header.Get("Location") != first.header.Get("Location") {
			t.Errorf("repeat = %d %s (Location %q), want 202 with the first answer %s",
				resp.status, resp.body, resp.header.Get("Location"), first.body)
		}
	}
	if n := e.products.calls.Load(); n != calls {
		t.Errorf("repeats called product-service %d times, want 0", n-calls)
	}
	if rows := postgrestest.CountRows(t, e.pool); rows.Orders != 1 || rows.Outbox != 1 {
		t.Errorf("rows after repeats = %+v, want one order and one event", rows)
	}

	// The same key with a different request is refused, and writes nothing.
	other := fmt.Sprintf(`{"lines":[{"product_id":%q,"quantity":3},{"product_id":%q,"quantity":1}]}`, mug, socks)
	p := problem(t, e.post(alice, other, key), http.StatusUnprocessableEntity)
	if !strings.Contains(p.Detail, "idempotency key") {
		t.Errorf("detail = %q, want it to mention the idempotency key", p.Detail)
	}
	if rows := postgrestest.CountRows(t, e.pool); rows.Orders != 1 || rows.Outbox != 1 {
		t.Errorf("rows after a reused key = %+v, want still one order and one event", rows)
	}

	// Keys belong to a user: bob's order with alice's key is a new order.
	bobs := e.post(bob, body, key)
	if bobs.status != http.StatusAccepted || decode[orderJSON](t, bobs).ID == decode[orderJSON](t, first).ID {
		t.Errorf("bob's POST with alice's key = %d %s, want a new order", bobs.status, bobs.body)
	}
}

func TestCreateOrderUnknownProduct(t *testing.T) {
	e := newEnv(t)
	unknown := uuid.MustParse("00000000-0000-4000-8000-000000000999")
	body := fmt.Sprintf(`{"lines":[{"product_id":%q,"quantity":1},{"product_id":%q,"quantity":1}]}`, mug, unknown)

	p := problem(t, e.post(alice, body, nil), http.StatusUnprocessableEntity)
	if !strings.Contains(p.Detail, unknown.String()) {
		t.Errorf("detail %q does not name the unknown product %s", p.Detail, unknown)
	}
	if rows := postgrestest.CountRows(t, e.pool); rows != (postgrestest.Rows{}) {
		t.Errorf("rows = %+v, want nothing written", rows)
	}
}

// TestCreateOrderProductServiceDown checks that a failing product-service makes POST /orders
// answer 503 with Retry-After, and that after a few failures the circuit breaker stops
// calling it at all and answers at once.
func TestCreateOrderProductServiceDown(t *testing.T) {
	e := newEnv(t)
	e.products.failing.Store(true)
	body := fmt.Sprintf(`{"lines":[{"product_id":%q,"quantity":1}]}`, mug)

	const failureThreshold = breakerMinimumCalls // every call fails, so the last of these opens it
	for i := range failureThreshold {
		resp := e.post(alice, body, nil)
		problem(t, resp, http.StatusServiceUnavailable)
		if got := resp.header.Get("Retry-After"); got != "5" {
			t.Errorf("request %d: Retry-After = %q, want 5", i+1, got)
		}
	}
	if n := e.products.calls.Load(); n != failureThreshold {
		t.Fatalf("product-service got %d calls, want %d (a 500 is not retried)", n, failureThreshold)
	}

	// The breaker is open now: the next order fails fast, without a call.
	start := time.Now()
	resp := e.post(alice, body, nil)
	took := time.Since(start)
	problem(t, resp, http.StatusServiceUnavailable)
	if resp.header.Get("Retry-After") == "" {
		t.Error("no Retry-After on the breaker's 503")
	}
	if n := e.products.calls.Load(); n != failureThreshold {
		t.Errorf("product-service got %d calls, want none past the open breaker", n-failureThreshold)
	}
	if took > time.Second {
		t.Errorf("the answer took %s with the breaker open, want it at once", took)
	}
	if rows := postgrestest.CountRows(t, e.pool); rows != (postgrestest.Rows{}) {
		t.Errorf("rows = %+v, want nothing written", rows)
	}
}

// Over 60 lines: most of it is the table of cases.
func TestCreateOrderRefusesBadRequests(t *testing.T) {
	e := newEnv(t)
	line := func(id uuid.UUID, qty int) string { return fmt.Sprintf(`{"product_id":%q,"quantity":%d}`, id, qty) }
	tooMany := make([]string, 21)
	for i := range tooMany {
		tooMany[i] = line(uuid.New(), 1)
	}
	tests := []struct {
		name        string
		body        string
		contentType string // default application/json
		header      map[string]string
		status      int
		detail      string // part of the problem's detail
	}{
		{name: "malformed JSON", body: `{"lines":[`, status: 400, detail: "not valid JSON"},
		{name: "not an object", body: `[1,2]`, status: 400, detail: "must be an object"},
		{name: "unknown field", body: `{"lines":[` + line(mug, 1) + `],"coupon":"FREE"}`, status: 400, detail: `unknown field "coupon"`},
		{name: "unknown field in a line", body: `{"lines":[{"product_id":"` + mug.String() + `","quantity":1,"price_cents":1}]}`, status: 400, detail: "price_cents"},
		{name: "two JSON values", body: `{"lines":[]} {}`, status: 400, detail: "single JSON value"},
		{name: "empty body", body: "", status: 400, detail: "must not be empty"},
		{name: "product ID not a UUID", body: `{"lines":[{"product_id":"mug","quantity":1}]}`, status: 400, detail: `"mug" is not a UUID`},
		{name: "NUL product ID", body: `{"lines":[{"product_id":"\u0000","quantity":1}]}`, status: 400, detail: "NUL"},
		{name: "invalid UTF-8 product ID", body: "{\"lines\":[{\"product_id\":\"\xff\",\"quantity\":1}]}", status: 400, detail: "UTF-8"},
		{name: "fractional quantity", body: `{"lines":[{"product_id":"` + mug.String() + `","quantity":1.5}]}`, status: 400, detail: "quantity"},
		{name: "wrong media type", body: `{"lines":[` + line(mug, 1) + `]}`, contentType: "text/plain", status: 415},
		{name: "oversized body", body: `{"lines":[` + line(mug, 1) + `],"pad":"` + strings.Repeat("x", 100<<10) + `"}`, status: 413},
		{name: "no lines", body: `{"lines":[]}`, status: 422, detail: "at least one line"},
		{name: "lines missing", body: `{}`, status: 422, detail: "at least one line"},
		{name: "zero quantity", body: `{"lines":[` + line(mug, 0) + `]}`, status: 422, detail: "quantity must be between 1 and 100"},
		{name: "negative quantity", body: `{"lines":[` + line(mug, -1) + `]}`, status: 422, detail: "got -1"},
		{name: "quantity over 100", body: `{"lines":[` + line(mug, 101) + `]}`, status: 422, detail: "got 101"},
		{name: "duplicates over 100", body: `{"lines":[` + line(mug, 60) + "," + line(mug, 41) + `]}`, status: 422, detail: "in total"},
		{name: "too many lines", body: `{"lines":[` + strings.Join(tooMany, ",") + `]}`, status: 422, detail: "at most 20 lines"},
		{name: "product ID missing", body: `{"lines":[{"quantity":1}]}`, status: 422, detail: "product_id is required"},
		{
			name: "idempotency key too long", body: `{"lines":[` + line(mug, 1) + `]}`,
			header: map[string]string{"Idempotency-Key": strings.Repeat("k", httpserver.MaxIdempotencyKeyLength+1)}, status: 400, detail: "Idempotency-Key",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, calls := postgrestest.CountRows(t, e.pool), e.products.calls.Load()
			r, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.api.URL+"/orders", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			r.Header.Set("Content-Type", "application/json")
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			r.Header.Set("Authorization", "Bearer "+e.token(alice))
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			resp := send(t, r)
			p := problem(t, resp, tt.status)
			if !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("detail = %q, want it to contain %q", p.Detail, tt.detail)
			}
			if after := postgrestest.CountRows(t, e.pool); after != before {
				t.Errorf("rows went from %+v to %+v, want nothing written", before, after)
			}
			if n := e.products.calls.Load(); n != calls {
				t.Errorf("a refused request called product-service %d times", n-calls)
			}
		})
	}
}

func TestGetOrder(t *testing.T) {
	e := newEnv(t)
	mine := e.placeOrder(alice, fmt.Sprintf(`{"lines":[{"product_id":%q,"quantity":1}]}`, lamp))

	resp := e.do(request{method: http.MethodGet, path: "/orders/" + mine.ID.String(), token: e.token(alice)})
	if resp.status != http.StatusOK {
		t.Fatalf("GET own order = %d %s", resp.status, resp.body)
	}
	if got := decode[orderJSON](t, resp); !reflect.DeepEqual(got, mine) {
		t.Errorf("GET = %+v, want %+v", got, mine)
	}

	// Another customer's order is "not found", exactly like an order that does not exist.
	theirs := problem(t, e.do(request{method: http.MethodGet, path: "/orders/" + mine.ID.String(), token: e.token(bob)}), http.StatusNotFound)
	missing := problem(t, e.do(request{method: http.MethodGet, path: "/orders/" + uuid.NewString(), token: e.token(bob)}), http.StatusNotFound)
	if strings.Contains(theirs.Detail, "forbidden") || theirs.Title != missing.Title {
		t.Errorf("another user's order answers %+v, a missing one %+v; want them alike", theirs, missing)
	}

	p := problem(t, e.do(request{method: http.MethodGet, path: "/orders/not-a-uuid", token: e.token(alice)}), http.StatusBadRequest)
	if !strings.Contains(p.Detail, "not a UUID") {
		t.Errorf("detail = %q, want it to say the ID is not a UUID", p.Detail)
	}
}

// The internal status route answers any order's status without a token (other services have
// none to present), and nothing more than the status.
func TestInternalOrderStatus(t *testing.T) {
	e := newEnv(t)
	placed := e.placeOrder(alice, fmt.Sprintf(`{"lines":[{"product_id":%q,"quantity":1}]}`, lamp))

	resp := e.do(request{method: http.MethodGet, path: "/internal/orders/" + placed.ID.String() + "/status"})
	if resp.status != http.StatusOK {
		t.Fatalf("GET status = %d %s", resp.status, resp.body)
	}
	if want := fmt.Sprintf(`{"id":%q,"status":"PENDING"}`, placed.ID); strings.TrimSpace(string(resp.body)) != want {
		t.Errorf("GET status = %s, want %s", resp.body, want)
	}

	problem(t, e.do(request{method: http.MethodGet, path: "/internal/orders/" + uuid.NewString() + "/status"}), http.StatusNotFound)
	problem(t, e.do(request{method: http.MethodGet, path: "/internal/orders/not-a-uuid/status"}), http.StatusBadRequest)
}

func TestListOrders(t *testing.T) {
	e := newEnv(t)
	var placed []orderJSON
	for _, qty := range []int{1, 2, 3} {
		placed = append(placed, e.placeOrder(alice, fmt.Sprintf(`{"lines":[{"product_id":%q,"quantity":%d}]}`, socks, qty)))
	}
	bobs := e.placeOrder(bob, fmt.Sprintf(`{"lines":[{"product_id":%q,"quantity":1}]}`, socks))

	type page struct {
		Items  []orderJSON `json:"items"`
		Total  int         `json:"total"`
		Limit  int         `json:"limit"`
		Offset int         `json:"offset"`
	}
	list := func(user uuid.UUID, query string) page {
		t.Helper()
		resp := e.do(request{method: http.MethodGet, path: "/orders" + query, token: e.token(user)})
		if resp.status != http.StatusOK {
			t.Fatalf("GET /orders%s = %d %s", query, resp.status, resp.body)
		}
		return decode[page](t, resp)
	}
	ids := func(orders []orderJSON) []uuid.UUID {
		out := []uuid.UUID{}
		for _, o := range orders {
			out = append(out, o.ID)
		}
		return out
	}

	all := list(alice, "")
	if want := []uuid.UUID{placed[2].ID, placed[1].ID, placed[0].ID}; !reflect.DeepEqual(ids(all.Items), want) {
		t.Errorf("alice's orders = %v, want her three, newest first: %v", ids(all.Items), want)
	}
	if all.Total != 3 || all.Limit != 20 || all.Offset != 0 {
		t.Errorf("total, limit, offset = %d, %d, %d; want 3 and the defaults 20, 0", all.Total, all.Limit, all.Offset)
	}
	if !reflect.DeepEqual(all.Items[0], placed[2]) {
		t.Errorf("listed order = %+v, want the full document %+v", all.Items[0], placed[2])
	}
	if got := ids(list(alice, "?limit=2").Items); !reflect.DeepEqual(got, []uuid.UUID{placed[2].ID, placed[1].ID}) {
		t.Errorf("limit=2 = %v", got)
	}
	last := list(alice, "?limit=2&offset=2")
	if got := ids(last.Items); !reflect.DeepEqual(got, []uuid.UUID{placed[0].ID}) || last.Total != 3 || last.Offset != 2 {
		t.Errorf("limit=2&offset=2 = %v (total %d, offset %d), want only the oldest of 3", got, last.Total, last.Offset)
	}
	if got := ids(list(bob, "").Items); !reflect.DeepEqual(got, []uuid.UUID{bobs.ID}) {
		t.Errorf("bob's orders = %v, want only his own", got)
	}
	if got := list(uuid.New(), ""); got.Items == nil || len(got.Items) != 0 || got.Total != 0 {
		t.Errorf("a user without orders gets %+v, want an empty list", got)
	}

	for query, status := range map[string]int{
		"?limit=0": 422, "?limit=101": 422, "?offset=-1": 422, "?limit=ten": 400, "?offset=1.5": 400,
	} {
		problem(t, e.do(request{method: http.MethodGet, path: "/orders" + query, token: e.token(alice)}), status)
	}
}

func TestCancelOrder(t *testing.T) {
	e := newEnv(t)
	o := e.placeOrder(alice, fmt.Sprintf(`{"lines":[{"product_id":%q,"quantity":2}]}`, mug))
	cancel := func(user uuid.UUID, id string) response {
		return e.do(request{method: http.MethodPost, path: "/orders/" + id + "/cancel", token: e.token(user)})
	}

	// PENDING: the saga is still deciding.
	p := problem(t, cancel(alice, o.ID.String()), http.StatusConflict)
	if !strings.Contains(p.Detail, "the saga has not finished") {
		t.Errorf("detail = %q, want it to say the saga has not finished", p.Detail)
	}

	// CONFIRMED (as the saga would leave it): cancelled, with order.cancelled for the
	// compensations.
	if _, err := e.pool.Exec(context.Background(), `UPDATE orders SET status = 'CONFIRMED' WHERE id = $1`, o.ID); err != nil {
		t.Fatal(err)
	}
	problem(t, cancel(bob, o.ID.String()), http.StatusNotFound) // not bob's to cancel
	resp := cancel(alice, o.ID.String())
	if resp.status != http.StatusOK {
		t.Fatalf("cancel a confirmed order = %d %s, want 200", resp.status, resp.body)
	}
	got := decode[orderJSON](t, resp)
	if got.Status != "CANCELLED" || got.Reason != "customer" || got.TotalCents != o.TotalCents || len(got.Lines) != 1 {
		t.Errorf("cancelled order = %+v, want CANCELLED by the customer with its lines", got)
	}
	if !got.UpdatedAt.After(got.CreatedAt) {
		t.Errorf("updated_at %v is not after created_at %v", got.UpdatedAt, got.CreatedAt)
	}
	cancelled := pgtest.OutboxEvents(t, e.pool, o.ID.String(), events.OrderCancelled)
	if len(cancelled) != 1 || cancelled[0].Topic != events.TopicOrders {
		t.Fatalf("order.cancelled events = %+v, want one on the orders topic", cancelled)
	}
	if p := pgtest.Payload[events.OrderCancelledPayload](t, cancelled[0]); p != (events.OrderCancelledPayload{UserID: alice, Reason: "customer"}) {
		t.Errorf("order.cancelled payload = %+v", p)
	}

	// Already CANCELLED (or REJECTED): nothing more to do.
	problem(t, cancel(alice, o.ID.String()), http.StatusConflict)
	if _, err := e.pool.Exec(context.Background(), `UPDATE orders SET status = 'REJECTED', reason = 'out_of_stock' WHERE id = $1`, o.ID); err != nil {
		t.Fatal(err)
	}
	problem(t, cancel(alice, o.ID.String()), http.StatusConflict)
	if n := len(pgtest.OutboxEvents(t, e.pool, o.ID.String(), events.OrderCancelled)); n != 1 {
		t.Errorf("%d order.cancelled events after refused cancels, want still 1", n)
	}

	problem(t, cancel(alice, "not-a-uuid"), http.StatusBadRequest)
	problem(t, cancel(alice, uuid.NewString()), http.StatusNotFound)
}

// TestTraceContextReachesProductService checks that the call pricing an order continues the
// caller's trace: the gateway's trace goes on through order-service into product-service.
func TestTraceContextReachesProductService(t *testing.T) {
	e := newEnv(t)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	e.post(alice, fmt.Sprintf(`{"lines":[{"product_id":%q,"quantity":1}]}`, mug),
		map[string]string{"traceparent": "00-" + traceID + "-00f067aa0ba902b7-01"})
	got := e.products.lastTraceparent()
	if !strings.HasPrefix(got, "00-"+traceID+"-") || strings.Contains(got, "00f067aa0ba902b7") {
		t.Errorf("product-service got traceparent %q, want trace %s with a span of order-service as parent", got, traceID)
	}
}
