package orderservice_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/product-service/internal/adapters/orderservice"
	"github.com/tracecart/tracecart/product-service/internal/domain/inventory"
)

func TestStatus(t *testing.T) {
	order := uuid.New()
	tests := []struct {
		name    string
		answer  func(w http.ResponseWriter)
		want    inventory.OrderStatus
		wantErr error // nil: any error will do when want is ""
	}{
		{"confirmed", func(w http.ResponseWriter) { fmt.Fprintf(w, `{"id":%q,"status":"CONFIRMED"}`, order) }, inventory.OrderConfirmed, nil},
		{"unknown order", func(w http.ResponseWriter) { http.NotFound(w, nil) }, "", orderservice.ErrUnknownOrder},
		{"server error", func(w http.ResponseWriter) { w.WriteHeader(http.StatusServiceUnavailable) }, "", nil},
		{"another order", func(w http.ResponseWriter) { fmt.Fprintf(w, `{"id":%q,"status":"CONFIRMED"}`, uuid.New()) }, "", nil},
		{"no status", func(w http.ResponseWriter) { fmt.Fprintf(w, `{"id":%q}`, order) }, "", nil},
		{"not JSON", func(w http.ResponseWriter) { fmt.Fprint(w, "<html>") }, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var path string
			server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				path = r.URL.Path
				tt.answer(w)
			}))
			defer server.Close()
			c, err := orderservice.New(server.Client(), server.URL)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Status(t.Context(), order)
			if want := "/internal/orders/" + order.String() + "/status"; path != want {
				t.Errorf("asked %s, want %s", path, want)
			}
			switch {
			case tt.want != "" && (err != nil || got != tt.want):
				t.Errorf("Status = %q, %v; want %q", got, err, tt.want)
			case tt.want == "" && err == nil:
				t.Errorf("Status = %q, want an error", got)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("Status error %v, want %v", err, tt.wantErr)
			case tt.wantErr == nil && errors.Is(err, orderservice.ErrUnknownOrder):
				t.Errorf("Status error %v: a failure must not read as an unknown order", err)
			}
		})
	}
	if _, err := orderservice.New(http.DefaultClient, "order-service"); err == nil {
		t.Error("New accepted a URL without a scheme")
	}
}
