package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/tracecart/tracecart/shared/testinfra"
)

func TestMain(m *testing.M) { os.Exit(testinfra.Main(m)) }

// events records what happened, in order, from several goroutines.
type events struct {
	mu   sync.Mutex
	list []string
}

func (e *events) add(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, s)
}

func (e *events) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Join(e.list, " > ")
}

// TestShutdownOrder proves the order Serve promises: deregister and fail readiness first, keep
// serving during the drain delay, finish the request in flight, and only then stop the workers.
func TestShutdownOrder(t *testing.T) {
	consul := testinfra.NewConsul(t)
	client, err := api.NewClient(&api.Config{Address: consul.Addr(), Token: consul.Token()})
	if err != nil {
		t.Fatal(err)
	}
	service := testinfra.UniqueName(t, "svc")
	var log events
	inFlight, release := make(chan struct{}), make(chan struct{})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(inFlight)
		<-release
		log.add("slow request answered")
		w.WriteHeader(http.StatusOK)
	})
	worker := Worker{Name: "recorder", Run: func(ctx context.Context) error {
		<-ctx.Done()
		log.add("worker stopped")
		return nil
	}}

	ctx, cancel := context.WithCancel(t.Context())
	addr := make(chan string, 1)
	served := make(chan error, 1)
	go func() {
		served <- Serve(ctx, Options{
			Service: service, Version: "test", Addr: "127.0.0.1:0", AdvertiseAddress: "127.0.0.1",
			Handler: handler, Consul: client, Workers: []Worker{worker},
			DrainDelay: 500 * time.Millisecond, ShutdownTimeout: 10 * time.Second,
			Logger:    slog.New(slog.NewJSONHandler(io.Discard, nil)),
			Listening: func(a net.Addr) { addr <- a.String() },
		})
	}()
	hostPort := <-addr
	base := "http://" + hostPort

	testinfra.WaitFor(t, 30*time.Second, "a passing instance in consul", func() error {
		entries, _, err := client.Health().Service(service, "", true, nil)
		if err == nil && len(entries) != 1 {
			err = errors.New("not passing yet")
		}
		return err
	})

	slow := make(chan int, 1)
	go func() {
		resp, err := http.Get(base + "/slow")
		if err != nil {
			slow <- 0
			return
		}
		resp.Body.Close()
		slow <- resp.StatusCode
	}()
	<-inFlight
	cancel() // what SIGTERM does

	testinfra.WaitFor(t, 5*time.Second, "deregistration", func() error {
		services, err := client.Agent().Services()
		if err == nil && len(services) != 0 {
			err = errors.New("still registered")
		}
		return err
	})
	// Still serving during the drain delay, but no longer ready.
	resp, err := http.Get(base + "/health/ready")
	if err != nil {
		t.Fatalf("readiness during drain: %v", err)
	}
	var body map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || body["status"] != "draining" {
		t.Errorf("readiness during drain = %d %v, want 503 draining", resp.StatusCode, body)
	}
	log.add("drain observed")
	// Once the drain delay is over the listener closes, while the slow request is still held:
	// the workers must still be running then.
	testinfra.WaitFor(t, 5*time.Second, "the listener to close", func() error {
		conn, err := net.DialTimeout("tcp", hostPort, 200*time.Millisecond)
		if err != nil {
			return nil
		}
		conn.Close()
		return errors.New("still accepting connections")
	})
	log.add("listener closed")
	close(release)

	if code := <-slow; code != http.StatusOK {
		t.Errorf("request in flight at shutdown got %d, want 200", code)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve = %v, want nil after a clean shutdown", err)
	}
	want := "drain observed > listener closed > slow request answered > worker stopped"
	if got := log.String(); got != want {
		t.Errorf("shutdown order = %q, want %q", got, want)
	}
}

func TestFailingWorkerStopsTheService(t *testing.T) {
	boom := errors.New("boom")
	err := Serve(t.Context(), Options{
		Service: "svc", Addr: "127.0.0.1:0",
		Workers: []Worker{{Name: "broken", Run: func(context.Context) error { return boom }}},
		Logger:  slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("Serve = %v, want the worker's error naming the worker", err)
	}
}

func TestUnreachableConsulFailsStartUp(t *testing.T) {
	client, err := api.NewClient(&api.Config{Address: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err = Serve(ctx, Options{
		Service: "svc", Addr: "127.0.0.1:0", AdvertiseAddress: "127.0.0.1", Consul: client,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	if err == nil || !strings.Contains(err.Error(), "register in consul") {
		t.Fatalf("Serve = %v, want a registration error", err)
	}
}

func TestReadinessReportsEachCheck(t *testing.T) {
	checks := []Check{
		{Name: "postgres", Check: func(context.Context) error { return nil }},
		{Name: "kafka", Check: func(context.Context) error { return errors.New("no brokers") }},
	}
	status, body := readiness(t.Context(), checks, false)
	if status != http.StatusServiceUnavailable || body["postgres"] != "ok" || body["kafka"] != "no brokers" {
		t.Errorf("readiness = %d %v, want 503 with each check's result", status, body)
	}
	if status, _ := readiness(t.Context(), checks[:1], false); status != http.StatusOK {
		t.Errorf("readiness with passing checks = %d, want 200", status)
	}
}

func TestAdvisoryCheckIsReportedButDoesNotFailReadiness(t *testing.T) {
	checks := []Check{
		{Name: "postgres", Check: func(context.Context) error { return nil }},
		{Name: "saga consumer", Advisory: true, Check: func(context.Context) error { return errors.New("orders/3 stalled for 40s") }},
	}
	status, body := readiness(t.Context(), checks, false)
	if status != http.StatusOK || body["saga consumer"] != "orders/3 stalled for 40s" || body["status"] != "ok" {
		t.Errorf("readiness = %d %v, want 200 with the advisory check's error in the body", status, body)
	}
}

// TestStuckWorkerDoesNotHoldShutdown: a worker that ignores its context must not keep the process
// from exiting; Serve returns after ShutdownTimeout and says which wait ran out.
func TestStuckWorkerDoesNotHoldShutdown(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	stuck := make(chan struct{})
	defer close(stuck)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, Options{
			Service: "svc", Addr: "127.0.0.1:0", ShutdownTimeout: 200 * time.Millisecond,
			Workers: []Worker{{Name: "stuck", Run: func(context.Context) error { <-stuck; return nil }}},
			Logger:  slog.New(slog.NewJSONHandler(io.Discard, nil)),
		})
	}()
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "did not stop within the shutdown timeout") {
			t.Errorf("Serve = %v, want the shutdown timeout reported", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve waited for a stuck worker beyond its shutdown timeout")
	}
}

// TestInternalListener: with InternalAddr set, /metrics, /version and the profiler are answered
// there and nowhere on the public address, which keeps serving health and the service's own routes.
func TestInternalListener(t *testing.T) {
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	internalAddr := free.Addr().String()
	free.Close()

	ctx, cancel := context.WithCancel(t.Context())
	addr := make(chan string, 1)
	served := make(chan error, 1)
	go func() {
		served <- Serve(ctx, Options{
			Service: "svc", Version: "test", Addr: "127.0.0.1:0", InternalAddr: internalAddr,
			Handler: http.NotFoundHandler(),
			Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "up 1\n") }),
			Logger:  slog.New(slog.NewJSONHandler(io.Discard, nil)), ShutdownTimeout: 5 * time.Second,
			Listening: func(a net.Addr) { addr <- a.String() },
		})
	}()
	public := "http://" + <-addr
	for _, tc := range []struct {
		url  string
		want int
	}{
		{public + "/health/ready", http.StatusOK},
		{public + "/metrics", http.StatusNotFound},
		{public + "/version", http.StatusNotFound},
		{"http://" + internalAddr + "/metrics", http.StatusOK},
		{"http://" + internalAddr + "/version", http.StatusOK},
		{public + "/debug/pprof/", http.StatusNotFound},
		{"http://" + internalAddr + "/debug/pprof/", http.StatusOK},
	} {
		resp, err := http.Get(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s = %d, want %d", tc.url, resp.StatusCode, tc.want)
		}
	}
	cancel()
	if err := <-served; err != nil {
		t.Errorf("Serve = %v, want a clean stop", err)
	}
}

// TestServiceHandlerGetsPathsAsTheyCame: the operational endpoints must not answer for the
// service's paths, not even with the ServeMux's redirect of an unclean path, which would lack
// everything the service's router puts on its answers.
func TestServiceHandlerGetsPathsAsTheyCame(t *testing.T) {
	var got []string
	service := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.Path)
		w.WriteHeader(http.StatusTeapot)
	})
	h, _ := routes(Options{Handler: service}, &atomic.Bool{})
	tests := []struct {
		method, path string
		wantStatus   int
	}{
		{http.MethodGet, "/health/live", http.StatusOK},
		{http.MethodGet, "/api/products/../orders", http.StatusTeapot},
		{http.MethodGet, "/api//products", http.StatusTeapot},
		{http.MethodGet, "/health/../api/orders", http.StatusTeapot},
		{http.MethodGet, "/orders", http.StatusTeapot},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(tt.method, "http://service"+tt.path, nil)
		h.ServeHTTP(rec, req)
		if rec.Code != tt.wantStatus {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, rec.Code, tt.wantStatus)
		}
	}
	want := []string{"GET /api/products/../orders", "GET /api//products", "GET /health/../api/orders", "GET /orders"}
	if !slices.Equal(got, want) {
		t.Errorf("the service saw %q, want %q", got, want)
	}
}
