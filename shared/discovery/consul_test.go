package discovery

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/tracecart/tracecart/shared/testinfra"
)

// These tests run against a real Consul agent (testinfra.NewConsul). It uses host networking, so
// its HTTP checks reach the instances the tests serve on 127.0.0.1.

func TestMain(m *testing.M) { os.Exit(testinfra.Main(m)) }

func TestWatcherFollowsHealthChecksAndDeregistration(t *testing.T) {
	client := newConsulClient(t, testinfra.NewConsul(t))
	service := testinfra.UniqueName(t, "svc")
	a, b := startInstance(t, false), startInstance(t, false)
	w := NewWatcher(client, service, WithLogger(testLogger(t)), WithQueryRate(50*time.Millisecond))
	runWatcher(t, w)

	deregisterA := register(t, client, a.registration(service))
	deregisterB := register(t, client, b.registration(service))

	// Registered but failing its check: Consul knows it, nobody is handed it.
	waitFor(t, "consul to have checked both instances twice", func() error {
		if a.checks.Load() < 2 || b.checks.Load() < 2 {
			return fmt.Errorf("checks: a=%d b=%d", a.checks.Load(), b.checks.Load())
		}
		return nil
	})
	if catalog, _, err := client.Catalog().Service(service, "", nil); err != nil || len(catalog) != 2 {
		t.Fatalf("catalog lists %d instances (err %v), want both registered", len(catalog), err)
	}
	<-w.Ready()
	if got := w.Instances(); len(got) != 0 {
		t.Fatalf("Instances = %v while every check fails, want none", got)
	}

	a.healthy.Store(true)
	b.healthy.Store(true)
	waitForInstances(t, w, a, b)

	a.healthy.Store(false)
	waitForInstances(t, w, b)

	if err := deregisterB(t.Context()); err != nil {
		t.Fatalf("deregister: %v", err)
	}
	waitForInstances(t, w)
	if err := deregisterA(t.Context()); err != nil {
		t.Fatalf("deregister: %v", err)
	}
	if catalog, _, err := client.Catalog().Service(service, "", nil); err != nil || len(catalog) != 0 {
		t.Fatalf("catalog lists %d instances after deregistering both (err %v), want none", len(catalog), err)
	}
}

func TestConsulResolver(t *testing.T) {
	client := newConsulClient(t, testinfra.NewConsul(t))
	healthyInstances := func(t *testing.T, n int) []string {
		addrs := make([]string, n)
		for i := range addrs {
			addrs[i] = startInstance(t, true).addr()
		}
		return addrs
	}
	testResolverContract(t, func(t *testing.T, service string, addrs []string) Resolver {
		for _, addr := range addrs {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				t.Fatal(err)
			}
			p, err := strconv.Atoi(port)
			if err != nil {
				t.Fatal(err)
			}
			deregister := register(t, client, Registration{Service: service, Address: host, Port: p, CheckInterval: time.Second})
			// Subtests share the agent: leave it as this one found it.
			t.Cleanup(func() { _ = deregister(context.Background()) })
		}
		// Wait until Consul passes exactly this subtest's instances.
		waitFor(t, "consul to pass every instance's check", func() error {
			entries, _, err := client.Health().Service(service, "", true, nil)
			if err != nil || len(entries) != len(addrs) {
				return fmt.Errorf("%d passing instances (err %v), want %d", len(entries), err, len(addrs))
			}
			return nil
		})
		r := NewConsulResolver(client, WithLogger(testLogger(t)))
		t.Cleanup(func() { _ = r.Close() })
		return r
	}, healthyInstances)
}

// TestWatcherKeepsInstancesWhileConsulIsDown is the reason the watcher exists: losing Consul
// must not make every upstream unreachable.
func TestWatcherKeepsInstancesWhileConsulIsDown(t *testing.T) {
	consul := testinfra.NewConsul(t)
	client := newConsulClient(t, consul)
	service := testinfra.UniqueName(t, "svc")
	before := startInstance(t, true)
	register(t, client, before.registration(service))

	// The default five-minute wait time is kept on purpose: recovering must not depend on a
	// blocking query timing out.
	opts := []Option{WithLogger(testLogger(t)), WithRetryBackoff(50*time.Millisecond, 300*time.Millisecond)}
	w := NewWatcher(client, service, opts...)
	runWatcher(t, w)
	r := NewConsulResolver(client, opts...)
	t.Cleanup(func() { _ = r.Close() })
	waitForInstances(t, w, before)
	if got, err := r.Resolve(t.Context(), service); err != nil || got != before.addr() {
		t.Fatalf("Resolve = %q, %v; want %s", got, err, before.addr())
	}

	consul.Stop(t)
	waitFor(t, "the watcher to notice consul is gone", func() error {
		if w.LastError() == nil {
			return fmt.Errorf("last query succeeded")
		}
		return nil
	})
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		if got := w.Instances(); len(got) != 1 || got[0].HostPort() != before.addr() {
			t.Fatalf("Instances = %v while consul is down, want the last known [%s]", got, before.addr())
		}
		if got, err := r.Resolve(t.Context(), service); err != nil || got != before.addr() {
			t.Fatalf("Resolve = %q, %v while consul is down; want the last known %s", got, err, before.addr())
		}
		time.Sleep(100 * time.Millisecond) // sampling the window, not synchronising
	}
	if w.LastError() == nil {
		t.Fatal("LastError is nil after seconds without consul")
	}

	// Back up, consul must report a list that only a live answer can give: the old instance
	// now fails its check (whether or not the agent restored its registration) and a new one
	// registers.
	before.healthy.Store(false)
	consul.Start(t)
	after := startInstance(t, true)
	register(t, client, after.registration(service))
	waitForInstances(t, w, after)
	if err := w.LastError(); err != nil {
		t.Errorf("LastError = %v after recovery, want nil", err)
	}
}

// instance is a real HTTP server standing in for one instance of a service: its readiness
// endpoint answers 200 or 503 as the test decides, and counts Consul's checks.
type instance struct {
	server  *httptest.Server
	healthy atomic.Bool
	checks  atomic.Int64
}

func startInstance(t *testing.T, healthy bool) *instance {
	t.Helper()
	in := &instance{}
	in.healthy.Store(healthy)
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+DefaultHealthPath, func(w http.ResponseWriter, _ *http.Request) {
		in.checks.Add(1)
		if !in.healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	in.server = httptest.NewServer(mux)
	t.Cleanup(in.server.Close)
	return in
}

func (in *instance) addr() string { return in.server.Listener.Addr().String() }

func (in *instance) registration(service string) Registration {
	port := in.server.Listener.Addr().(*net.TCPAddr).Port
	// One second is the shortest interval Consul runs checks at.
	return Registration{Service: service, Address: "127.0.0.1", Port: port, CheckInterval: time.Second}
}

func newConsulClient(t *testing.T, consul *testinfra.Consul) *api.Client {
	t.Helper()
	client, err := api.NewClient(&api.Config{Address: consul.Addr(), Token: consul.Token()})
	if err != nil {
		t.Fatalf("consul client: %v", err)
	}
	return client
}

func register(t *testing.T, client *api.Client, reg Registration) (deregister func(context.Context) error) {
	t.Helper()
	d, err := Register(t.Context(), client, reg)
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	return d
}

func runWatcher(t *testing.T, w *Watcher) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- w.Run(t.Context()) }()
	// t.Context is cancelled before cleanups run, so this waits for Run to return.
	t.Cleanup(func() {
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// waitForInstances waits until the watcher reports exactly the given instances.
func waitForInstances(t *testing.T, w *Watcher, want ...*instance) {
	t.Helper()
	wantAddrs := make([]string, len(want))
	for i, in := range want {
		wantAddrs[i] = in.addr()
	}
	slices.Sort(wantAddrs)
	waitFor(t, fmt.Sprintf("instances %v", wantAddrs), func() error {
		var got []string
		for _, in := range w.Instances() {
			got = append(got, in.HostPort())
		}
		slices.Sort(got)
		if !slices.Equal(got, wantAddrs) {
			return fmt.Errorf("instances are %v (last error: %v)", got, w.LastError())
		}
		return nil
	})
}

// waitFor polls check until it returns nil, failing the test after ten seconds.
func waitFor(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestRegistrationSurvivesAnAgentThatForgetsIt restarts the Consul agent, which (a dev agent)
// comes back with no registrations: the instance must register itself again and be passing.
func TestRegistrationSurvivesAnAgentThatForgetsIt(t *testing.T) {
	consul := testinfra.NewConsul(t)
	client := newConsulClient(t, consul)
	service := testinfra.UniqueName(t, "svc")
	in := startInstance(t, true)
	deregister := register(t, client, in.registration(service))
	passing := func() error {
		entries, _, err := client.Health().Service(service, "", true, nil)
		if err != nil {
			return err
		}
		if len(entries) != 1 {
			return fmt.Errorf("%d passing instances, want 1", len(entries))
		}
		return nil
	}
	waitFor(t, "the instance to pass", passing)

	consul.Stop(t)
	consul.Start(t)
	waitFor(t, "the instance to be registered and passing again", passing)

	if err := deregister(t.Context()); err != nil {
		t.Fatalf("deregister: %v", err)
	}
	time.Sleep(3 * time.Second) // more than the re-registration interval (2 × 1 s)
	if entries, _, err := client.Health().Service(service, "", false, nil); err != nil || len(entries) != 0 {
		t.Errorf("after deregister: %d instances, %v; want none: a deregistered instance must stay gone", len(entries), err)
	}
}
