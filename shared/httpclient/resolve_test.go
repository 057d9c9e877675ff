package httpclient

import (
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracecart/tracecart/shared/discovery"
	"github.com/tracecart/tracecart/shared/testinfra"
)

func TestResolvingRoundRobinsAcrossInstances(t *testing.T) {
	a, b := startUpstream(t, http.StatusOK), startUpstream(t, http.StatusOK)
	client := newTelemetry(t).client(t, Options{
		Resolver: discovery.NewStaticResolver(map[string][]string{"catalogue": {a.host(), b.host()}}),
	})

	for i := range 4 {
		status, err := call(t, client, newRequest(t, http.MethodGet, "http://catalogue/products", nil))
		if err != nil || status != http.StatusOK {
			t.Fatalf("call %d = %d, %v; want 200", i+1, status, err)
		}
	}
	if a.hits.Load() != 2 || b.hits.Load() != 2 {
		t.Errorf("instances hit %d and %d times, want 2 each", a.hits.Load(), b.hits.Load())
	}
	reqs, _ := a.requests()
	if host := reqs[0].Host; host != "catalogue" {
		t.Errorf("Host header = %q, want the service name", host)
	}
}

func TestTraceContextReachesTheUpstream(t *testing.T) {
	up := startUpstream(t, http.StatusOK)
	tel := newTelemetry(t)
	client := tel.client(t, Options{})
	ctx, parent := tel.tracerProvider.Tracer("test").Start(t.Context(), "place order")

	if _, err := call(t, client, newRequest(t, http.MethodGet, up.server.URL, nil).WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	parent.End()

	reqs, _ := up.requests()
	received := trace.SpanContextFromContext(
		propagation.TraceContext{}.Extract(t.Context(), propagation.HeaderCarrier(reqs[0].Header)))
	if !received.IsValid() {
		t.Fatalf("upstream got no valid traceparent (header %q)", reqs[0].Header.Get("traceparent"))
	}
	var clientSpan trace.SpanContext
	for _, s := range tel.spans.Ended() {
		if s.SpanKind() == trace.SpanKindClient {
			clientSpan = s.SpanContext()
		}
	}
	if received.TraceID() != parent.SpanContext().TraceID() || received.TraceID() != clientSpan.TraceID() {
		t.Errorf("upstream trace ID %s, want the caller's %s", received.TraceID(), parent.SpanContext().TraceID())
	}
	if received.SpanID() != clientSpan.SpanID() {
		t.Errorf("upstream parent span %s, want the client span %s", received.SpanID(), clientSpan.SpanID())
	}
}

// TestResolvesThroughConsul calls a service by name, end to end through a real Consul agent.
func TestResolvesThroughConsul(t *testing.T) {
	consul := testinfra.NewConsul(t)
	consulClient, err := api.NewClient(&api.Config{Address: consul.Addr(), Token: consul.Token()})
	if err != nil {
		t.Fatal(err)
	}
	up := startUpstream(t, http.StatusOK)
	service := testinfra.UniqueName(t, "catalogue")
	host, port, err := net.SplitHostPort(up.host())
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := discovery.Register(t.Context(), consulClient, discovery.Registration{
		Service: service, Address: host, Port: p, CheckInterval: time.Second,
	}); err != nil {
		t.Fatal(err)
	}
	resolver := discovery.NewConsulResolver(consulClient)
	t.Cleanup(func() { _ = resolver.Close() })
	client := newTelemetry(t).client(t, Options{Resolver: resolver})

	// Consul hands the instance out once its first health check has passed.
	waitFor(t, "consul to report the instance healthy", func() error {
		_, err := resolver.Resolve(t.Context(), service)
		return err
	})
	status, err := call(t, client, newRequest(t, http.MethodGet, "http://"+service+"/products", nil))
	if err != nil || status != http.StatusOK {
		t.Fatalf("call = %d, %v; want 200 from the registered instance", status, err)
	}
	reqs, _ := up.requests()
	if len(reqs) != 1 || reqs[0].URL.Path != "/products" || reqs[0].Host != service {
		t.Errorf("upstream got %d requests, want one for /products with Host %s", len(reqs), service)
	}
}
