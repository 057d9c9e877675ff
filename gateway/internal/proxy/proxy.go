// Package proxy forwards the gateway's API requests to the services behind it.
//
// Each upstream gets an httputil.ReverseProxy with a Rewrite function: the request's /api prefix
// is stripped, its host becomes the service's Consul name (so "http://product-service/products/42"),
// and it is sent through the same RoundTripper chain every tracecart client uses (NewTransport):
// a client span, a circuit breaker per service, retries for idempotent requests, a healthy
// instance picked round-robin per attempt, and timeouts. The ReverseProxy itself removes the
// hop-by-hop header fields (Connection and the fields it names, Keep-Alive, Proxy-*, TE,
// Trailer, Transfer-Encoding, Upgrade) in both directions, and Rewrite sets X-Forwarded-For,
// -Host and -Proto afresh, discarding whatever the client claimed.
//
// Failures become problem+json answers a client can act on: 503 with Retry-After while the
// service's breaker is open or no instance is healthy, 504 when the route's timeout passes,
// 502 for anything else the upstream did wrong.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracecart/tracecart/shared/discovery"
	"github.com/tracecart/tracecart/shared/httpclient"
	"github.com/tracecart/tracecart/shared/httpserver"
)

// StatusClientClosedRequest is what the access log records for a request whose client went
// away before the upstream answered (nginx's convention); no client ever sees it.
const StatusClientClosedRequest = 499

// Upstream is one service behind the gateway.
type Upstream struct {
	// Service is the name the service registers in Consul, such as "product-service".
	Service string
	// StripPrefix is removed from the request path: "/api" sends /api/products/1 to /products/1.
	StripPrefix string
	// Timeout bounds the whole exchange with the service, retries and the response body
	// included. Each route gets its own, because a login (a deliberately slow password hash)
	// and a catalogue read deserve different patience.
	Timeout time.Duration
	// Limit bounds the requests in flight to the service; nil is no bound. Routes to the same
	// service share one.
	Limit *Limit
}

// Options is what every upstream's proxy shares.
type Options struct {
	// Transport sends the requests; see NewTransport.
	Transport http.RoundTripper
	// RetryAfter is what a 503 tells clients to wait when a breaker is open: the breaker's
	// open timeout, since asking sooner only meets the open breaker again.
	RetryAfter time.Duration
	// Logger receives upstream failures.
	Logger *slog.Logger
}

// New returns a handler proxying every request it gets to u.
func New(u Upstream, o Options) (http.Handler, error) {
	if u.Service == "" || u.Timeout <= 0 || o.Transport == nil || o.Logger == nil {
		return nil, errors.New("new proxy: a service, a positive timeout, a transport and a logger are required")
	}
	p := &proxy{upstream: u, retryAfter: o.RetryAfter, logger: o.Logger}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      o.Transport,
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.fail,
		ErrorLog:       slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
		BufferPool:     newBufferPool(),
	}
	return p, nil
}

type proxy struct {
	upstream   Upstream
	retryAfter time.Duration
	logger     *slog.Logger
	rp         *httputil.ReverseProxy
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	release, ok := p.upstream.Limit.admit(w, r)
	if !ok {
		return
	}
	defer release()
	ctx, cancel := context.WithTimeout(r.Context(), p.upstream.Timeout)
	defer cancel()
	p.rp.ServeHTTP(w, r.WithContext(ctx))
}

// rewrite turns the client's request into the upstream's. ReverseProxy has already removed the
// hop-by-hop fields and any X-Forwarded-* the client sent.
func (p *proxy) rewrite(pr *httputil.ProxyRequest) {
	out := pr.Out
	out.URL.Scheme = "http"
	out.URL.Host = p.upstream.Service // resolved to an instance by the transport, per attempt
	out.URL.Path = strings.TrimPrefix(pr.In.URL.Path, p.upstream.StripPrefix)
	out.URL.RawPath = strings.TrimPrefix(pr.In.URL.RawPath, p.upstream.StripPrefix)
	out.Host = "" // the transport sends the service name as Host, as a load balancer would
	pr.SetXForwarded()
	// The request ID the gateway's router kept or made up, so that the service logs the same.
	out.Header[headerRequestID] = []string{httpserver.RequestID(pr.In.Context())}
}

// modifyResponse makes the upstream's answer the gateway's: the gateway has set its own request
// and trace headers already, and a Location relative to the service must gain the prefix the
// client used (POST /api/orders answers Location: /api/orders/{id}).
func (p *proxy) modifyResponse(resp *http.Response) error {
	delete(resp.Header, headerRequestID)
	delete(resp.Header, HeaderTraceID)
	if loc := resp.Header.Get("Location"); strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//") {
		resp.Header.Set("Location", p.upstream.StripPrefix+loc)
	}
	return nil
}

// HeaderTraceID carries the request's trace ID (32 lower-case hex digits) on every answer of the
// gateway, so a person or the storefront can open the trace in Jaeger. The gateway sets it; an
// upstream's own value is dropped.
const HeaderTraceID = "X-Trace-Id"

// headerRequestID is httpserver.HeaderRequestID ("X-Request-ID") in canonical form, so that the
// proxy sets and deletes it with map operations: Header.Set and Header.Del would canonicalise
// the name, with an allocation, on every request.
var headerRequestID = http.CanonicalHeaderKey(httpserver.HeaderRequestID)

// fail answers a request the upstream could not serve.
func (p *proxy) fail(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	service := p.upstream.Service
	var (
		status int
		detail string
	)
	switch {
	case errors.Is(err, httpclient.ErrCircuitOpen):
		status = http.StatusServiceUnavailable
		detail = fmt.Sprintf("%s is failing and the gateway has stopped calling it for now; try again later", service)
		w.Header().Set("Retry-After", retryAfter(p.retryAfter))
	case errors.Is(err, discovery.ErrNoInstances):
		status = http.StatusServiceUnavailable
		detail = fmt.Sprintf("no healthy instance of %s is available; try again later", service)
		w.Header().Set("Retry-After", "1")
	case errors.Is(context.Cause(ctx), context.Canceled):
		// The client went away: nobody reads this answer, but the access log should say why.
		w.WriteHeader(StatusClientClosedRequest)
		return
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		status = http.StatusGatewayTimeout
		detail = fmt.Sprintf("%s did not answer within %s", service, p.upstream.Timeout)
	default:
		status = http.StatusBadGateway
		detail = fmt.Sprintf("%s could not be reached or answered badly", service)
	}
	span := trace.SpanFromContext(ctx)
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
	p.logger.LogAttrs(ctx, slog.LevelWarn, "upstream call failed",
		slog.String("upstream", service), slog.Int("status", status), slog.Any("error", err))
	httpserver.WriteProblem(w, r, httpserver.Problem{Status: status, Detail: detail})
}

func isTimeout(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) && netErr.Timeout()
}

// retryAfter formats d as Retry-After's whole seconds, rounding up: telling a client to come
// back before the breaker half-opens would only earn it another 503.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

// bufferPool recycles the 32 KiB buffers ReverseProxy copies bodies through, which it would
// otherwise allocate per request.
type bufferPool struct{ pool sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{pool: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (p *bufferPool) Get() []byte  { return *p.pool.Get().(*[]byte) }
func (p *bufferPool) Put(b []byte) { p.pool.Put(&b) }
