package httpapi

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/tracecart/tracecart/order-service/internal/domain/order"
	"github.com/tracecart/tracecart/shared/httpserver/httpservertest"
)

// The fuzz targets check the first half of the handlers, what they make of the client's input
// before the store or product-service is asked anything: whatever arrives, it is refused with a
// 4xx or becomes a valid order request. Their seed corpora are in testdata/fuzz; plain
// `go test` runs them.

// FuzzCreateOrderRequest: the body of POST /orders, through the checks that come before pricing.
func FuzzCreateOrderRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		req, ok := httpservertest.Decode[createOrderRequest](t, body)
		if !ok {
			return
		}
		requested, err := req.items()
		httpservertest.AssertClientError(t, err, mapError)
		if err != nil {
			return
		}
		_, err = order.NewItems(requested)
		httpservertest.AssertClientError(t, err, mapError)
	})
}

// FuzzQueryInt: GET /orders's limit and offset.
func FuzzQueryInt(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw string) {
		r := httptest.NewRequest(http.MethodGet, "/orders?limit="+url.QueryEscape(raw), nil)
		n, err := queryInt(r, "limit", defaultLimit, 1, maxLimit)
		httpservertest.AssertClientError(t, err, mapError)
		if err == nil && (n < 1 || n > maxLimit) {
			t.Fatalf("queryInt(%q) = %d, outside 1..%d", raw, n, maxLimit)
		}
	})
}
