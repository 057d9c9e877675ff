package inbox_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tracecart/tracecart/shared/inbox"
	"github.com/tracecart/tracecart/shared/postgres"
	"github.com/tracecart/tracecart/shared/testinfra"
)

func TestMain(m *testing.M) { os.Exit(testinfra.Main(m)) }

// openDB returns a pool on a fresh, migrated database with a one-row table, counter, for the
// effect of the events under test.
func openDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	dsn := testinfra.Postgres(t) // may start the server: not part of Open's deadline
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	pool, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(pool.Close)
	if err := postgres.Migrate(ctx, pool, inbox.Migrations); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if _, err := pool.Exec(ctx, "CREATE TABLE counter (n int NOT NULL); INSERT INTO counter VALUES (0)"); err != nil {
		t.Fatal(err)
	}
	return pool
}

// increment is the effect of every event in these tests.
// handle runs fn once per event through Inbox.Once, with fn's writes joining the inbox's
// transaction the way a repository's do (postgres.Atomic).
func handle(ctx context.Context, pool *pgxpool.Pool, consumer, eventID string, fn func(pgx.Tx) error) (duplicate bool, err error) {
	return inbox.New(pool).Once(ctx, consumer, eventID, func(ctx context.Context) error {
		return postgres.Atomic(ctx, pool, func(_ context.Context, tx pgx.Tx) error { return fn(tx) })
	})
}

func increment(ctx context.Context) func(pgx.Tx) error {
	return func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "UPDATE counter SET n = n + 1")
		return err
	}
}

func counter(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(t.Context(), "SELECT n FROM counter").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestHandleAppliesEachEventOnce(t *testing.T) {
	pool := openDB(t)
	ctx := t.Context()

	deliveries := []struct {
		consumer, eventID string
		wantDuplicate     bool
		wantCounter       int
	}{
		{"payments", "event-1", false, 1},
		{"payments", "event-1", true, 1},  // redelivery: no effect
		{"payments", "event-2", false, 2}, // another event
		{"refunds", "event-1", false, 3},  // another consumer of the same event
		{"refunds", "event-1", true, 3},
	}
	for _, d := range deliveries {
		duplicate, err := handle(ctx, pool, d.consumer, d.eventID, increment(ctx))
		if err != nil {
			t.Fatalf("Handle(%s, %s): %v", d.consumer, d.eventID, err)
		}
		if duplicate != d.wantDuplicate {
			t.Errorf("Handle(%s, %s) duplicate = %v, want %v", d.consumer, d.eventID, duplicate, d.wantDuplicate)
		}
		if got := counter(t, pool); got != d.wantCounter {
			t.Errorf("after Handle(%s, %s) counter = %d, want %d", d.consumer, d.eventID, got, d.wantCounter)
		}
	}
}

func TestHandleConcurrentDeliveries(t *testing.T) {
	pool := openDB(t)
	ctx := t.Context()

	const deliveries = 8
	var wg sync.WaitGroup
	duplicates := make([]bool, deliveries)
	errs := make([]error, deliveries)
	for i := range deliveries {
		wg.Go(func() {
			duplicates[i], errs[i] = handle(ctx, pool, "payments", "event-1", increment(ctx))
		})
	}
	wg.Wait()

	applied := 0
	for i := range deliveries {
		if errs[i] != nil {
			t.Errorf("delivery %d: %v", i, errs[i])
		}
		if !duplicates[i] {
			applied++
		}
	}
	if applied != 1 {
		t.Errorf("%d deliveries reported a first delivery, want 1", applied)
	}
	if got := counter(t, pool); got != 1 {
		t.Errorf("counter = %d, want 1", got)
	}
}

func TestHandleFailedEffectIsNotRecorded(t *testing.T) {
	pool := openDB(t)
	ctx := t.Context()
	errInsufficientFunds := errors.New("insufficient funds")

	_, err := handle(ctx, pool, "payments", "event-1", func(tx pgx.Tx) error {
		if err := increment(ctx)(tx); err != nil {
			return err
		}
		return errInsufficientFunds // after a partial effect, which must be rolled back too
	})
	if !errors.Is(err, errInsufficientFunds) {
		t.Fatalf("Handle error = %v, want %v", err, errInsufficientFunds)
	}
	if got := counter(t, pool); got != 0 {
		t.Errorf("counter = %d after a failed effect, want 0", got)
	}

	duplicate, err := handle(ctx, pool, "payments", "event-1", increment(ctx))
	if err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	if duplicate {
		t.Error("redelivery after a failure was reported as a duplicate")
	}
	if got := counter(t, pool); got != 1 {
		t.Errorf("counter = %d after the redelivery, want 1", got)
	}
}

func TestProcessWaitsForConcurrentDelivery(t *testing.T) {
	pool := openDB(t)
	ctx := t.Context()

	// The first delivery records the event but has not committed yet.
	tx1, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx1.Rollback(ctx) }()
	if first, err := inbox.Process(ctx, tx1, "payments", "event-1"); err != nil || !first {
		t.Fatalf("Process in tx1 = %v, %v; want true, nil", first, err)
	}

	// The second delivery must wait to learn whether the first one commits.
	type result struct {
		first bool
		err   error
	}
	second := make(chan result, 1)
	go func() {
		duplicate, err := handle(ctx, pool, "payments", "event-1", increment(ctx))
		second <- result{first: !duplicate, err: err}
	}()
	waitForLockWait(t, pool)

	// The first delivery fails: the second one must apply the event.
	if err := tx1.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-second:
		if r.err != nil || !r.first {
			t.Errorf("second delivery: first = %v, err = %v; want true, nil", r.first, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second delivery still blocked after the first rolled back")
	}
	if got := counter(t, pool); got != 1 {
		t.Errorf("counter = %d, want 1", got)
	}
}

// waitForLockWait polls until some session of the test database waits for a lock.
func waitForLockWait(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		var waiting int
		err := pool.QueryRow(t.Context(), `
			SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no session started waiting for a lock")
}

func TestProcessRejectsEventWithoutID(t *testing.T) {
	pool := openDB(t)
	ctx := t.Context()
	err := postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
		_, err := inbox.Process(ctx, tx, "payments", "")
		return err
	})
	if !errors.Is(err, inbox.ErrNoEventID) {
		t.Errorf("Process error = %v, want %v", err, inbox.ErrNoEventID)
	}
}

// TestDuplicateIsMarkedOnTheSpan checks the trace tells a skipped duplicate from a first
// delivery: the span of the second delivery carries the duplicate attribute, the first does not.
func TestDuplicateIsMarkedOnTheSpan(t *testing.T) {
	pool := openDB(t)
	spans := tracetest.NewInMemoryExporter()
	tracer := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans)).Tracer("test")
	for _, delivery := range []string{"first", "second"} {
		ctx, span := tracer.Start(t.Context(), delivery)
		if _, err := handle(ctx, pool, "c", "event-1", func(pgx.Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
		span.End()
	}
	marked := map[string]bool{}
	for _, s := range spans.GetSpans() {
		for _, a := range s.Attributes {
			if a.Key == inbox.DuplicateAttribute && a.Value.AsBool() {
				marked[s.Name] = true
			}
		}
	}
	if marked["first"] || !marked["second"] {
		t.Errorf("duplicate marks = %v, want only the second delivery marked", marked)
	}
}

// TestPrunerForgetsOnlyExpiredEvents ages some processed events past the retention: Prune must
// delete exactly those, and a recent event must still be recognised as a duplicate.
func TestPrunerForgetsOnlyExpiredEvents(t *testing.T) {
	pool := openDB(t)
	ctx := t.Context()
	apply := func(id string) bool {
		dup, err := handle(ctx, pool, "svc", id, func(pgx.Tx) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		return dup
	}
	for i := range 3 {
		apply(fmt.Sprint("old-", i))
	}
	apply("recent")
	if _, err := pool.Exec(ctx, `UPDATE processed_events SET processed_at = now() - interval '9 days' WHERE event_id LIKE 'old-%'`); err != nil {
		t.Fatal(err)
	}

	pruner, err := inbox.NewPruner(pool, 0, 0, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	deleted, err := pruner.Prune(ctx)
	if err != nil || deleted != 3 {
		t.Fatalf("Prune = %d, %v; want the 3 events older than the retention", deleted, err)
	}
	if !apply("recent") {
		t.Error("a recent event was forgotten by Prune")
	}
	if deleted, _ := pruner.Prune(ctx); deleted != 0 {
		t.Errorf("second Prune deleted %d, want 0", deleted)
	}
}
