package httpserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"
)

// RequestError is a request that the server will not process because of the request itself:
// a body that is not the JSON it should be (400), too large (413), or of the wrong media type
// (415). WriteError answers with its Status and Detail. Services may return one for their own
// checks of the request's form, such as a malformed query parameter.
type RequestError struct {
	Status int
	// Detail tells the client what is wrong; it is shown as is.
	Detail string
	// Err is the underlying cause, if any, for errors.Is and errors.As; it is not shown.
	Err error
}

func (e *RequestError) Error() string {
	if e.Err == nil {
		return e.Detail
	}
	return e.Detail + ": " + e.Err.Error()
}

func (e *RequestError) Unwrap() error { return e.Err }

// DecodeJSON decodes the body of r, which must be exactly one JSON value of media type
// application/json, into dst. It is strict on purpose: a field the server does not know, or
// data after the value, is far more likely a client bug than something to ignore. For the same
// reason it refuses a body that is not valid UTF-8 (which encoding/json would quietly repair
// with U+FFFD) and any decoded string that contains NUL (which Postgres cannot store): see
// input.go.
//
// It returns a *RequestError for every fault of the request, and a plain error only when dst
// cannot be decoded into at all, which is the handler's bug.
func DecodeJSON(r *http.Request, dst any) error {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "application/json" {
		return &RequestError{
			Status: http.StatusUnsupportedMediaType,
			Detail: "Content-Type must be application/json",
		}
	}
	// The router caps the body (RouterOptions.MaxBodyBytes), so reading it whole is bounded.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return decodeError(err)
	}
	return decodeJSON(body, dst)
}

// decodeJSON is DecodeJSON after the body has been read: the part worth fuzzing.
func decodeJSON(body []byte, dst any) error {
	if !utf8.Valid(body) {
		return &RequestError{Status: http.StatusBadRequest, Detail: "request body must be valid UTF-8"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if err := dec.Decode(&json.RawMessage{}); !errors.Is(err, io.EOF) {
		return &RequestError{
			Status: http.StatusBadRequest,
			Detail: "request body must contain a single JSON value, but more follows it",
			Err:    err,
		}
	}
	return checkDecoded(reflect.ValueOf(dst), "")
}

// decodeError explains an error from json.Decoder.Decode in words for the client.
func decodeError(err error) error {
	const unknownField = "json: unknown field " // encoding/json has no error type for this
	var (
		tooLarge  *http.MaxBytesError
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
		invalid   *json.InvalidUnmarshalError
	)
	switch {
	case errors.As(err, &invalid):
		return fmt.Errorf("decode JSON request body: %w", err)
	case errors.As(err, &tooLarge):
		return &RequestError{
			Status: http.StatusRequestEntityTooLarge,
			Detail: fmt.Sprintf("request body must not be larger than %d bytes", tooLarge.Limit),
			Err:    err,
		}
	case errors.Is(err, io.EOF):
		return &RequestError{Status: http.StatusBadRequest, Detail: "request body must not be empty", Err: err}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &RequestError{Status: http.StatusBadRequest, Detail: "request body is not valid JSON: it ends too early", Err: err}
	case errors.As(err, &syntaxErr):
		return &RequestError{
			Status: http.StatusBadRequest,
			Detail: fmt.Sprintf("request body is not valid JSON: %s at byte %d", syntaxErr, syntaxErr.Offset),
			Err:    err,
		}
	case errors.As(err, &typeErr):
		return &RequestError{Status: http.StatusBadRequest, Detail: typeDetail(typeErr), Err: err}
	case strings.HasPrefix(err.Error(), unknownField):
		return &RequestError{
			Status: http.StatusBadRequest,
			Detail: "request body has an unknown field " + strings.TrimPrefix(err.Error(), unknownField),
			Err:    err,
		}
	default:
		return &RequestError{Status: http.StatusBadRequest, Detail: "request body could not be read", Err: err}
	}
}

// typeDetail says which field has a value of the wrong JSON type, in JSON's terms rather than
// Go's, which the client neither knows nor needs to.
func typeDetail(err *json.UnmarshalTypeError) string {
	want := "a different type"
	switch err.Type.Kind() {
	case reflect.Bool:
		want = "a boolean"
	case reflect.String:
		want = "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		want = "a number"
	case reflect.Slice, reflect.Array:
		want = "an array"
	case reflect.Struct, reflect.Map:
		want = "an object"
	}
	if err.Field == "" {
		return fmt.Sprintf("request body must be %s, not %s", want, err.Value)
	}
	return fmt.Sprintf("request body field %q must be %s, not %s", err.Field, want, err.Value)
}
