package httpapi_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/tracecart/tracecart/shared/discovery"
	"github.com/tracecart/tracecart/shared/testinfra"
)

func TestMain(m *testing.M) { os.Exit(testinfra.Main(m)) }

// TestDiscoveryThroughConsul runs two instances of product-service registered in a real Consul
// agent with their health checks, and watches where the gateway sends requests as their health
// changes.
func TestDiscoveryThroughConsul(t *testing.T) {
	consul := testinfra.NewConsul(t)
	client, err := api.NewClient(&api.Config{Address: consul.Addr(), Token: consul.Token()})
	if err != nil {
		t.Fatal(err)
	}
	resolver := discovery.NewConsulResolver(client, discovery.WithReadyTimeout(10*time.Second))
	t.Cleanup(func() { _ = resolver.Close() })
	g := newGateway(t, gatewayOptions{resolver: resolver})

	a := startService(t, productService, nil)
	b := startService(t, productService, nil)
	for _, s := range []*service{a, b, g.users, g.orders} {
		register(t, client, s)
	}
	testinfra.WaitFor(t, 30*time.Second, "both product-service instances to pass their checks", func() error {
		entries, _, err := client.Health().Service(productService, "", true, nil)
		if err == nil && len(entries) != 2 {
			err = fmt.Errorf("%d passing", len(entries))
		}
		return err
	})
	// The gateway's watcher learns of the second instance through a blocking query.
	testinfra.WaitFor(t, 10*time.Second, "the gateway to use both instances", func() error {
		a.hits.Store(0)
		b.hits.Store(0)
		for range 4 {
			g.do(t, request{path: "/api/products/1"})
		}
		if a.hits.Load() == 0 || b.hits.Load() == 0 {
			return fmt.Errorf("instances got %d and %d", a.hits.Load(), b.hits.Load())
		}
		return nil
	})

	t.Run("round-robin across two healthy instances", func(t *testing.T) {
		a.hits.Store(0)
		b.hits.Store(0)
		for i := range 10 {
			if resp := g.do(t, request{path: "/api/products/1"}); resp.status != http.StatusOK {
				t.Fatalf("call %d = %d", i+1, resp.status)
			}
		}
		if a.hits.Load() != 5 || b.hits.Load() != 5 {
			t.Errorf("instances got %d and %d calls, want 5 each", a.hits.Load(), b.hits.Load())
		}
	})

	t.Run("an instance failing its health check stops receiving traffic", func(t *testing.T) {
		b.healthy.Store(false)
		testinfra.WaitFor(t, 15*time.Second, "traffic to leave the unhealthy instance", func() error {
			b.hits.Store(0)
			for range 4 {
				g.do(t, request{path: "/api/products/1"})
			}
			if n := b.hits.Load(); n != 0 {
				return fmt.Errorf("unhealthy instance still got %d of 4 calls", n)
			}
			return nil
		})
		a.hits.Store(0)
		for i := range 6 {
			if resp := g.do(t, request{path: "/api/products/1"}); resp.status != http.StatusOK {
				t.Fatalf("call %d = %d, want 200 from the healthy instance", i+1, resp.status)
			}
		}
		if a.hits.Load() != 6 || b.hits.Load() != 0 {
			t.Errorf("healthy instance got %d, unhealthy %d; want 6 and 0", a.hits.Load(), b.hits.Load())
		}
	})

	t.Run("it gets traffic again once healthy", func(t *testing.T) {
		b.healthy.Store(true)
		testinfra.WaitFor(t, 15*time.Second, "traffic to return to the instance", func() error {
			b.hits.Store(0)
			for range 4 {
				g.do(t, request{path: "/api/products/1"})
			}
			if b.hits.Load() == 0 {
				return fmt.Errorf("recovered instance got no calls")
			}
			return nil
		})
	})

	t.Run("tokens are verified with keys fetched through Consul", func(t *testing.T) {
		resp := g.do(t, request{path: "/api/orders", token: g.token(t, "u1", nil)})
		if resp.status != http.StatusOK {
			t.Fatalf("status %d, want 200: %s", resp.status, resp.body)
		}
	})
}

// register puts the stand-in into Consul with an HTTP check on its readiness endpoint, as
// lifecycle.Serve does for a real service.
func register(t *testing.T, client *api.Client, s *service) {
	t.Helper()
	host, port, err := net.SplitHostPort(s.addr())
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	deregister, err := discovery.Register(t.Context(), client, discovery.Registration{
		Service: s.name, Address: host, Port: p, CheckInterval: time.Second, CheckTimeout: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = deregister(t.Context()) })
}
