package httpserver_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tracecart/tracecart/shared/httpserver"
	"github.com/tracecart/tracecart/shared/httpserver/httpservertest"
)

// fuzzDoc is a request type with every shape DecodeJSON must look inside for strings.
type fuzzDoc struct {
	Name  string            `json:"name"`
	Count int               `json:"count"`
	Tags  []string          `json:"tags"`
	Attrs map[string]string `json:"attrs"`
	Next  *fuzzDoc          `json:"next"`
	Any   any               `json:"any"`
}

// The seed corpora of the fuzz targets are in testdata/fuzz; plain `go test` runs them.

// FuzzDecodeJSON: whatever the body, DecodeJSON either refuses it with a 4xx *RequestError or
// decodes it into a value whose every string is valid UTF-8 without NUL. Never a plain error
// (a 500) and never a panic.
func FuzzDecodeJSON(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		httpservertest.Decode[fuzzDoc](t, body)
	})
}

// FuzzRouterInput: whatever the path and query string, the router answers a 4xx itself or the
// handler sees a path variable and query parameters that are valid UTF-8 without NUL; never a
// 5xx.
func FuzzRouterInput(f *testing.F) {
	s := newTestServer(f, httpserver.RouterOptions{})
	f.Fuzz(func(t *testing.T, path, rawQuery string) {
		u, err := url.Parse("http://example.com" + path)
		if err != nil || u.Host != "example.com" || u.RawQuery != "" {
			t.Skip("not a path a client could send")
		}
		u.RawQuery = rawQuery
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL = u
		req.RequestURI = u.RequestURI()

		rec := s.do(t, req)

		if rec.Code >= 500 {
			t.Fatalf("GET %s answered %d: %s", u, rec.Code, rec.Body)
		}
		if rec.Code != http.StatusOK {
			return
		}
		if !utf8.ValidString(u.Path) || strings.ContainsRune(u.Path, 0) {
			t.Fatalf("GET %s: the handler ran on the path %q", u, u.Path)
		}
		if query, err := url.ParseQuery(u.RawQuery); err != nil {
			t.Fatalf("GET %s: the handler ran on a query that does not parse: %v", u, err)
		} else {
			for name, values := range query {
				for _, v := range append(values, name) {
					if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
						t.Fatalf("GET %s: the handler ran with query text %q", u, v)
					}
				}
			}
		}
	})
}
