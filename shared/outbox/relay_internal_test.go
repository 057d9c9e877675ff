package outbox

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tracecart/tracecart/shared/postgres"
	"github.com/tracecart/tracecart/shared/testinfra"
)

// TestMarkPublishedUsesTheIndex: marking a batch published must find its rows through the
// partial index of unpublished rows, not by scanning a table that holds an hour of published
// rows (the relay's costliest statement under load until it said "published_at IS NULL").
func TestMarkPublishedUsesTheIndex(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	pool, err := postgres.Open(ctx, testinfra.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := postgres.Migrate(ctx, pool, Migrations); err != nil {
		t.Fatal(err)
	}
	// An hour of a busy shop: many published rows, a few waiting.
	if _, err := pool.Exec(ctx, `
		INSERT INTO outbox (id, topic, key, payload, published_at)
		SELECT gen_random_uuid(), 'orders', 'k' || (i % 500), '', CASE WHEN i > 19990 THEN NULL ELSE now() END
		FROM generate_series(1, 20000) AS i`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE outbox`); err != nil {
		t.Fatal(err)
	}

	rows, err := pool.Query(ctx, `EXPLAIN `+markPublished, []int64{19995, 19996})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(lines, "\n")
	if !strings.Contains(got, "outbox_unpublished") || strings.Contains(got, "Seq Scan") {
		t.Errorf("marking rows published does not use the index of unpublished rows:\n%s", got)
	}
}
