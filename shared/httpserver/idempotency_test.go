package httpserver

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestIdempotencyKey(t *testing.T) {
	tests := []struct {
		name    string
		values  []string
		want    string
		wantErr bool
	}{
		{name: "none", want: ""},
		{name: "a UUID", values: []string{"5b0e8c1e-2f0a-4c55-9f43-6a1a4f6f1b2d"}, want: "5b0e8c1e-2f0a-4c55-9f43-6a1a4f6f1b2d"},
		{name: "longest allowed", values: []string{strings.Repeat("k", MaxIdempotencyKeyLength)}, want: strings.Repeat("k", MaxIdempotencyKeyLength)},
		{name: "too long", values: []string{strings.Repeat("k", MaxIdempotencyKeyLength+1)}, wantErr: true},
		{name: "empty", values: []string{""}, wantErr: true},
		{name: "two headers", values: []string{"a", "b"}, wantErr: true},
		{name: "control character", values: []string{"a\x00b"}, wantErr: true},
		{name: "not ASCII", values: []string{"clé"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			for _, v := range tt.values {
				r.Header.Add(IdempotencyKeyHeader, v)
			}
			got, err := IdempotencyKey(r)
			var reqErr *RequestError
			switch {
			case tt.wantErr && (!errors.As(err, &reqErr) || reqErr.Status != http.StatusBadRequest):
				t.Fatalf("IdempotencyKey = %q, %v; want a 400 RequestError", got, err)
			case !tt.wantErr && (err != nil || got != tt.want):
				t.Fatalf("IdempotencyKey = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
