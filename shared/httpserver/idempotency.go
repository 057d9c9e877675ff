package httpserver

import (
	"fmt"
	"net/http"
)

// IdempotencyKeyHeader is the header that makes a POST safe to retry: the same key from the same
// caller gets the answer of the first request instead of a second effect. shared/httpclient's
// retries and the gateway's retry policy look for the same name.
const IdempotencyKeyHeader = "Idempotency-Key"

// MaxIdempotencyKeyLength bounds the key; clients send UUIDs (36 characters) or similar.
const MaxIdempotencyKeyLength = 255

// IdempotencyKey returns the request's Idempotency-Key, or "" when it has none. The one rule,
// for every service: at most one such header, 1 to MaxIdempotencyKeyLength characters of
// printable ASCII. Anything else is a *RequestError answering 400.
func IdempotencyKey(r *http.Request) (string, error) {
	values := r.Header.Values(IdempotencyKeyHeader)
	switch {
	case len(values) == 0:
		return "", nil
	case len(values) > 1:
		return "", badKey("send one Idempotency-Key header, not %d", len(values))
	}
	key := values[0]
	if len(key) < 1 || len(key) > MaxIdempotencyKeyLength {
		return "", badKey("Idempotency-Key must be 1 to %d characters, got %d", MaxIdempotencyKeyLength, len(key))
	}
	for i := range len(key) {
		if key[i] < ' ' || key[i] > '~' {
			return "", badKey("Idempotency-Key must be printable ASCII")
		}
	}
	return key, nil
}

func badKey(format string, args ...any) error {
	return &RequestError{Status: http.StatusBadRequest, Detail: fmt.Sprintf(format, args...)}
}
