package httpclient

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracecart/tracecart/shared/backoff"
)

// IdempotencyKeyHeader marks a POST or PATCH as safe to send twice: the server remembers the
// key and answers a repeat with the first result instead of acting again.
const IdempotencyKeyHeader = "Idempotency-Key"

// RetryEvent is the span event recorded before each retry, with the attributes
// http.request.resend_count and either http.response.status_code or error.type.
const RetryEvent = "http.retry"

// RetryPolicy bounds retries. Zero fields take the defaults in parentheses.
type RetryPolicy struct {
	// MaxAttempts is the number of tries including the first (3); 1 disables retries.
	MaxAttempts int
	// BaseDelay is the backoff before the first retry (50ms); it doubles per retry, with
	// jitter, up to MaxDelay (1s).
	BaseDelay time.Duration
	MaxDelay  time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	p.MaxAttempts = cmp.Or(p.MaxAttempts, 3)
	p.BaseDelay = cmp.Or(p.BaseDelay, 50*time.Millisecond)
	p.MaxDelay = cmp.Or(p.MaxDelay, time.Second)
	return p
}

// RetryTransport retries calls that failed in a way another try may fix: a transport error or
// a 502, 503 or 504 answer. It only retries requests that are safe to send twice — GET, HEAD,
// OPTIONS, PUT and DELETE, and POST or PATCH that carry an Idempotency-Key — and whose body it
// can send again (http.NewRequest sets GetBody for the usual body types). It never waits past
// the request context's deadline: when no retry fits before it, the last answer is returned.
type RetryTransport struct {
	next   http.RoundTripper
	policy RetryPolicy
}

var _ http.RoundTripper = (*RetryTransport)(nil)

// NewRetryTransport returns a RetryTransport in front of next.
func NewRetryTransport(next http.RoundTripper, policy RetryPolicy) *RetryTransport {
	return &RetryTransport{next: next, policy: policy.withDefaults()}
}

// RoundTrip sends req, and sends it again while the policy allows.
func (t *RetryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !idempotent(req) || !replayable(req) {
		return t.next.RoundTrip(req)
	}
	ctx := req.Context()
	attempt := req
	for n := 1; ; n++ {
		resp, err := t.next.RoundTrip(attempt)
		if n >= t.policy.MaxAttempts || !worthRetrying(ctx, resp, err) {
			return resp, err
		}
		delay := backoff.Delay(n, t.policy.BaseDelay, t.policy.MaxDelay)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= delay {
			return resp, err // no time left for another try: the caller gets the real answer
		}
		discard(resp)
		trace.SpanFromContext(ctx).AddEvent(RetryEvent, trace.WithAttributes(retryAttributes(n, resp, err)...))
		if err := backoff.Sleep(ctx, delay); err != nil {
			return nil, fmt.Errorf("retry %s %s: %w", req.Method, req.URL.Redacted(), err)
		}
		if attempt, err = rewind(req); err != nil {
			return nil, fmt.Errorf("retry %s %s: %w", req.Method, req.URL.Redacted(), err)
		}
	}
}

// idempotent reports whether sending req twice has the same effect as sending it once.
func idempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	case http.MethodPost, http.MethodPatch:
		return req.Header.Get(IdempotencyKeyHeader) != ""
	default:
		return false
	}
}

// replayable reports whether req's body can be sent again.
func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// worthRetrying reports whether another try may succeed where this one failed.
func worthRetrying(ctx context.Context, resp *http.Response, err error) bool {
	if ctx.Err() != nil {
		return false // the caller gave up or ran out of time
	}
	if err != nil {
		return true
	}
	switch resp.StatusCode {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	default:
		return false
	}
}

// rewind returns a copy of req with a fresh body, ready to be sent again.
func rewind(req *http.Request) (*http.Request, error) {
	next := req.Clone(req.Context())
	if req.Body != nil && req.Body != http.NoBody {
		body, err := req.GetBody()
		if err != nil {
			return nil, fmt.Errorf("rewind body: %w", err)
		}
		next.Body = body
	}
	return next, nil
}

// discard reads a little of an answer that will not be used, so that its connection can be
// reused, and closes it.
func discard(resp *http.Response) {
	if resp == nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

func retryAttributes(n int, resp *http.Response, err error) []attribute.KeyValue {
	attrs := []attribute.KeyValue{semconv.HTTPRequestResendCount(n)}
	if err != nil {
		return append(attrs, semconv.ErrorType(err))
	}
	return append(attrs,
		semconv.HTTPResponseStatusCode(resp.StatusCode),
		semconv.ErrorTypeKey.String(strconv.Itoa(resp.StatusCode)))
}
