package httpserver_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tracecart/tracecart/shared/httpserver"
)

func TestDecodeJSON(t *testing.T) {
	const limit = 64
	s := newTestServer(t, httpserver.RouterOptions{MaxBodyBytes: limit})

	tests := []struct {
		name        string
		contentType string
		body        string
		wantStatus  int
		wantDetail  string // a part of the problem's detail
	}{
		{
			name:        "valid",
			contentType: "application/json",
			body:        `{"name":"mug","quantity":2}`,
			wantStatus:  http.StatusCreated,
		},
		{
			name:        "valid with charset and surrounding space",
			contentType: "Application/JSON; charset=utf-8",
			body:        " \n{\"name\":\"mug\"}\n ",
			wantStatus:  http.StatusCreated,
		},
		{
			name:        "truncated JSON",
			contentType: "application/json",
			body:        `{"name":"mug"`,
			wantStatus:  http.StatusBadRequest,
			wantDetail:  "not valid JSON: it ends too early",
		},
		{
			name:        "syntax error",
			contentType: "application/json",
			body:        `{"name" "mug"}`,
			wantStatus:  http.StatusBadRequest,
			wantDetail:  "not valid JSON: invalid character",
		},
		{
			name:        "unknown field",
			contentType: "application/json",
			body:        `{"name":"mug","colour":"red"}`,
			wantStatus:  http.StatusBadRequest,
			wantDetail:  `unknown field "colour"`,
		},
		{
			name:        "wrong type",
			contentType: "application/json",
			body:        `{"name":"mug","quantity":"two"}`,
			wantStatus:  http.StatusBadRequest,
			wantDetail:  `field "quantity" must be a number, not string`,
		},
		{
			name:        "array instead of object",
			contentType: "application/json",
			body:        `[1,2]`,
			wantStatus:  http.StatusBadRequest,
			wantDetail:  "must be an object, not array",
		},
		{
			name:        "second value",
			contentType: "application/json",
			body:        `{"name":"mug"} {"name":"cup"}`,
			wantStatus:  http.StatusBadRequest,
			wantDetail:  "single JSON value",
		},
		{
			name:        "trailing garbage",
			contentType: "application/json",
			body:        `{"name":"mug"}]`,
			wantStatus:  http.StatusBadRequest,
			wantDetail:  "single JSON value",
		},
		{
			name:        "empty body",
			contentType: "application/json",
			body:        "",
			wantStatus:  http.StatusBadRequest,
			wantDetail:  "must not be empty",
		},
		{
			name:        "only whitespace",
			contentType: "application/json",
			body:        "  \n",
			wantStatus:  http.StatusBadRequest,
			wantDetail:  "must not be empty",
		},
		{
			name:        "invalid UTF-8 in a string",
			contentType: "application/json",
			body:        "{\"name\":\"m\xffg\"}",
			wantStatus:  http.StatusBadRequest,
			wantDetail:  "must be valid UTF-8",
		},
		{
			name:        "invalid UTF-8 outside strings",
			contentType: "application/json",
			body:        "{\"name\":\"mug\"}\xc3",
			wantStatus:  http.StatusBadRequest,
			wantDetail:  "must be valid UTF-8",
		},
		{
			name:        "escaped NUL",
			contentType: "application/json",
			body:        `{"name":"m\u0000g"}`,
			wantStatus:  http.StatusBadRequest,
			wantDetail:  `field "name" must not contain NUL`,
		},
		{
			name:        "raw NUL",
			contentType: "application/json",
			body:        "{\"name\":\"m\x00g\"}",
			wantStatus:  http.StatusBadRequest,
			wantDetail:  "not valid JSON",
		},
		{
			name:        "escaped backslash before u0000 is text",
			contentType: "application/json",
			body:        `{"name":"mug\\u0000"}`,
			wantStatus:  http.StatusCreated,
		},
		{
			name:        "wrong content type",
			contentType: "text/plain",
			body:        `{"name":"mug"}`,
			wantStatus:  http.StatusUnsupportedMediaType,
			wantDetail:  "Content-Type must be application/json",
		},
		{
			name:       "no content type",
			body:       `{"name":"mug"}`,
			wantStatus: http.StatusUnsupportedMediaType,
			wantDetail: "Content-Type must be application/json",
		},
		{
			name:        "too large",
			contentType: "application/json",
			body:        `{"name":"` + strings.Repeat("m", limit) + `"}`,
			wantStatus:  http.StatusRequestEntityTooLarge,
			wantDetail:  "must not be larger than 64 bytes",
		},
		{
			name:        "too large after the value",
			contentType: "application/json",
			body:        `{"name":"mug"}` + strings.Repeat(" ", limit),
			wantStatus:  http.StatusRequestEntityTooLarge,
			wantDetail:  "must not be larger than 64 bytes",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/items", strings.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}

			rec := s.do(t, req)

			if tt.wantStatus == http.StatusCreated {
				if rec.Code != http.StatusCreated || rec.Header().Get("Content-Type") != "application/json" {
					t.Fatalf("status %d, Content-Type %q; body: %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
				}
				var got item
				if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || !strings.HasPrefix(got.Name, "mug") {
					t.Errorf("echoed item = %+v, %v; want name mug", got, err)
				}
				return
			}
			p := readProblem(t, rec, tt.wantStatus)
			if !strings.Contains(p.Detail, tt.wantDetail) {
				t.Errorf("detail = %q, want it to contain %q", p.Detail, tt.wantDetail)
			}
			if p.TraceID == "" {
				t.Errorf("problem has no trace_id")
			}
		})
	}
}

func TestDefaultBodyLimitIsOneMiB(t *testing.T) {
	s := newTestServer(t, httpserver.RouterOptions{})
	overhead := len(`{"name":""}`)

	tests := []struct {
		name       string
		size       int // of the whole body
		wantStatus int
	}{
		{"exactly the limit", 1 << 20, http.StatusCreated},
		{"one byte over", 1<<20 + 1, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"name":"` + strings.Repeat("m", tt.size-overhead) + `"}`
			req := httptest.NewRequest(http.MethodPost, "/items", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")

			rec := s.do(t, req)

			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
		})
	}
}

func TestDecodeJSONIntoANonPointerIsTheHandlersBug(t *testing.T) {
	req := httptest.NewRequest(http.MethodPost, "/items", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")

	err := httpserver.DecodeJSON(req, item{})

	if _, isRequestErr := errors.AsType[*httpserver.RequestError](err); err == nil || isRequestErr {
		t.Errorf("DecodeJSON into a non-pointer = %v, want a plain error (a 500)", err)
	}
}
