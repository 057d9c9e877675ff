// Package lifecycle runs a tracecart service process from "listening" to "exited cleanly": it
// serves the service's routes next to the operational endpoints every service has, registers the
// instance in Consul once it is listening, runs the service's background workers (outbox relay,
// Kafka consumers), and on shutdown takes the steps in the order that loses no request and no
// message:
//
//  1. readiness starts failing and the instance is deregistered from Consul, so no new traffic
//     is routed to it;
//  2. after DrainDelay, the HTTP server stops accepting connections and finishes the requests in
//     flight;
//  3. the workers' context is cancelled and each finishes the message in hand;
//  4. the caller flushes telemetry (it owns the providers).
//
// Every service's run function ends with a call to Serve; what differs between services is only
// what it passes in.
package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/tracecart/tracecart/shared/discovery"
)

// Options is what a service hands to Serve.
type Options struct {
	// Service and Version identify the process in Consul and on /version.
	Service, Version string
	// Addr is the listen address, ":8080" or "127.0.0.1:0".
	Addr string
	// AdvertiseAddress is the host or IP that Consul and other services use to reach this
	// instance. Empty means the first non-loopback IPv4 address of the machine, which is the
	// container's address on its Docker network.
	AdvertiseAddress string
	// Handler serves the service's own routes. Serve adds the operational endpoints in front.
	Handler http.Handler
	// Metrics serves /metrics (the Prometheus exporter's handler).
	Metrics http.Handler
	// Ready lists checks that must pass for /health/ready to answer 200, such as a database ping.
	Ready []Check
	// Consul registers the instance; nil skips registration (unit tests).
	Consul *api.Client
	// Workers run beside the HTTP server until shutdown. If one fails, the service shuts down.
	Workers []Worker
	// DrainDelay is how long the instance keeps serving after it has deregistered, so that
	// clients still holding its address finish rather than fail. ShutdownTimeout bounds the rest.
	DrainDelay, ShutdownTimeout time.Duration
	// Logger receives lifecycle events.
	Logger *slog.Logger
	// Listening, if set, is called with the bound address once the server listens. Tests use it
	// to learn a port chosen by the kernel.
	Listening func(addr net.Addr)
}

// Check is one readiness condition.
type Check struct {
	Name  string
	Check func(ctx context.Context) error
	// Advisory checks are reported on /health/ready but do not fail it: they describe a problem
	// that taking the instance out of service would not solve, such as a Kafka partition held back
	// by a fault while the HTTP API works.
	Advisory bool
}

// Worker is a long-running part of a service that stops when its context is cancelled, returning
// nil for a clean stop.
type Worker struct {
	Name string
	Run  func(ctx context.Context) error
}

// Serve runs the service until ctx is cancelled (SIGTERM) or a worker or the server fails, then
// shuts down in order. It returns every error met on the way, joined.
func Serve(ctx context.Context, o Options) (err error) {
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = 15 * time.Second
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.Addr, err)
	}
	if o.Listening != nil {
		o.Listening(ln.Addr())
	}

	var draining atomic.Bool
	srv := &http.Server{
		Handler:           routes(o, &draining),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	o.Logger.InfoContext(ctx, "listening", "addr", ln.Addr().String())

	workCtx, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWorkers()
	workerErr := make(chan error, len(o.Workers))
	var workers sync.WaitGroup
	for _, w := range o.Workers {
		workers.Go(func() {
			if err := w.Run(workCtx); err != nil {
				workerErr <- fmt.Errorf("worker %s: %w", w.Name, err)
			}
		})
	}

	deregister := func(context.Context) error { return nil }
	if o.Consul != nil {
		reg, err := registration(o, ln.Addr())
		if err == nil {
			deregister, err = discovery.Register(ctx, o.Consul, reg)
		}
		if err != nil {
			err = fmt.Errorf("register in consul: %w", err)
			stopWorkers()
			workers.Wait()
			return errors.Join(err, srv.Close())
		}
		o.Logger.InfoContext(ctx, "registered in consul", "service", reg.Service, "id", reg.ID,
			"address", net.JoinHostPort(reg.Address, strconv.Itoa(reg.Port)))
	}

	select {
	case <-ctx.Done():
		o.Logger.InfoContext(ctx, "shutting down", "reason", context.Cause(ctx))
	case err = <-serveErr:
		err = fmt.Errorf("http server: %w", err)
	case err = <-workerErr:
	}

	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.ShutdownTimeout)
	defer cancel()
	draining.Store(true)
	if derr := deregister(shutdownCtx); derr != nil {
		err = errors.Join(err, fmt.Errorf("deregister from consul: %w", derr))
	}
	select {
	case <-time.After(o.DrainDelay):
	case <-shutdownCtx.Done():
	}
	if serr := srv.Shutdown(shutdownCtx); serr != nil {
		err = errors.Join(err, fmt.Errorf("drain http server: %w", serr))
	}
	stopWorkers()
	// Each worker finishes what it has in hand, but a worker stuck in a call that ignores its
	// context must not keep the process from exiting: the wait ends with ShutdownTimeout, and
	// whatever it abandoned is redelivered (Kafka) or republished (outbox) to the next instance.
	stopped := make(chan struct{})
	go func() { workers.Wait(); close(stopped) }()
	select {
	case <-stopped:
		close(workerErr)
		for werr := range workerErr {
			err = errors.Join(err, werr)
		}
	case <-shutdownCtx.Done():
		err = errors.Join(err, fmt.Errorf("workers did not stop within the shutdown timeout (%s)", o.ShutdownTimeout))
	}
	o.Logger.InfoContext(shutdownCtx, "stopped", "error", err)
	return err
}

// routes puts the operational endpoints in front of the service's own handler.
func routes(o Options, draining *atomic.Bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health/live", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /health/ready", func(w http.ResponseWriter, r *http.Request) {
		status, body := readiness(r.Context(), o.Ready, draining.Load())
		writeJSON(w, status, body)
	})
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{
			"service": o.Service, "version": o.Version, "go": runtime.Version(),
		})
	})
	if o.Metrics != nil {
		mux.Handle("GET /metrics", o.Metrics)
	}
	if o.Handler != nil {
		mux.Handle("/", o.Handler)
	}
	return mux
}

// readiness runs every check with a short deadline and reports each result by name.
func readiness(ctx context.Context, checks []Check, draining bool) (int, map[string]string) {
	body := map[string]string{"status": "ok"}
	status := http.StatusOK
	if draining {
		body["status"], status = "draining", http.StatusServiceUnavailable
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for _, c := range checks {
		if err := c.Check(ctx); err != nil {
			body[c.Name] = err.Error()
			if !c.Advisory {
				body["status"], status = "unavailable", http.StatusServiceUnavailable
			}
			continue
		}
		body[c.Name] = "ok"
	}
	return status, body
}

// registration describes this instance to Consul, with the readiness endpoint as its check.
func registration(o Options, bound net.Addr) (discovery.Registration, error) {
	host := o.AdvertiseAddress
	if host == "" {
		var err error
		if host, err = firstIPv4(); err != nil {
			return discovery.Registration{}, err
		}
	}
	port := bound.(*net.TCPAddr).Port
	return discovery.Registration{
		Service:    o.Service,
		ID:         fmt.Sprintf("%s-%s-%d", o.Service, host, port),
		Address:    host,
		Port:       port,
		Tags:       []string{"tracecart", "version=" + o.Version},
		Meta:       map[string]string{"version": o.Version, "metrics_path": "/metrics"},
		HealthPath: "/health/ready",
	}, nil
}

// firstIPv4 returns the first non-loopback IPv4 address of this machine.
func firstIPv4() (string, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", fmt.Errorf("find advertise address: %w", err)
	}
	for _, a := range addrs {
		if ipnet, ok := a.(*net.IPNet); ok && !ipnet.IP.IsLoopback() && ipnet.IP.To4() != nil {
			return ipnet.IP.String(), nil
		}
	}
	return "", errors.New("find advertise address: no non-loopback IPv4 address; set ADVERTISE_ADDRESS")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
