package httpserver

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/gorilla/mux"
)

// Every string a client sends is checked here, once, before a handler sees it: it must be valid
// UTF-8 and must not contain NUL. Neither is ever meaningful in tracecart's API, and both are
// things the layers behind the handlers cannot take: Postgres refuses NUL in text (SQLSTATE
// 22021, which used to surface as a 500), and encoding/json would silently turn invalid UTF-8 into
// U+FFFD and store something the client never sent. Checking at the edge, in one place, means no
// handler can forget to, and the answer is always a 400 problem document that changes nothing.
//
// The router checks the path (and so every path variable) and the query string of every request
// (checkInput); DecodeJSON checks the body's bytes and every string field it decodes. Headers are
// the handlers' own business, because the few a service uses (Authorization, Idempotency-Key,
// X-Request-ID, Content-Type) each have a stricter syntax that their parsers already enforce.

// CheckText returns a *RequestError (400) if s, which the request calls what, is not valid UTF-8
// or contains NUL. Services call it for input the router cannot see, such as a header they use.
func CheckText(what, s string) error {
	switch {
	case !utf8.ValidString(s):
		return &RequestError{Status: http.StatusBadRequest, Detail: what + " must be valid UTF-8"}
	case strings.IndexByte(s, 0) >= 0:
		return &RequestError{Status: http.StatusBadRequest, Detail: what + " must not contain NUL characters"}
	}
	return nil
}

// checkInput refuses a request whose path or query string holds text that is not valid UTF-8 or
// contains NUL, or whose query string cannot be parsed. It runs before the handler, so
// r.URL.Query() and mux.Vars(r) are safe to use as they are.
//
// A query string that does not parse is refused too, rather than read with the broken pairs
// left out as url.Values would: a client that sent "q=%zz" did not mean "no q".
func (m *middleware) checkInput(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := checkURL(r.URL); err != nil {
			WriteError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// checkURL checks u's decoded path and query parameters as checkInput describes.
func checkURL(u *url.URL) error {
	if err := CheckText("the path", u.Path); err != nil {
		return err
	}
	query, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return &RequestError{Status: http.StatusBadRequest, Detail: "the query string is malformed", Err: err}
	}
	for name, values := range query {
		if err := CheckText("a query parameter's name", name); err != nil {
			return err
		}
		for _, v := range values {
			// The name is safe to show now; the value is not echoed back.
			if err := CheckText("query parameter "+name, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkDecoded walks a value DecodeJSON has just decoded and refuses any string in it that holds
// NUL, naming the field by its JSON path. (The body's bytes were checked for UTF-8 before
// decoding: afterwards it is too late, as encoding/json has replaced invalid bytes with U+FFFD.)
func checkDecoded(v reflect.Value, at string) error {
	switch v.Kind() {
	case reflect.String:
		if strings.IndexByte(v.String(), 0) >= 0 {
			return &RequestError{Status: http.StatusBadRequest, Detail: fieldName(at) + " must not contain NUL characters"}
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return checkDecoded(v.Elem(), at)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			if err := checkDecoded(v.Field(i), join(at, jsonName(f))); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			return nil // []byte is decoded from base64, not text
		}
		for i := range v.Len() {
			if err := checkDecoded(v.Index(i), fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			if err := checkDecoded(iter.Key(), at); err != nil {
				return err
			}
			if err := checkDecoded(iter.Value(), join(at, fmt.Sprint(iter.Key().Interface()))); err != nil {
				return err
			}
		}
	}
	return nil
}

// jsonName is the name encoding/json gives a struct field.
func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" || name == "-" {
		return f.Name
	}
	return name
}

func join(at, name string) string {
	if at == "" {
		return name
	}
	return at + "." + name
}

func fieldName(at string) string {
	if at == "" {
		return "the request body"
	}
	return fmt.Sprintf("request body field %q", at)
}

// cleanPath is the canonical form of an absolute path: no "." or ".." segments, no doubled
// slashes, and a trailing slash only if p had one. (It is gorilla/mux's rule, which the router
// applies itself so that its redirects run through the middleware: see redirectToCleanPath.)
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	clean := path.Clean(p)
	if p[len(p)-1] == '/' && clean != "/" {
		clean += "/"
	}
	return clean
}

// isUncleanPath matches the requests whose path is not in its canonical form.
func isUncleanPath(r *http.Request, _ *mux.RouteMatch) bool {
	return cleanPath(r.URL.Path) != r.URL.Path
}

// redirectToCleanPath answers a request for a path with "." or ".." segments or doubled slashes
// with a 301 to its canonical form, as gorilla/mux does, but as a route of the router, so the
// redirect gets a request ID, a span, an access log line (and the gateway's X-Trace-Id) and a
// problem body like every other answer, instead of the bare 301 mux writes before any
// middleware runs.
func redirectToCleanPath(w http.ResponseWriter, r *http.Request) {
	target := cleanPath(r.URL.Path)
	location := (&url.URL{Path: target, RawQuery: r.URL.RawQuery}).String()
	w.Header().Set("Location", location)
	WriteProblem(w, r, Problem{
		Status: http.StatusMovedPermanently,
		Detail: fmt.Sprintf("the canonical path of this resource is %s", target),
	})
}
