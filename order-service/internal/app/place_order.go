package httpapi

import (
	"cmp"
	"crypto/sha256"
	"fmt"
	"net/http"
	"slices"

	"github.com/tracecart/tracecart/order-service/internal/domain/order"
	"github.com/tracecart/tracecart/shared/httpclient"
	"github.com/tracecart/tracecart/shared/httpserver"
)

// maxIdempotencyKeyLength bounds the Idempotency-Key header; a UUID, the usual key, is 36.
const maxIdempotencyKeyLength = 200

// idempotencyKey returns the request's Idempotency-Key, or "" if it has none. A key makes a
// retried POST /orders safe: the same key from the same user returns the order the first
// request placed instead of placing another.
func idempotencyKey(r *http.Request) (string, error) {
	values := r.Header.Values(httpclient.IdempotencyKeyHeader)
	switch {
	case len(values) == 0:
		return "", nil
	case len(values) > 1:
		return "", badKey("send one Idempotency-Key header, not %d", len(values))
	}
	key := values[0]
	if len(key) < 1 || len(key) > maxIdempotencyKeyLength {
		return "", badKey("Idempotency-Key must be 1 to %d characters, got %d", maxIdempotencyKeyLength, len(key))
	}
	for i := range len(key) {
		if key[i] < ' ' || key[i] > '~' {
			return "", badKey("Idempotency-Key must be printable ASCII")
		}
	}
	return key, nil
}

func badKey(format string, args ...any) error {
	return &httpserver.RequestError{Status: http.StatusBadRequest, Detail: fmt.Sprintf(format, args...)}
}

// requestHash fingerprints what an order request asks for, so that a repeat of an idempotency
// key can be told apart from a different request reusing it. It hashes the validated items
// sorted by product, not the raw body: whitespace, the order of the lines and how a product's
// quantity is split over duplicate lines do not change what is being ordered.
func requestHash(items []order.Item) []byte {
	sorted := slices.Clone(items)
	slices.SortFunc(sorted, func(a, b order.Item) int { return cmp.Compare(a.ProductID.String(), b.ProductID.String()) })
	h := sha256.New()
	for _, it := range sorted {
		fmt.Fprintf(h, "%s:%d\n", it.ProductID, it.Quantity)
	}
	return h.Sum(nil)
}
