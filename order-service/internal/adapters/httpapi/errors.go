package httpapi

import (
	"errors"
	"net/http"

	"github.com/tracecart/tracecart/order-service/internal/domain/order"
)

// mapError is the one place where order-service's domain errors become HTTP statuses. The
// router's WriteError consults it; errors it does not know fall through to httpserver's own
// sentinels, and then to 500.
func mapError(err error) (int, bool) {
	switch {
	case errors.Is(err, order.ErrNotFound):
		return http.StatusNotFound, true
	case errors.Is(err, order.ErrInvalidOrder),
		errors.Is(err, order.ErrUnknownProduct),
		errors.Is(err, order.ErrIdempotencyKeyReused):
		return http.StatusUnprocessableEntity, true
	case errors.Is(err, order.ErrSagaNotFinished),
		errors.Is(err, order.ErrNotCancellable):
		return http.StatusConflict, true
	case errors.Is(err, order.ErrCatalogUnavailable):
		return http.StatusServiceUnavailable, true
	}
	return 0, false
}
