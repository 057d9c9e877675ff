package postgres_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tracecart/tracecart/shared/postgres"
	"github.com/tracecart/tracecart/shared/testinfra"
)

func TestMain(m *testing.M) { os.Exit(testinfra.Main(m)) }

// openDB opens a pool on a fresh database and closes it when the test ends.
func openDB(t *testing.T, opts ...postgres.Option) *pgxpool.Pool {
	t.Helper()
	dsn := testinfra.Postgres(t) // may start the server: not part of Open's deadline
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	pool, err := postgres.Open(ctx, dsn, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func TestOpenTracesQueriesWithoutParameterValues(t *testing.T) {
	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	pool := openDB(t, postgres.WithTracerProvider(tp))

	const secret = "4111-1111-1111-1111"
	ctx, parent := tp.Tracer("test").Start(t.Context(), "handle request")
	var echoed string
	if err := pool.QueryRow(ctx, "SELECT $1::text", secret).Scan(&echoed); err != nil {
		t.Fatalf("query: %v", err)
	}
	parent.End()

	// pgx prepares the statement inside the query, so there may be a nested prepare span too.
	var found bool
	for _, span := range recorder.Ended() {
		attrs := map[string]string{}
		for _, kv := range span.Attributes() {
			attrs[string(kv.Key)] = kv.Value.Emit()
			if strings.Contains(kv.Value.Emit(), secret) {
				t.Errorf("span %q attribute %s holds a query parameter value: %q", span.Name(), kv.Key, kv.Value.Emit())
			}
		}
		if attrs["db.query.text"] != "SELECT $1::text" {
			continue
		}
		if span.Parent().SpanID() == parent.SpanContext().SpanID() {
			found = true
		}
		if span.SpanContext().TraceID() != parent.SpanContext().TraceID() {
			t.Errorf("span %q is not in the request's trace", span.Name())
		}
		if got := attrs["db.system.name"]; got != "postgresql" {
			t.Errorf("db.system.name = %q, want postgresql", got)
		}
	}
	if !found {
		t.Errorf("no child of the request span has db.query.text %q (%d spans)", "SELECT $1::text", len(recorder.Ended()))
	}
}

func TestOpenWaitsForTheDatabase(t *testing.T) {
	// The proxy hangs up on the first connections, as a Postgres that is still starting does.
	const refused = 3
	proxy := startFlakyProxy(t, testinfra.Postgres(t), refused)

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	pool, err := postgres.Open(ctx, proxy.dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer pool.Close()
	if got := proxy.accepted(); got <= refused {
		t.Errorf("proxy accepted %d connections, want more than the %d it refused", got, refused)
	}
}

func TestOpenGivesUpWhenContextEnds(t *testing.T) {
	// A port that was free a moment ago: nothing answers there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	_, err = postgres.Open(ctx, "postgres://user:pw@"+addr+"/db?sslmode=disable")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Open error = %v, want one wrapping context.DeadlineExceeded", err)
	}
}

func TestOpenRejectsMalformedDSN(t *testing.T) {
	_, err := postgres.Open(t.Context(), "postgres://user:pw@127.0.0.1:notaport/db")
	if err == nil {
		t.Fatal("Open accepted a malformed DSN")
	}
	if strings.Contains(err.Error(), "pw") {
		t.Errorf("error reveals the password: %v", err)
	}
}

// flakyProxy forwards TCP connections to a Postgres server after closing the first few at once.
type flakyProxy struct {
	dsn string

	mu    sync.Mutex
	count int
}

func (p *flakyProxy) accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count
}

func startFlakyProxy(t *testing.T, dsn string, refuse int) *flakyProxy {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	target := u.Host
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.Host = l.Addr().String()
	p := &flakyProxy{dsn: u.String()}

	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			client, err := l.Accept()
			if err != nil {
				return // the listener was closed
			}
			p.mu.Lock()
			p.count++
			n := p.count
			p.mu.Unlock()
			if n <= refuse {
				client.Close()
				continue
			}
			wg.Go(func() { forward(client, target) })
		}
	})
	return p
}

// forward copies bytes both ways between client and target until either side hangs up.
func forward(client net.Conn, target string) {
	defer client.Close()
	server, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer server.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(server, client); done <- struct{}{} }()
	go func() { _, _ = io.Copy(client, server); done <- struct{}{} }()
	<-done
}

// TestReadyTellsBusyFromStuck: a pool whose every connection is in use while others keep getting
// connections is busy and ready; one whose connections are all held and never come back is not.
func TestReadyTellsBusyFromStuck(t *testing.T) {
	pool := openDB(t, postgres.WithMaxConns(1))
	ready := postgres.Ready(pool)
	if err := ready(t.Context()); err != nil {
		t.Fatalf("Ready on an idle pool = %v, want nil", err)
	}

	// Busy: one connection, taken and given back by a worker all the time, in turns of 300 ms
	// so that the check's own wait runs out now and then.
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for ctx.Err() == nil {
				conn, err := pool.Acquire(ctx)
				if err != nil {
					return
				}
				time.Sleep(300 * time.Millisecond)
				conn.Release()
			}
		})
	}
	for range 3 {
		if err := ready(t.Context()); err != nil {
			t.Errorf("Ready on a busy pool = %v, want nil", err)
		}
	}
	cancel()
	wg.Wait()

	// Stuck: the only connection is held and nobody else gets one.
	held, err := pool.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	if err := ready(t.Context()); err == nil {
		t.Error("Ready with every connection stuck = nil, want an error")
	}
}
