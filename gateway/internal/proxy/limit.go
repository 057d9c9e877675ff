package proxy

import (
	"fmt"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracecart/tracecart/shared/httpserver"
)

// Limit bounds the requests the gateway has in flight to one service, across every route that
// proxies to it. A request beyond the bound is refused at once with 503 and Retry-After: 1
// instead of joining a queue.
//
// Why refuse rather than wait: when more requests arrive than a service can finish, every
// queued request waits longer than the one before, until they all reach the route's timeout.
// Then the service works only on requests whose clients have given up (the gateway answered
// 504 and cancelled them), the timeouts open the breaker, and the breaker refuses everything:
// the saga benchmark at 50 orders/s confirmed a quarter of its orders that way
// (docs/performance-saga.md). With a bound, the requests admitted are served at the service's
// own speed and the rest get a fast, honest answer a client can retry, and shed requests are
// not failures the service made, so they do not count towards its breaker.
type Limit struct {
	service string
	slots   chan struct{}
	shed    metric.Int64Counter
}

// NewLimit returns a bound of n requests in flight to service; n ≤ 0 means no bound (nil).
// Shed requests are counted in tracecart.gateway.shed{upstream}.
func NewLimit(service string, n int, meter metric.Meter) (*Limit, error) {
	if n <= 0 {
		return nil, nil
	}
	shed, err := meter.Int64Counter("tracecart.gateway.shed",
		metric.WithDescription("Requests refused with 503 because the upstream already had its maximum of requests in flight from this gateway."),
		metric.WithUnit("{request}"))
	if err != nil {
		return nil, fmt.Errorf("shed counter: %w", err)
	}
	return &Limit{service: service, slots: make(chan struct{}, n), shed: shed}, nil
}

// admit takes a slot and returns its release, or refuses the request and returns false.
func (l *Limit) admit(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	if l == nil {
		return func() {}, true
	}
	select {
	case l.slots <- struct{}{}:
		return func() { <-l.slots }, true
	default:
	}
	ctx := r.Context()
	l.shed.Add(ctx, 1, metric.WithAttributes(attribute.String("upstream", l.service)))
	trace.SpanFromContext(ctx).AddEvent("load shed", trace.WithAttributes(
		attribute.String("upstream", l.service), attribute.Int("gateway.max_in_flight", cap(l.slots))))
	w.Header().Set("Retry-After", "1")
	httpserver.WriteProblem(w, r, httpserver.Problem{
		Status: http.StatusServiceUnavailable,
		Detail: fmt.Sprintf("%s has as many requests in flight as it is allowed; try again in a second", l.service),
	})
	return nil, false
}
