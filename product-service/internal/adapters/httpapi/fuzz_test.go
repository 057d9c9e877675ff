package httpapi

import (
	"net/url"
	"testing"

	"github.com/tracecart/tracecart/product-service/internal/domain/catalog"
	"github.com/tracecart/tracecart/shared/httpserver/httpservertest"
)

// The fuzz targets check the first half of every handler, what it makes of the client's input
// before the catalogue is asked anything: whatever arrives, it is refused with a 4xx or becomes
// a value the catalogue can store. Their seed corpora are in testdata/fuzz; plain `go test`
// runs them.

// FuzzParseFilter: GET /products's query parameters.
func FuzzParseFilter(f *testing.F) {
	f.Fuzz(func(t *testing.T, rawQuery string) {
		query, err := url.ParseQuery(rawQuery)
		if err != nil {
			t.Skip("the router refuses a query string that does not parse")
		}
		filter, err := parseFilter(query)
		httpservertest.AssertClientError(t, err, mapError)
		if err == nil {
			if err := filter.Validate(); err != nil {
				t.Fatalf("parseFilter(%q) accepted a filter that does not validate: %v", rawQuery, err)
			}
		}
	})
}

// FuzzCreateRequest: the body of POST /products.
func FuzzCreateRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		req, ok := httpservertest.Decode[createRequest](t, body)
		if !ok {
			return
		}
		_, err := catalog.New(catalog.Details{
			Name: req.Name, Description: req.Description, Category: req.Category, PriceCents: req.PriceCents,
		}, req.Stock)
		httpservertest.AssertClientError(t, err, mapError)
	})
}

// FuzzUpdateRequest: the body of PUT /products/{id}.
func FuzzUpdateRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		req, ok := httpservertest.Decode[updateRequest](t, body)
		if !ok {
			return
		}
		details := catalog.Details{Name: req.Name, Description: req.Description, Category: req.Category, PriceCents: req.PriceCents}
		httpservertest.AssertClientError(t, details.Validate(), mapError)
	})
}

// FuzzAdjustRequest: the body of POST /products/{id}/stock-adjustments.
func FuzzAdjustRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		httpservertest.Decode[adjustRequest](t, body)
	})
}
