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
	"net/http/pprof"
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
	// InternalAddr, when set, is a second listen address for the endpoints meant for operators
	// and Prometheus, not for clients: /metrics and /version are then served there and not on
	// Addr. A service whose Addr is public (the gateway) sets it, so the internet cannot read
	// its metrics or learn its exact version. The port is announced in Consul as the
	// metrics_port metadata, which Prometheus's relabelling scrapes.
	InternalAddr string
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
	ln, internalLn, err := listen(o)
	if err != nil {
		return err
	}
	if o.Listening != nil {
		o.Listening(ln.Addr())
	}

	var draining atomic.Bool
	public, internal := routes(o, &draining)
	srv, internalSrv := newServer(public), newServer(internal)
	serveErr := make(chan error, 2)
	go func() { serveErr <- srv.Serve(ln) }()
	o.Logger.InfoContext(ctx, "listening", "addr", ln.Addr().String())
	if internalLn != nil {
		go func() { serveErr <- internalSrv.Serve(internalLn) }()
		o.Logger.InfoContext(ctx, "listening for metrics and version", "addr", internalLn.Addr().String())
	}

	w := startWorkers(ctx, o.Workers)
	defer w.stop()
	deregister, err := register(ctx, o, ln.Addr(), internalLn)
	if err != nil {
		w.stop()
		w.wg.Wait()
		return errors.Join(err, srv.Close(), internalSrv.Close())
	}

	select {
	case <-ctx.Done():
		o.Logger.InfoContext(ctx, "shutting down", "reason", context.Cause(ctx))
	case err = <-serveErr:
		err = fmt.Errorf("http server: %w", err)
	case err = <-w.errs:
	}

	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.ShutdownTimeout)
	defer cancel()
	draining.Store(true)
	err = errors.Join(err, drain(shutdownCtx, o, deregister, srv, internalSrv), w.shutdown(shutdownCtx, o.ShutdownTimeout))
	o.Logger.InfoContext(shutdownCtx, "stopped", "error", err)
	return err
}

// listen opens the service's listener and, when InternalAddr is set, the internal one.
func listen(o Options) (public, internal net.Listener, err error) {
	if public, err = net.Listen("tcp", o.Addr); err != nil {
		return nil, nil, fmt.Errorf("listen on %s: %w", o.Addr, err)
	}
	if o.InternalAddr != "" {
		if internal, err = net.Listen("tcp", o.InternalAddr); err != nil {
			return nil, nil, errors.Join(fmt.Errorf("listen on %s: %w", o.InternalAddr, err), public.Close())
		}
	}
	return public, internal, nil
}

// register registers the instance in Consul, when o has a client, and returns the function that
// takes it out again.
func register(ctx context.Context, o Options, addr net.Addr, internalLn net.Listener) (deregister func(context.Context) error, err error) {
	if o.Consul == nil {
		return func(context.Context) error { return nil }, nil
	}
	reg, err := registration(o, addr, internalLn)
	if err == nil {
		deregister, err = discovery.Register(ctx, o.Consul, reg)
	}
	if err != nil {
		return nil, fmt.Errorf("register in consul: %w", err)
	}
	o.Logger.InfoContext(ctx, "registered in consul", "consul_service", reg.Service, "id", reg.ID,
		"address", net.JoinHostPort(reg.Address, strconv.Itoa(reg.Port)))
	return deregister, nil
}

// drain takes the instance out of Consul, keeps serving for DrainDelay so that clients holding its
// address finish, then drains the HTTP servers: the service's own first, the internal one last, so
// metrics can be scraped until the service's own requests are done.
func drain(ctx context.Context, o Options, deregister func(context.Context) error, srv, internalSrv *http.Server) (err error) {
	if derr := deregister(ctx); derr != nil {
		err = fmt.Errorf("deregister from consul: %w", derr)
	}
	select {
	case <-time.After(o.DrainDelay):
	case <-ctx.Done():
	}
	if serr := srv.Shutdown(ctx); serr != nil {
		err = errors.Join(err, fmt.Errorf("drain http server: %w", serr))
	}
	if serr := internalSrv.Shutdown(ctx); serr != nil {
		err = errors.Join(err, fmt.Errorf("drain internal http server: %w", serr))
	}
	return err
}

// running is the set of workers Serve started.
type running struct {
	stop func()
	wg   *sync.WaitGroup
	errs chan error
}

// startWorkers runs each worker in its own goroutine, with a context that outlives ctx (workers
// stop only when shutdown reaches them, after the HTTP servers drained).
func startWorkers(ctx context.Context, workers []Worker) running {
	workCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	r := running{stop: stop, wg: &sync.WaitGroup{}, errs: make(chan error, len(workers))}
	for _, w := range workers {
		r.wg.Go(func() {
			if err := w.Run(workCtx); err != nil {
				r.errs <- fmt.Errorf("worker %s: %w", w.Name, err)
			}
		})
	}
	return r
}

// shutdown cancels the workers and waits for them. Each finishes what it has in hand, but a
// worker stuck in a call that ignores its context must not keep the process from exiting: the wait
// ends with ctx (ShutdownTimeout), and whatever it abandoned is redelivered (Kafka) or republished
// (outbox) to the next instance.
func (r running) shutdown(ctx context.Context, timeout time.Duration) (err error) {
	r.stop()
	stopped := make(chan struct{})
	go func() { r.wg.Wait(); close(stopped) }()
	select {
	case <-stopped:
		close(r.errs)
		for werr := range r.errs {
			err = errors.Join(err, werr)
		}
		return err
	case <-ctx.Done():
		return fmt.Errorf("workers did not stop within the shutdown timeout (%s)", timeout)
	}
}

// newServer returns an http.Server for h with the timeouts every listener of a service uses.
func newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
}

// routes puts the operational endpoints in front of the service's own handler. It returns the
// public handler, for Addr, and the internal one, for InternalAddr: with no InternalAddr,
// /metrics and /version are on the public handler and the internal one serves nothing.
func routes(o Options, draining *atomic.Bool) (public, internal http.Handler) {
	mux, ops := http.NewServeMux(), http.NewServeMux()
	if o.InternalAddr == "" {
		ops = mux
	}
	mux.HandleFunc("GET /health/live", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /health/ready", func(w http.ResponseWriter, r *http.Request) {
		status, body := readiness(r.Context(), o.Ready, draining.Load())
		writeJSON(w, status, body)
	})
	ops.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{
			"service": o.Service, "version": o.Version, "go": runtime.Version(),
		})
	})
	if o.Metrics != nil {
		ops.Handle("GET /metrics", o.Metrics)
	}
	if o.InternalAddr != "" {
		// The Go profiler, on the internal listener only: a profile shows the code's insides
		// and costs CPU while it runs, so nobody outside may ask for one.
		ops.HandleFunc("GET /debug/pprof/", pprof.Index)
		ops.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		ops.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		ops.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		ops.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	if o.Handler == nil {
		return mux, ops
	}
	// Every other path goes to the service's handler as it came. Through the ServeMux, a path
	// with "." or ".." segments or doubled slashes would get the ServeMux's own bare redirect,
	// without the trace, request ID and problem body that the service's router gives every
	// answer (shared/httpserver answers such paths itself).
	operational := map[string]bool{"/health/live": true, "/health/ready": true}
	if ops == mux {
		operational["/version"] = true
		operational["/metrics"] = o.Metrics != nil
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if operational[r.URL.Path] {
			mux.ServeHTTP(w, r)
			return
		}
		o.Handler.ServeHTTP(w, r)
	}), ops
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

// registration describes this instance to Consul, with the readiness endpoint as its check and,
// when there is an internal listener, the port Prometheus scrapes.
func registration(o Options, bound net.Addr, internal net.Listener) (discovery.Registration, error) {
	host := o.AdvertiseAddress
	if host == "" {
		var err error
		if host, err = firstIPv4(); err != nil {
			return discovery.Registration{}, err
		}
	}
	port := bound.(*net.TCPAddr).Port
	meta := map[string]string{"version": o.Version, "metrics_path": "/metrics"}
	if internal != nil {
		meta["metrics_port"] = strconv.Itoa(internal.Addr().(*net.TCPAddr).Port)
	}
	return discovery.Registration{
		Service:    o.Service,
		ID:         fmt.Sprintf("%s-%s-%d", o.Service, host, port),
		Address:    host,
		Port:       port,
		Tags:       []string{"tracecart", "version=" + o.Version},
		Meta:       meta,
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
