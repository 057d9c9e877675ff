package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracecart/tracecart/gateway/internal/ratelimit"
	"github.com/tracecart/tracecart/shared/auth"
	"github.com/tracecart/tracecart/shared/httpserver"
)

// Names of the rate limiter's telemetry. In Prometheus: gateway_ratelimit_rejected_total (with
// client="subject" or "address") and gateway_ratelimit_clients.
const (
	// RateLimitRejectedMetric counts requests refused with 429.
	RateLimitRejectedMetric = "gateway.ratelimit.rejected"
	// RateLimitClientsMetric is a gauge of the clients whose buckets are not full.
	RateLimitClientsMetric = "gateway.ratelimit.clients"
)

// The rate limit header fields, from the IETF draft "RateLimit header fields for HTTP"
// (draft-ietf-httpapi-ratelimit-headers-07), the version most clients and proxies implement:
// the quota (the bucket size), what is left of it, and the seconds until it is whole again.
// RateLimit-Policy describes the token bucket as "<burst>;w=<seconds to refill it>".
//
// They are kept in canonical form ("Ratelimit-Limit", as http.CanonicalHeaderKey writes it),
// so that setting them on every answer is a map assignment: Header.Set would canonicalise the
// name again, with an allocation, on every request (the gateway's handler-chain benchmark
// showed it). Clients read header names case-insensitively, as HTTP requires.
var (
	headerRateLimitLimit     = http.CanonicalHeaderKey("RateLimit-Limit")
	headerRateLimitRemaining = http.CanonicalHeaderKey("RateLimit-Remaining")
	headerRateLimitReset     = http.CanonicalHeaderKey("RateLimit-Reset")
	headerRateLimitPolicy    = http.CanonicalHeaderKey("RateLimit-Policy")
)

const instrumentationScope = "github.com/tracecart/tracecart/gateway/internal/httpapi"

// middleware holds what the gateway's middleware needs; its methods are the middleware.
type middleware struct {
	verifier     *auth.Verifier
	limiter      *ratelimit.Limiter
	limit        []string // RateLimit-Limit's value, the same on every answer
	policy       []string // RateLimit-Policy's value, the same on every answer
	maxBodyBytes int64
	now          func() time.Time
	rejected     metric.Int64Counter
	clientKinds  map[string]metric.AddOption
}

func newMiddleware(v *auth.Verifier, l *ratelimit.Limiter, maxBodyBytes int64, mp metric.MeterProvider, now func() time.Time) (*middleware, error) {
	m := &middleware{
		verifier:     v,
		limiter:      l,
		limit:        []string{strconv.Itoa(l.Limit().Burst)},
		policy:       []string{fmt.Sprintf("%d;w=%d", l.Limit().Burst, ceilSeconds(l.Window()))},
		maxBodyBytes: maxBodyBytes,
		now:          now,
		clientKinds:  make(map[string]metric.AddOption),
	}
	if m.now == nil {
		m.now = time.Now
	}
	for _, kind := range []string{clientSubject, clientAddress} {
		m.clientKinds[kind] = metric.WithAttributeSet(attribute.NewSet(attribute.String("client", kind)))
	}
	meter := mp.Meter(instrumentationScope)
	var err error
	m.rejected, err = meter.Int64Counter(RateLimitRejectedMetric,
		metric.WithDescription("Requests the gateway refused with 429 because the client was over its rate limit, by kind of client key: subject (a signed-in user) or address."),
		metric.WithUnit("{request}"))
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", RateLimitRejectedMetric, err)
	}
	_, err = meter.Int64ObservableGauge(RateLimitClientsMetric,
		metric.WithDescription("Clients the gateway's rate limiter is tracking (those whose bucket is not full)."),
		metric.WithUnit("{client}"),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(int64(l.Clients()))
			return nil
		}))
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", RateLimitClientsMetric, err)
	}
	return m, nil
}

// Kinds of client key, for the rejection metric.
const (
	clientSubject = "subject"
	clientAddress = "address"
)

// client is who is calling, as the rate limiter counts: a kind (for the metric) and the key
// of its bucket.
type client struct{ kind, key string }

// identify works out who is calling, for the rate limiter: the subject of a bearer token that
// verifies, else the address the connection comes from. A verified token's claims go into the
// returned request's context, so a private route does not verify it a second time
// (requireToken); a request without a token is returned as it is, without a copy.
//
// The address is the TCP peer's, never X-Forwarded-For: the gateway is the edge, and a header
// a client writes itself would let it pick its own bucket.
func (m *middleware) identify(r *http.Request) (client, *http.Request) {
	if token, ok := auth.BearerToken(r); ok {
		if claims, err := m.verifier.Verify(r.Context(), token); err == nil {
			return client{kind: clientSubject, key: "sub:" + claims.Subject}, r.WithContext(auth.WithClaims(r.Context(), claims))
		}
	}
	return client{kind: clientAddress, key: "addr:" + peerAddress(r)}, r
}

// rateLimit identifies the client and takes a token from its bucket, and answers 429 when
// there is none. Every answer carries the RateLimit header fields, so well-behaved clients can
// slow down before they are refused.
func (m *middleware) rateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, r := m.identify(r)
		d := m.limiter.Allow(c.key, m.now())
		h := w.Header()
		h[headerRateLimitLimit] = m.limit // shared, never changed: Header.Set replaces a value
		h[headerRateLimitRemaining] = []string{strconv.Itoa(d.Remaining)}
		h[headerRateLimitReset] = []string{strconv.Itoa(ceilSeconds(d.Reset))}
		h[headerRateLimitPolicy] = m.policy
		if d.Allowed {
			next.ServeHTTP(w, r)
			return
		}
		retry := ceilSeconds(d.RetryAfter)
		h.Set("Retry-After", strconv.Itoa(retry))
		m.rejected.Add(r.Context(), 1, m.clientKinds[c.kind])
		trace.SpanFromContext(r.Context()).SetAttributes(attribute.Bool("gateway.rate_limited", true))
		httpserver.WriteProblem(w, r, httpserver.Problem{
			Status: http.StatusTooManyRequests,
			Detail: fmt.Sprintf("too many requests: the limit is %d at once and %g per second; retry in %d s",
				d.Limit, m.limiter.Limit().Rate, retry),
		})
	})
}

// bufferBody reads a request's body before it is proxied, and refuses it at the edge when it
// is too large (413), not JSON (415) or not well-formed JSON (400): tracecart's API speaks only
// JSON, and a broken request should not cost a service anything. Holding the body (at most
// the router's MaxBodyBytes) is also what lets the transport send an idempotent request again
// on another instance.
func (m *middleware) bufferBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > m.maxBodyBytes {
			httpserver.WriteError(w, r, tooLarge(m.maxBodyBytes, nil))
			return
		}
		body, err := io.ReadAll(r.Body) // the router has capped the body at maxBodyBytes
		if err != nil {
			if maxErr, ok := errors.AsType[*http.MaxBytesError](err); ok {
				httpserver.WriteError(w, r, tooLarge(maxErr.Limit, err))
				return
			}
			httpserver.WriteError(w, r, &httpserver.RequestError{Status: http.StatusBadRequest, Detail: "request body could not be read", Err: err})
			return
		}
		if len(body) > 0 {
			if !isJSON(r.Header.Get("Content-Type")) {
				httpserver.WriteError(w, r, &httpserver.RequestError{Status: http.StatusUnsupportedMediaType, Detail: "Content-Type must be application/json"})
				return
			}
			if !json.Valid(body) {
				httpserver.WriteError(w, r, &httpserver.RequestError{Status: http.StatusBadRequest, Detail: "request body is not well-formed JSON"})
				return
			}
		}
		r.ContentLength = int64(len(body))
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		next.ServeHTTP(w, r)
	})
}

func tooLarge(limit int64, err error) error {
	return &httpserver.RequestError{
		Status: http.StatusRequestEntityTooLarge,
		Detail: fmt.Sprintf("request body must not be larger than %d bytes", limit),
		Err:    err,
	}
}

// isJSON accepts application/json and the structured +json types (RFC 6839).
func isJSON(contentType string) bool {
	mediaType, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mediaType == "application/json" || strings.HasSuffix(mediaType, "+json"))
}

// requireToken lets a request through only with a valid bearer token. identify has usually
// verified it already; otherwise auth.Middleware verifies it and gives the standard answers:
// 401 with an RFC 6750 challenge for a missing, malformed, forged, expired or alg:none token,
// 503 while the key set cannot be fetched.
func (m *middleware) requireToken(next http.Handler) http.Handler {
	checked := auth.Middleware(m.verifier)(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := auth.ClaimsFrom(r.Context()); ok {
			next.ServeHTTP(w, r)
			return
		}
		checked.ServeHTTP(w, r)
	})
}

// peerAddress is the IP address of the connection's other end.
func peerAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ceilSeconds rounds d up to whole seconds, as the header fields count them.
func ceilSeconds(d time.Duration) int {
	return max(0, int(math.Ceil(d.Seconds())))
}
