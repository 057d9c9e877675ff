package testinfra

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binary is a service's real binary, built from its main package and running as a child process
// of the test, configured only by the environment it was given.
type Binary struct {
	// Addr is "127.0.0.1:port", where the service's HTTP server listens.
	Addr string
	// InternalAddr is "127.0.0.1:port", where it serves /metrics and /version
	// (INTERNAL_HTTP_ADDR, which every binary started here is given).
	InternalAddr string

	cmd    *exec.Cmd
	output *syncBuffer
	exited chan struct{}
	err    error
}

// StartBinary builds the main package in the test's working directory and starts it with env
// (plus PATH and HOME), listening on a free loopback port and advertising 127.0.0.1. Its output is
// printed if the test fails, and it is killed when the test ends if it is still running.
func StartBinary(t testing.TB, env map[string]string) *Binary {
	t.Helper()
	return StartService(t, ".", env)
}

// StartService is StartBinary for any main package of the workspace, named by its import path
// (github.com/tracecart/tracecart/order-service/cmd/order-service) or a relative directory.
func StartService(t testing.TB, pkg string, env map[string]string) *Binary {
	t.Helper()
	name := filepath.Base(pkg)
	if name == "." {
		name = "service"
	}
	bin := filepath.Join(t.TempDir(), name)
	build := exec.Command("go", "build", "-o", bin, pkg)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ports, err := freePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	b := &Binary{
		Addr:         "127.0.0.1:" + strconv.Itoa(ports[0]),
		InternalAddr: "127.0.0.1:" + strconv.Itoa(ports[1]),
		output:       &syncBuffer{},
		exited:       make(chan struct{}),
	}
	b.cmd = exec.Command(bin)
	b.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"HTTP_ADDR=" + b.Addr, "INTERNAL_HTTP_ADDR=" + b.InternalAddr,
		"ADVERTISE_ADDRESS=127.0.0.1", "OTEL_TRACES_EXPORTER=none"}
	for k, v := range env {
		b.cmd.Env = append(b.cmd.Env, k+"="+v)
	}
	b.cmd.Stdout, b.cmd.Stderr = b.output, b.output
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("start service: %v", err)
	}
	go func() { b.err = b.cmd.Wait(); close(b.exited) }()
	t.Cleanup(func() {
		select {
		case <-b.exited:
		default:
			_ = b.cmd.Process.Kill()
			<-b.exited
		}
		if t.Failed() {
			t.Logf("%s output (tail):\n%s", name, tail(b.output.String(), 8000))
		}
	})
	return b
}

// Output returns what the service has written to stdout and stderr so far.
func (b *Binary) Output() string { return b.output.String() }

// Terminate sends SIGTERM and waits up to timeout for the process to exit, returning its error
// (nil for exit status 0).
func (b *Binary) Terminate(t testing.TB, timeout time.Duration) error {
	t.Helper()
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("signal service: %v", err)
	}
	select {
	case <-b.exited:
		return b.err
	case <-time.After(timeout):
		t.Fatalf("service still running %s after SIGTERM", timeout)
		return nil
	}
}

// CheckLifecycle proves what every tracecart service binary must do: start against real
// infrastructure, register in Consul and pass its HTTP health check there, serve /metrics,
// /version on its internal listener (and not on its public one) and its health endpoints, and
// on SIGTERM deregister within a few seconds and exit 0.
// env configures the service's own dependencies (DATABASE_URL, KAFKA_BROKERS, ...); Consul is
// started here.
func CheckLifecycle(t *testing.T, service string, env map[string]string) {
	t.Helper()
	consul := NewConsul(t)
	// The service's own token, as in the demo: Consul denies everything else.
	all := consul.ServiceEnv(t, service)
	all["SHUTDOWN_TIMEOUT"] = "10s"
	for k, v := range env {
		all[k] = v
	}
	bin := StartBinary(t, all)

	WaitFor(t, 60*time.Second, "service healthy in consul", func() error {
		n, err := passingInstances(consul, service)
		if err == nil && n != 1 {
			err = fmt.Errorf("%d passing instances, want 1", n)
		}
		return err
	})

	for url, want := range map[string]string{
		bin.Addr + "/health/live":     `"ok"`,
		bin.Addr + "/health/ready":    `"ok"`,
		bin.InternalAddr + "/version": `"service":"` + service + `"`,
		bin.InternalAddr + "/metrics": "go_goroutine", // Go runtime metrics, through the OpenTelemetry exporter
	} {
		status, body := get(t, "http://"+url)
		if status != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("GET %s = %d, want 200 with %s in:\n%.600s", url, status, want, body)
		}
	}
	for _, path := range []string{"/metrics", "/version"} {
		if status, _ := get(t, "http://"+bin.Addr+path); status == http.StatusOK {
			t.Errorf("GET %s on the public listener = 200, want it served only on INTERNAL_HTTP_ADDR", path)
		}
	}

	start := time.Now()
	if err := bin.Terminate(t, 15*time.Second); err != nil {
		t.Errorf("service exited with %v after SIGTERM, want status 0", err)
	}
	n, err := registeredInstances(consul, service)
	if err != nil || n != 0 {
		t.Errorf("after SIGTERM consul still lists %d instance(s) (err %v)", n, err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("shutdown took %s, want a few seconds", took)
	}
	if !strings.Contains(bin.Output(), `"msg":"stopped"`) {
		t.Errorf("no structured 'stopped' log line in the output")
	}
}

// WaitFor polls check every 100ms until it returns nil, failing the test with the last error
// after timeout, or at once if the test's context ends. Tests of an asynchronous system wait
// with it, never with a bare sleep.
func WaitFor(t testing.TB, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("waiting for %s: %v (last error: %v)", what, t.Context().Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func passingInstances(consul *Consul, service string) (int, error) {
	return countInstances(consul, "/v1/health/service/"+service+"?passing=true")
}

func registeredInstances(consul *Consul, service string) (int, error) {
	return countInstances(consul, "/v1/catalog/service/"+service)
}

func countInstances(consul *Consul, path string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	url := "http://" + consul.Addr() + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("X-Consul-Token", consul.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var entries []json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&entries); err != nil {
		return 0, fmt.Errorf("decode %s: %w", url, err)
	}
	return len(entries), nil
}

func get(t testing.TB, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// syncBuffer is a bytes.Buffer safe for the process's writes and the test's reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
