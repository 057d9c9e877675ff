package postgres_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tracecart/tracecart/shared/httpserver"
)

// TestDataErrorsAreTheClientsFault is the contract between this package's driver and the HTTP
// edge: an error Postgres raises because of the data it was given (SQLSTATE class 22 or 23)
// satisfies httpserver.SQLStateError, and so answers 4xx rather than 500, while an error of the
// database itself still answers 500.
func TestDataErrorsAreTheClientsFault(t *testing.T) {
	pool := openDB(t)
	if _, err := pool.Exec(t.Context(), `CREATE TABLE items (name text PRIMARY KEY, quantity smallint)`); err != nil {
		t.Fatalf("create table: %v", err)
	}
	if _, err := pool.Exec(t.Context(), `INSERT INTO items VALUES ('mug', 1)`); err != nil {
		t.Fatalf("insert: %v", err)
	}
	tests := []struct {
		name       string
		sql        string
		args       []any
		wantStatus int
	}{
		{"NUL in text", `SELECT count(*) FROM items WHERE name = $1`, []any{"a\x00b"}, http.StatusUnprocessableEntity},
		{"number out of range", `INSERT INTO items VALUES ('cup', $1::int)`, []any{1 << 20}, http.StatusUnprocessableEntity},
		{"duplicate key", `INSERT INTO items VALUES ($1, 1)`, []any{"mug"}, http.StatusConflict},
		{"not the data: a bug", `SELECT no_such_column FROM items`, nil, http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pool.Exec(t.Context(), tt.sql, tt.args...)
			if err == nil {
				t.Fatal("Exec succeeded, want an error")
			}
			err = fmt.Errorf("a store method: %w", err)
			if _, ok := errors.AsType[httpserver.SQLStateError](err); !ok {
				t.Fatalf("%T (%v) is not an httpserver.SQLStateError", errors.Unwrap(err), err)
			}

			rec := httptest.NewRecorder()
			httpserver.WriteError(rec, httptest.NewRequest(http.MethodGet, "/", nil), err)

			if rec.Code != tt.wantStatus {
				t.Errorf("WriteError(%v) answered %d, want %d", err, rec.Code, tt.wantStatus)
			}
		})
	}
}
