package httpclient

import (
	"net"
	"net/http"
	"strconv"

	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracecart/tracecart/shared/discovery"
)

// ResolvingTransport lets callers name services instead of addresses: a request to
// http://product-service/products/42 is sent to one healthy instance of product-service, picked
// by the resolver for each attempt. A URL whose host has a port, such as http://127.0.0.1:8080,
// is sent as written, so the same client can also call fixed addresses.
//
// The Host header keeps the service name, the way it would behind a load balancer, and the
// instance actually called is recorded on the client span as network.peer.address and
// network.peer.port.
type ResolvingTransport struct {
	next     http.RoundTripper
	resolver discovery.Resolver
}

var _ http.RoundTripper = (*ResolvingTransport)(nil)

// NewResolvingTransport returns a ResolvingTransport that asks resolver for instances.
func NewResolvingTransport(next http.RoundTripper, resolver discovery.Resolver) *ResolvingTransport {
	return &ResolvingTransport{next: next, resolver: resolver}
}

// RoundTrip resolves req's host, if it names a service, and sends req to the instance.
func (t *ResolvingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Port() != "" {
		return t.next.RoundTrip(req)
	}
	ctx := req.Context()
	addr, err := t.resolver.Resolve(ctx, req.URL.Hostname())
	if err != nil {
		closeBody(req)
		return nil, err
	}
	out := req.Clone(ctx)
	out.URL.Host = addr
	if out.Host == "" {
		out.Host = req.URL.Host
	}
	if host, port, err := net.SplitHostPort(addr); err == nil {
		span := trace.SpanFromContext(ctx)
		span.SetAttributes(semconv.NetworkPeerAddress(host))
		if p, err := strconv.Atoi(port); err == nil {
			span.SetAttributes(semconv.NetworkPeerPort(p))
		}
	}
	return t.next.RoundTrip(out)
}
