package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/tracecart/tracecart/product-service/internal/domain/catalog"
	"github.com/tracecart/tracecart/shared/auth"
	"github.com/tracecart/tracecart/shared/postgres/pgtest"
)

func names(items []productJSON) []string {
	out := []string{}
	for _, p := range items {
		out = append(out, p.Name)
	}
	return out
}

func TestListProducts(t *testing.T) {
	a := newAPI(t)
	// The demo catalogue in name order, with prices:
	// Baggage Tote 1500 accessories, Collector Cap 2200 apparel, Context Keyboard 8900 desk,
	// Exemplar Hoodie 4500 apparel, Last One Lamp 6400 desk, Sampler Sticker Pack 300 accessories,
	// Span Socks 900 apparel, Tracing Mug 1200 kitchen.
	all := []string{"Baggage Tote", "Collector Cap", "Context Keyboard", "Exemplar Hoodie",
		"Last One Lamp", "Sampler Sticker Pack", "Span Socks", "Tracing Mug"}
	tests := []struct {
		query       string
		want        []string
		total       int
		limit, skip int
	}{
		{query: "", want: all, total: 8, limit: 20},
		{query: "?limit=3", want: all[:3], total: 8, limit: 3},
		{query: "?limit=3&offset=3", want: all[3:6], total: 8, limit: 3, skip: 3},
		{query: "?limit=3&offset=6", want: all[6:], total: 8, limit: 3, skip: 6},
		{query: "?offset=100", want: []string{}, total: 8, limit: 20, skip: 100},
		{query: "?limit=100", want: all, total: 8, limit: 100},
		{query: "?category=apparel", want: []string{"Collector Cap", "Exemplar Hoodie", "Span Socks"}, total: 3, limit: 20},
		{query: "?category=apparel&limit=1&offset=1", want: []string{"Exemplar Hoodie"}, total: 3, limit: 1, skip: 1},
		{query: "?category=Apparel", want: []string{}, total: 0, limit: 20},
		{query: "?q=OnE", want: []string{"Last One Lamp"}, total: 1, limit: 20},
		{query: "?q=s", want: []string{"Last One Lamp", "Sampler Sticker Pack", "Span Socks"}, total: 3, limit: 20},
		{query: "?q=%25", want: []string{}, total: 0, limit: 20}, // % is a character, not a wildcard
		{query: "?min_price_cents=2200", want: []string{"Collector Cap", "Context Keyboard", "Exemplar Hoodie", "Last One Lamp"}, total: 4, limit: 20},
		{query: "?max_price_cents=900", want: []string{"Sampler Sticker Pack", "Span Socks"}, total: 2, limit: 20},
		{query: "?min_price_cents=900&max_price_cents=1500", want: []string{"Baggage Tote", "Span Socks", "Tracing Mug"}, total: 3, limit: 20},
		{query: "?category=desk&q=lamp&max_price_cents=7000", want: []string{"Last One Lamp"}, total: 1, limit: 20},
		{query: "?min_price_cents=&q=", want: all, total: 8, limit: 20}, // a blank form field is no filter
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := a.do(t, http.MethodGet, "/products"+tt.query, "", "")
			got := decode[listJSON](t, r, http.StatusOK)
			if !slices.Equal(names(got.Items), tt.want) || got.Total != tt.total || got.Limit != tt.limit || got.Offset != tt.skip {
				t.Errorf("got %q total %d limit %d offset %d; want %q total %d limit %d offset %d",
					names(got.Items), got.Total, got.Limit, got.Offset, tt.want, tt.total, tt.limit, tt.skip)
			}
			if cc := r.header.Get("Cache-Control"); cc != "public, max-age=5" {
				t.Errorf("Cache-Control %q", cc)
			}
			if tt.query == "" && !strings.Contains(string(r.body), `"items":[{"id":"00000000-0000-4000-8000-000000000104"`) {
				t.Errorf("body does not use the documented field names: %s", r.body)
			}
		})
	}
}

func TestListRejectsInvalidQueries(t *testing.T) {
	a := newAPI(t)
	for _, query := range []string{
		"limit=0", "limit=101", "limit=ten", "limit=-1", "offset=-1", "offset=1.5",
		"min_price_cents=-1", "max_price_cents=cheap", "min_price_cents=500&max_price_cents=499",
		"q=" + strings.Repeat("x", 201), "limit=99999999999999999999",
		// Text Postgres cannot take (NUL) or encoding/json-style repair would change: refused
		// by the shared router before the handler, never a 500 from the database.
		"q=%00", "q=mug%00", "category=%00", "q=%FF", "category=desk%C3",
	} {
		t.Run(query, func(t *testing.T) {
			r := a.do(t, http.MethodGet, "/products?"+query, "", "")
			p := wantProblem(t, r, http.StatusBadRequest)
			param, _, _ := strings.Cut(query, "=")
			if !strings.Contains(p.Detail, param) {
				t.Errorf("detail %q does not name the parameter %s", p.Detail, param)
			}
			if r.header.Get("Cache-Control") == "public, max-age=5" {
				t.Error("an error answer is marked cacheable")
			}
		})
	}
}

func TestGetProduct(t *testing.T) {
	a := newAPI(t)
	r := a.do(t, http.MethodGet, "/products/00000000-0000-4000-8000-000000000101", "", "")
	got := decode[productJSON](t, r, http.StatusOK)
	want := productJSON{
		ID: catalog.TracingMugID, Name: "Tracing Mug", Category: "kitchen", PriceCents: 1200, Stock: 50, Sold: 0,
		Description: "Holds one coffee and one root span. Dishwasher safe; context is not.",
	}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if cc := r.header.Get("Cache-Control"); cc != "public, max-age=5" {
		t.Errorf("Cache-Control %q", cc)
	}

	for _, bad := range []string{"not-a-uuid", "101", "00000000000040008000000000000101", "{00000000-0000-4000-8000-000000000101}"} {
		p := wantProblem(t, a.do(t, http.MethodGet, "/products/"+bad, "", ""), http.StatusBadRequest)
		if !strings.Contains(p.Detail, "not a product ID") {
			t.Errorf("GET /products/%s: detail %q", bad, p.Detail)
		}
	}
	wantProblem(t, a.do(t, http.MethodGet, "/products/"+uuid.NewString(), "", ""), http.StatusNotFound)
}

func TestAdminCreatesUpdatesAndAdjusts(t *testing.T) {
	a := newAPI(t)
	admin := a.adminToken(t)

	r := a.do(t, http.MethodPost, "/products", admin,
		`{"name":"Histogram Hat","description":"Bucketed.","category":"apparel","price_cents":1999,"stock":7}`)
	created := decode[productJSON](t, r, http.StatusCreated)
	if created.ID == uuid.Nil || created.Name != "Histogram Hat" || created.PriceCents != 1999 || created.Stock != 7 || created.Sold != 0 {
		t.Fatalf("created %+v", created)
	}
	location := r.header.Get("Location")
	if location != "/products/"+created.ID.String() {
		t.Fatalf("Location %q", location)
	}
	if fetched := decode[productJSON](t, a.do(t, http.MethodGet, location, "", ""), http.StatusOK); fetched != created {
		t.Errorf("GET %s = %+v, want %+v", location, fetched, created)
	}
	if n := pgtest.Count(t, a.pool, `SELECT count(*) FROM products`); n != 9 {
		t.Errorf("%d products after one create, want 9", n)
	}

	updated := decode[productJSON](t, a.do(t, http.MethodPut, location, admin,
		`{"name":"Histogram Hat v2","description":"","category":"accessories","price_cents":2499}`), http.StatusOK)
	want := productJSON{ID: created.ID, Name: "Histogram Hat v2", Category: "accessories", PriceCents: 2499, Stock: 7}
	if updated != want {
		t.Errorf("updated %+v, want %+v", updated, want)
	}

	restocked := decode[productJSON](t, a.do(t, http.MethodPost, location+"/stock-adjustments", admin, `{"delta":5}`), http.StatusOK)
	if restocked.Stock != 12 {
		t.Errorf("stock after +5 = %d, want 12", restocked.Stock)
	}
	writtenOff := decode[productJSON](t, a.do(t, http.MethodPost, location+"/stock-adjustments", admin, `{"delta":-12}`), http.StatusOK)
	if writtenOff.Stock != 0 {
		t.Errorf("stock after -12 = %d, want 0", writtenOff.Stock)
	}
	before := snapshot(t, a.pool)
	p := wantProblem(t, a.do(t, http.MethodPost, location+"/stock-adjustments", admin, `{"delta":-1}`), http.StatusConflict)
	if !strings.Contains(p.Detail, "insufficient stock") {
		t.Errorf("409 detail %q", p.Detail)
	}
	if after := snapshot(t, a.pool); after != before {
		t.Error("a refused write-off changed the products table")
	}

	unknown := "/products/" + uuid.NewString()
	wantProblem(t, a.do(t, http.MethodPut, unknown, admin, `{"name":"x","category":"desk","price_cents":1}`), http.StatusNotFound)
	wantProblem(t, a.do(t, http.MethodPost, unknown+"/stock-adjustments", admin, `{"delta":1}`), http.StatusNotFound)
	wantProblem(t, a.do(t, http.MethodPut, "/products/nope", admin, `{"name":"x","category":"desk","price_cents":1}`), http.StatusBadRequest)
	wantProblem(t, a.do(t, http.MethodPost, "/products/nope/stock-adjustments", admin, `{"delta":1}`), http.StatusBadRequest)
}

// forge returns token with its claims replaced by c but its signature kept: what a customer
// who makes themselves an admin by editing their token sends.
func forge(t *testing.T, token string, c auth.Claims) string {
	t.Helper()
	parts := strings.Split(token, ".")
	payload, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

// TestWritesNeedAnAdminToken sends every write with every kind of wrong token. It is a table of
// cases in all but form, and runs past 60 lines because each case is a line or two of its own.
func TestWritesNeedAnAdminToken(t *testing.T) {
	a := newAPI(t)
	customer := claims("customer")
	expired := claims("customer", "admin")
	expired.IssuedAt = jwt.NewNumericDate(time.Now().Add(-2 * time.Hour))
	expired.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour))
	wrongAudience := claims("customer", "admin")
	wrongAudience.Audience = jwt.ClaimStrings{"someone-else"}

	// A key set the API does not trust, signing a perfectly shaped admin token.
	otherKey, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	otherKeys, err := auth.NewKeySet(otherKey)
	if err != nil {
		t.Fatal(err)
	}
	strangerToken, err := otherKeys.Sign(claims("customer", "admin"))
	if err != nil {
		t.Fatal(err)
	}

	tokens := []struct {
		name   string
		token  string
		status int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"not a JWT", "let-me-in", http.StatusUnauthorized},
		{"customer", a.token(t, customer), http.StatusForbidden},
		{"expired admin", a.token(t, expired), http.StatusUnauthorized},
		{"admin for another audience", a.token(t, wrongAudience), http.StatusUnauthorized},
		{"customer who edited their roles", forge(t, a.token(t, customer), claims("customer", "admin")), http.StatusUnauthorized},
		{"admin signed by an unknown key", strangerToken, http.StatusUnauthorized},
	}
	writes := []struct{ method, path, body string }{
		{http.MethodPost, "/products", `{"name":"Free Lunch","category":"kitchen","price_cents":1,"stock":1}`},
		{http.MethodPut, "/products/00000000-0000-4000-8000-000000000101", `{"name":"Free Mug","category":"kitchen","price_cents":1}`},
		{http.MethodPost, "/products/00000000-0000-4000-8000-000000000101/stock-adjustments", `{"delta":1000}`},
	}
	before := snapshot(t, a.pool)
	for _, tok := range tokens {
		for _, w := range writes {
			t.Run(tok.name+"/"+w.method+" "+w.path, func(t *testing.T) {
				r := a.do(t, w.method, w.path, tok.token, w.body)
				wantProblem(t, r, tok.status)
				if tok.status == http.StatusUnauthorized && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("401 without a Bearer challenge: %q", r.header.Get("WWW-Authenticate"))
				}
			})
		}
	}
	if after := snapshot(t, a.pool); after != before {
		t.Errorf("refused writes changed the products table: %s → %s", before, after)
	}
	// The reads stay public whatever the token.
	if r := a.do(t, http.MethodGet, "/products/00000000-0000-4000-8000-000000000101", "let-me-in", ""); r.status != http.StatusOK {
		t.Errorf("GET with a junk token = %d, want 200", r.status)
	}
}

// TestBadWritesAreRefusedAndChangeNothing is a table of refused writes; it runs past 60 lines
// because the table is long, not because the logic is.
func TestBadWritesAreRefusedAndChangeNothing(t *testing.T) {
	a := newAPI(t)
	admin := a.adminToken(t)
	mug := "/products/00000000-0000-4000-8000-000000000101"
	tests := []struct {
		name         string
		method, path string
		body         string
		contentType  string // default application/json
		status       int
		detail       string // a word the detail must contain
	}{
		{name: "malformed JSON", method: http.MethodPost, path: "/products", body: `{"name":"Mug",`, status: http.StatusBadRequest, detail: "JSON"},
		{name: "not an object", method: http.MethodPost, path: "/products", body: `[1,2]`, status: http.StatusBadRequest, detail: "object"},
		{name: "trailing data", method: http.MethodPost, path: "/products", body: `{"name":"A","category":"desk","price_cents":1,"stock":1} {}`, status: http.StatusBadRequest, detail: "single JSON value"},
		{name: "unknown field", method: http.MethodPost, path: "/products", body: `{"name":"A","category":"desk","price_cents":1,"stock":1,"sold":99}`, status: http.StatusBadRequest, detail: "unknown field"},
		{name: "price as a string", method: http.MethodPost, path: "/products", body: `{"name":"A","category":"desk","price_cents":"1","stock":1}`, status: http.StatusBadRequest, detail: "price_cents"},
		{name: "fractional price", method: http.MethodPost, path: "/products", body: `{"name":"A","category":"desk","price_cents":1.5,"stock":1}`, status: http.StatusBadRequest, detail: "price_cents"},
		{name: "negative price", method: http.MethodPost, path: "/products", body: `{"name":"A","category":"desk","price_cents":-100,"stock":1}`, status: http.StatusUnprocessableEntity, detail: "price_cents"},
		{name: "price above the limit", method: http.MethodPost, path: "/products", body: `{"name":"A","category":"desk","price_cents":100000001,"stock":1}`, status: http.StatusUnprocessableEntity, detail: "price_cents"},
		{name: "negative stock", method: http.MethodPost, path: "/products", body: `{"name":"A","category":"desk","price_cents":100,"stock":-1}`, status: http.StatusUnprocessableEntity, detail: "stock"},
		{name: "stock above the limit", method: http.MethodPost, path: "/products", body: `{"name":"A","category":"desk","price_cents":100,"stock":1000001}`, status: http.StatusUnprocessableEntity, detail: "stock"},
		{name: "no name", method: http.MethodPost, path: "/products", body: `{"category":"desk","price_cents":100,"stock":1}`, status: http.StatusUnprocessableEntity, detail: "name"},
		{name: "name too long", method: http.MethodPost, path: "/products", body: fmt.Sprintf(`{"name":%q,"category":"desk","price_cents":100,"stock":1}`, strings.Repeat("n", 201)), status: http.StatusUnprocessableEntity, detail: "name"},
		{name: "wrong media type", method: http.MethodPost, path: "/products", body: `{"name":"A","category":"desk","price_cents":1,"stock":1}`, contentType: "text/plain", status: http.StatusUnsupportedMediaType, detail: "application/json"},
		{name: "oversized body", method: http.MethodPost, path: "/products", body: fmt.Sprintf(`{"name":"A","description":%q,"category":"desk","price_cents":1,"stock":1}`, strings.Repeat("d", 2<<20)), status: http.StatusRequestEntityTooLarge},
		{name: "NUL in the name", method: http.MethodPost, path: "/products", body: `{"name":"Mug\u0000","category":"desk","price_cents":100,"stock":1}`, status: http.StatusBadRequest, detail: "NUL"},
		{name: "invalid UTF-8 in the name", method: http.MethodPost, path: "/products", body: "{\"name\":\"M\xffg\",\"category\":\"desk\",\"price_cents\":100,\"stock\":1}", status: http.StatusBadRequest, detail: "UTF-8"},
		{name: "NUL in the category", method: http.MethodPost, path: "/products", body: `{"name":"Mug","category":"\u0000","price_cents":100,"stock":1}`, status: http.StatusBadRequest, detail: "NUL"},
		{name: "update with NUL in the description", method: http.MethodPut, path: mug, body: `{"name":"Mug","description":"\u0000","category":"kitchen","price_cents":1200}`, status: http.StatusBadRequest, detail: "NUL"},
		{name: "update sets the stock", method: http.MethodPut, path: mug, body: `{"name":"Mug","category":"kitchen","price_cents":1200,"stock":0}`, status: http.StatusBadRequest, detail: "unknown field"},
		{name: "update with a negative price", method: http.MethodPut, path: mug, body: `{"name":"Mug","category":"kitchen","price_cents":-1}`, status: http.StatusUnprocessableEntity, detail: "price_cents"},
		{name: "update with a blank name", method: http.MethodPut, path: mug, body: `{"name":"  ","category":"kitchen","price_cents":1}`, status: http.StatusUnprocessableEntity, detail: "name"},
		{name: "update with malformed JSON", method: http.MethodPut, path: mug, body: `{"name":`, status: http.StatusBadRequest, detail: "JSON"},
		{name: "zero adjustment", method: http.MethodPost, path: mug + "/stock-adjustments", body: `{"delta":0}`, status: http.StatusUnprocessableEntity, detail: "delta"},
		{name: "adjustment without a delta", method: http.MethodPost, path: mug + "/stock-adjustments", body: `{}`, status: http.StatusUnprocessableEntity, detail: "delta"},
		{name: "write-off of more than is available", method: http.MethodPost, path: mug + "/stock-adjustments", body: `{"delta":-51}`, status: http.StatusConflict, detail: "insufficient stock"},
		{name: "adjustment with an unknown field", method: http.MethodPost, path: mug + "/stock-adjustments", body: `{"delta":1,"reason":"found"}`, status: http.StatusBadRequest, detail: "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t, a.pool)
			req, err := http.NewRequestWithContext(t.Context(), tt.method, a.url+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			req.Header.Set("Authorization", "Bearer "+admin)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var p problemJSON
			err = json.NewDecoder(resp.Body).Decode(&p)
			resp.Body.Close()
			if err != nil || resp.StatusCode != tt.status || p.Status != tt.status ||
				resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("got %d %s %+v (decode error %v), want a %d problem", resp.StatusCode, resp.Header.Get("Content-Type"), p, err, tt.status)
			}
			if !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("detail %q does not mention %q", p.Detail, tt.detail)
			}
			if after := snapshot(t, a.pool); after != before {
				t.Errorf("the refused request changed the products table: %s → %s", before, after)
			}
		})
	}
}
