package productservice_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/order-service/internal/adapters/productservice"
	"github.com/tracecart/tracecart/order-service/internal/domain/order"
)

// TestPrices checks how each answer of product-service is read: what is a price, what is the
// customer's mistake (an unknown product), what is an outage (come back later), and what is a
// bug. The server is a real HTTP server; the resilient client's own behaviour (breaker,
// retries) is tested in shared/httpclient and, end to end, in the httpapi tests.
//
// Over 60 lines: most of it is the table of cases.
func TestPrices(t *testing.T) {
	mug, socks := uuid.New(), uuid.New()
	tests := []struct {
		name    string
		answer  func(w http.ResponseWriter, id string)
		want    map[uuid.UUID]int64
		wantErr error // with fail and no wantErr: an error that is neither sentinel
		fail    bool
	}{
		{
			name: "prices",
			answer: func(w http.ResponseWriter, id string) {
				price := map[string]int{mug.String(): 1200, socks.String(): 900}[id]
				fmt.Fprintf(w, `{"id":%q,"name":"x","price_cents":%d,"stock":3}`, id, price)
			},
			want: map[uuid.UUID]int64{mug: 1200, socks: 900},
		},
		{
			name:    "unknown product",
			answer:  func(w http.ResponseWriter, _ string) { w.WriteHeader(http.StatusNotFound) },
			wantErr: order.ErrUnknownProduct, fail: true,
		},
		{
			name:    "server error",
			answer:  func(w http.ResponseWriter, _ string) { w.WriteHeader(http.StatusInternalServerError) },
			wantErr: order.ErrCatalogUnavailable, fail: true,
		},
		{
			name:    "rate limited",
			answer:  func(w http.ResponseWriter, _ string) { w.WriteHeader(http.StatusTooManyRequests) },
			wantErr: order.ErrCatalogUnavailable, fail: true,
		},
		{
			name:   "bad request is a bug, not an outage",
			answer: func(w http.ResponseWriter, _ string) { w.WriteHeader(http.StatusBadRequest) },
			fail:   true,
		},
		{
			name:   "not JSON",
			answer: func(w http.ResponseWriter, _ string) { fmt.Fprint(w, "<html>") },
			fail:   true,
		},
		{
			name:   "no price",
			answer: func(w http.ResponseWriter, id string) { fmt.Fprintf(w, `{"id":%q}`, id) },
			fail:   true,
		},
		{
			name:   "another product",
			answer: func(w http.ResponseWriter, _ string) { fmt.Fprintf(w, `{"id":%q,"price_cents":1}`, uuid.New()) },
			fail:   true,
		},
		{
			name:   "negative price",
			answer: func(w http.ResponseWriter, id string) { fmt.Fprintf(w, `{"id":%q,"price_cents":-5}`, id) },
			fail:   true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mux := http.NewServeMux()
			mux.HandleFunc("GET /products/{id}", func(w http.ResponseWriter, r *http.Request) { tt.answer(w, r.PathValue("id")) })
			srv := httptest.NewServer(mux)
			defer srv.Close()
			client, err := productservice.New(srv.Client(), srv.URL)
			if err != nil {
				t.Fatal(err)
			}

			got, err := client.Prices(t.Context(), []uuid.UUID{mug, socks})
			if !tt.fail {
				if err != nil || !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("Prices = %v, %v; want %v", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Prices = %v, want an error", got)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Prices error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && (errors.Is(err, order.ErrUnknownProduct) || errors.Is(err, order.ErrCatalogUnavailable)) {
				t.Errorf("Prices error = %v, want an internal error, neither unknown product nor unavailable", err)
			}
		})
	}
}

func TestPricesUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close() // nothing listens there any more
	client, err := productservice.New(srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Prices(t.Context(), []uuid.UUID{uuid.New()}); !errors.Is(err, order.ErrCatalogUnavailable) {
		t.Errorf("Prices = %v, want ErrCatalogUnavailable", err)
	}
}

func TestNewRejectsBadURL(t *testing.T) {
	for _, u := range []string{"product-service", "ftp://product-service", "http://"} {
		if _, err := productservice.New(http.DefaultClient, u); err == nil {
			t.Errorf("New(%q) succeeded", u)
		}
	}
}
