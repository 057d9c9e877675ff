package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tracecart/tracecart/product-service/internal/app"
	"github.com/tracecart/tracecart/product-service/internal/domain/catalog"
	"github.com/tracecart/tracecart/shared/featureflag"
)

// gatedProducts is a catalogue whose reads count how many run at once and wait at a gate.
type gatedProducts struct {
	app.Products // nil: only the reads are used
	gate         chan struct{}
	inFlight     atomic.Int64
	maxInFlight  atomic.Int64
	entered      atomic.Int64
}

func (g *gatedProducts) Get(ctx context.Context, id uuid.UUID) (catalog.Product, error) {
	n := g.inFlight.Add(1)
	defer g.inFlight.Add(-1)
	g.entered.Add(1)
	for {
		m := g.maxInFlight.Load()
		if n <= m || g.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	select {
	case <-g.gate:
	case <-ctx.Done():
		return catalog.Product{}, ctx.Err()
	}
	return catalog.Product{ID: id}, nil
}

// contentionFlags opens a flag file in which productSingleConnection has the variant given.
func contentionFlags(t *testing.T, variant string) *featureflag.Flags {
	t.Helper()
	path := filepath.Join(t.TempDir(), "demo.flagd.json")
	doc := fmt.Sprintf(`{"flags": {%q: {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": %q}}}`,
		FlagSingleConnection, variant)
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	flags, err := featureflag.Open(t.Context(), path, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { flags.Close(context.Background()) })
	return flags
}

// waitUntil polls cond until it holds or five seconds pass.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// readConcurrently starts n reads through s, each in a server-like parent span, and returns a
// function that waits for them all and reports the first error.
func readConcurrently(t *testing.T, s *SingleConnection, tp *sdktrace.TracerProvider, n int) func() error {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			ctx, span := tp.Tracer("test").Start(t.Context(), "GET /products/{id}")
			defer span.End()
			_, err := s.Get(ctx, uuid.New())
			errs <- err
		})
	}
	return func() error {
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	}
}

func TestSingleConnectionOnSerialisesReadsAndShowsTheQueue(t *testing.T) {
	const readers = 5
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	inner := &gatedProducts{gate: make(chan struct{})}
	s := WithSingleConnection(inner, contentionFlags(t, "on"), tp)
	s.hold = 0

	wait := readConcurrently(t, s, tp, readers)
	// Every read has queued (one holds the connection), and only one reached the catalogue.
	waitUntil(t, "every read to queue", func() bool { return s.queued.Load() == readers })
	waitUntil(t, "one read to reach the catalogue", func() bool { return inner.entered.Load() == 1 })
	for range readers {
		inner.gate <- struct{}{}
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if got := inner.maxInFlight.Load(); got != 1 {
		t.Errorf("%d reads ran at once with the single connection on, want 1", got)
	}
	var ahead []int64
	for _, span := range spans.Ended() {
		switch span.Name() {
		case WaitSpanName:
			for _, kv := range span.Attributes() {
				if kv.Key == "tracecart.demo.reads_ahead" {
					ahead = append(ahead, kv.Value.AsInt64())
				}
			}
		case "GET /products/{id}":
			if len(span.Events()) != 1 || span.Events()[0].Name != "feature_flag.evaluation" {
				t.Errorf("a read's span has events %v, want the flag's evaluation", span.Events())
			}
		}
	}
	slices.Sort(ahead)
	if want := []int64{0, 1, 2, 3, 4}; !slices.Equal(ahead, want) {
		t.Errorf("the wait spans saw %v reads ahead, want %v: the queue grows with concurrency", ahead, want)
	}
}

func TestSingleConnectionOffLetsReadsRunTogether(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	for name, flags := range map[string]*featureflag.Flags{"flag off": contentionFlags(t, "off"), "no flag file": nil} {
		inner := &gatedProducts{gate: make(chan struct{})}
		s := WithSingleConnection(inner, flags, tp)
		wait := readConcurrently(t, s, tp, 3)
		// All three are inside the catalogue at once: nothing queues them.
		waitUntil(t, name+": three reads at once", func() bool { return inner.inFlight.Load() == 3 })
		close(inner.gate)
		if err := wait(); err != nil {
			t.Fatal(err)
		}
	}
	for _, span := range spans.Ended() {
		if span.Name() == WaitSpanName || len(span.Events()) > 0 {
			t.Errorf("with the fault off, span %q with events %v", span.Name(), span.Events())
		}
	}
}

func TestSingleConnectionGivesUpWithTheCaller(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	inner := &gatedProducts{gate: make(chan struct{})}
	s := WithSingleConnection(inner, contentionFlags(t, "on"), tp)
	s.hold = 0
	wait := readConcurrently(t, s, tp, 1) // holds the connection at the gate
	waitUntil(t, "the first read to hold the connection", func() bool { return inner.entered.Load() == 1 })

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { _, err := s.Get(ctx, uuid.New()); done <- err }()
	waitUntil(t, "the second read to queue", func() bool { return s.queued.Load() == 2 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("a read whose caller gave up = %v, want context.Canceled", err)
	}
	close(inner.gate)
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if q := s.queued.Load(); q != 0 {
		t.Errorf("%d reads still counted as queued", q)
	}
}
