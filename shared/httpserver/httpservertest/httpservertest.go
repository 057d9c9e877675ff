// Package httpservertest helps fuzz targets check a service's request types the way the shared
// router and DecodeJSON will see them: whatever a client sends, the answer is a 4xx or the
// handler gets text it can store. Each service fuzzes its own request types with it; the rules
// themselves live in httpserver.
package httpservertest

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tracecart/tracecart/shared/httpserver"
)

// Decode decodes body into a T exactly as a handler's httpserver.DecodeJSON would. It fails t
// if the body is refused with anything but a 4xx, or accepted with a string that is not valid
// UTF-8 or holds NUL; ok reports whether the body was accepted.
func Decode[T any](t testing.TB, body []byte) (v T, ok bool) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if err := httpserver.DecodeJSON(req, &v); err != nil {
		AssertClientError(t, err, nil)
		return v, false
	}
	AssertCleanText(t, v)
	return v, true
}

// AssertClientError fails t unless err is nil or answers a 4xx in a router whose MapError is
// mapError: the input was refused, not the server broken.
func AssertClientError(t testing.TB, err error, mapError httpserver.ErrorMapper) {
	t.Helper()
	if err == nil {
		return
	}
	if status := httpserver.StatusOf(err, mapError); status < 400 || status > 499 {
		t.Fatalf("error %v answers %d, want a 4xx", err, status)
	}
}

// AssertCleanText fails t if any string in v, however deep, is not valid UTF-8 or holds NUL.
func AssertCleanText(t testing.TB, v any) {
	t.Helper()
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.String:
			if s := v.String(); !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
				t.Fatalf("text %q got past the edge", s)
			}
		case reflect.Pointer, reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Struct:
			for i := range v.NumField() {
				if v.Type().Field(i).IsExported() {
					walk(v.Field(i))
				}
			}
		case reflect.Slice, reflect.Array:
			for i := range v.Len() {
				walk(v.Index(i))
			}
		case reflect.Map:
			for iter := v.MapRange(); iter.Next(); {
				walk(iter.Key())
				walk(iter.Value())
			}
		}
	}
	walk(reflect.ValueOf(v))
}
