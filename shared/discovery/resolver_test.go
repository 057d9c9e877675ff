package discovery

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// resolverFactory returns a Resolver that knows service with the given healthy instances
// ("host:port" each) and nothing else.
type resolverFactory func(t *testing.T, service string, instances []string) Resolver

// testResolverContract checks what every Resolver promises. newInstances starts n reachable
// instances and returns their addresses, because a Consul-backed resolver only hands out
// instances whose health check passes.
func testResolverContract(t *testing.T, newResolver resolverFactory, newInstances func(t *testing.T, n int) []string) {
	t.Run("round-robin alternates across instances", func(t *testing.T) {
		addrs := newInstances(t, 2)
		r := newResolver(t, "catalogue", addrs)
		seen := map[string]int{}
		var previous string
		for i := range 6 {
			got, err := r.Resolve(t.Context(), "catalogue")
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if i > 0 && got == previous {
				t.Fatalf("call %d returned %s again; want the other instance", i, got)
			}
			previous = got
			seen[got]++
		}
		for _, a := range addrs {
			if seen[a] != 3 {
				t.Errorf("instance %s picked %d times out of 6, want 3 (picks: %v)", a, seen[a], seen)
			}
		}
	})

	t.Run("unknown service has no instances", func(t *testing.T) {
		r := newResolver(t, "catalogue", newInstances(t, 1))
		_, err := r.Resolve(t.Context(), "no-such-service")
		if !errors.Is(err, ErrNoInstances) {
			t.Fatalf("Resolve(no-such-service) = %v, want ErrNoInstances", err)
		}
	})

	t.Run("concurrent callers share the rotation", func(t *testing.T) {
		addrs := newInstances(t, 2)
		r := newResolver(t, "catalogue", addrs)
		const callers, calls = 8, 50
		var (
			mu   sync.Mutex
			seen = map[string]int{}
			wg   sync.WaitGroup
		)
		for range callers {
			wg.Go(func() {
				for range calls {
					got, err := r.Resolve(t.Context(), "catalogue")
					if err != nil {
						t.Errorf("Resolve: %v", err)
						return
					}
					mu.Lock()
					seen[got]++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		for _, a := range addrs {
			if seen[a] != callers*calls/2 {
				t.Errorf("instance %s picked %d times, want %d (picks: %v)", a, seen[a], callers*calls/2, seen)
			}
		}
	})
}

func TestStaticResolver(t *testing.T) {
	// Nothing dials these addresses: a static resolver only hands them out.
	fixedAddrs := func(t *testing.T, n int) []string {
		addrs := make([]string, n)
		for i := range addrs {
			addrs[i] = fmt.Sprintf("127.0.0.1:%d", 1000+i)
		}
		return addrs
	}
	testResolverContract(t, func(t *testing.T, service string, instances []string) Resolver {
		return NewStaticResolver(map[string][]string{service: instances})
	}, fixedAddrs)
}

func TestStaticResolverCopiesItsInput(t *testing.T) {
	services := map[string][]string{"catalogue": {"127.0.0.1:1000"}}
	r := NewStaticResolver(services)
	services["catalogue"][0] = "127.0.0.1:2000"
	services["orders"] = []string{"127.0.0.1:3000"}

	if got, err := r.Resolve(t.Context(), "catalogue"); err != nil || got != "127.0.0.1:1000" {
		t.Errorf("Resolve(catalogue) = %q, %v; want the address given at construction", got, err)
	}
	if _, err := r.Resolve(t.Context(), "orders"); !errors.Is(err, ErrNoInstances) {
		t.Errorf("Resolve(orders) = %v; want ErrNoInstances for a service added afterwards", err)
	}
}

// TestConsulResolverGivesUpWhenConsulNeverAnswers points the resolver at a port nobody listens
// on: the first Resolve must fail within the ready timeout, with the query error at hand.
func TestConsulResolverGivesUpWhenConsulNeverAnswers(t *testing.T) {
	client, err := api.NewClient(&api.Config{Address: closedPort(t)})
	if err != nil {
		t.Fatal(err)
	}
	r := NewConsulResolver(client, WithLogger(testLogger(t)),
		WithReadyTimeout(300*time.Millisecond), WithRetryBackoff(10*time.Millisecond, 50*time.Millisecond))
	t.Cleanup(func() { _ = r.Close() })

	start := time.Now()
	_, err = r.Resolve(t.Context(), "catalogue")
	if !errors.Is(err, ErrNoInstances) {
		t.Fatalf("Resolve = %v, want ErrNoInstances", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("Resolve took %v, want about the 300ms ready timeout", elapsed)
	}

	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := r.Resolve(t.Context(), "catalogue"); !errors.Is(err, ErrResolverClosed) {
		t.Errorf("Resolve after Close = %v, want ErrResolverClosed", err)
	}
}

// closedPort returns a loopback address on which nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}
