package postgres_test

import (
	"context"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tracecart/tracecart/shared/postgres"
	"github.com/tracecart/tracecart/shared/testinfra"
)

// sqlFiles builds an in-memory migration folder from file names and their SQL.
func sqlFiles(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, sql := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(sql)}
	}
	return fsys
}

// count runs a SELECT count(*) style query and returns its result.
func count(t *testing.T, pool interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}, query string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestMigrateAppliesEachFileOnce(t *testing.T) {
	pool := openDB(t)
	shop := postgres.MigrationSet{Name: "shop", FS: sqlFiles(map[string]string{
		// 002 needs 001's table and has two statements: order and multi-statement files both count.
		"migrations/002_seed.sql":  "INSERT INTO items VALUES (1, 'cup'); INSERT INTO items VALUES (2, 'mug');",
		"migrations/001_items.sql": "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);",
	})}
	// Same version as shop's first file: sets are recorded separately.
	audit := postgres.MigrationSet{Name: "audit", FS: sqlFiles(map[string]string{
		"001_items.sql": "CREATE TABLE audit (id int PRIMARY KEY);",
	})}

	for range 2 { // the second run, like every restart of a service, must change nothing
		if err := postgres.Migrate(t.Context(), pool, shop, audit); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
	}

	if got := count(t, pool, "SELECT count(*) FROM items"); got != 2 {
		t.Errorf("items has %d rows, want 2 (seed applied once)", got)
	}
	if got := count(t, pool, "SELECT count(*) FROM audit"); got != 0 {
		t.Errorf("audit has %d rows, want 0", got)
	}
	if got := count(t, pool, "SELECT count(*) FROM schema_migrations"); got != 3 {
		t.Errorf("schema_migrations has %d rows, want 3", got)
	}
}

func TestMigrateRollsBackAFailingFile(t *testing.T) {
	pool := openDB(t)
	broken := postgres.MigrationSet{Name: "shop", FS: sqlFiles(map[string]string{
		"001_ok.sql":  "CREATE TABLE a (id int);",
		"002_bad.sql": "CREATE TABLE b (id int); SELECT no_such_column FROM a;",
	})}
	if err := postgres.Migrate(t.Context(), pool, broken); err == nil {
		t.Fatal("Migrate succeeded with a broken file")
	}
	if got := count(t, pool, "SELECT count(*) FROM pg_tables WHERE tablename = 'b'"); got != 0 {
		t.Errorf("the failing file's first statement was kept: table b exists")
	}
	if got := count(t, pool, "SELECT count(*) FROM schema_migrations WHERE set_name = 'shop'"); got != 1 {
		t.Errorf("schema_migrations has %d rows for shop, want 1 (only 001_ok)", got)
	}

	fixed := postgres.MigrationSet{Name: "shop", FS: sqlFiles(map[string]string{
		"001_ok.sql":  "CREATE TABLE a (id int);",
		"002_bad.sql": "CREATE TABLE b (id int); SELECT id FROM a;",
	})}
	if err := postgres.Migrate(t.Context(), pool, fixed); err != nil {
		t.Fatalf("Migrate after the fix: %v", err)
	}
	if got := count(t, pool, "SELECT count(*) FROM pg_tables WHERE tablename = 'b'"); got != 1 {
		t.Errorf("table b missing after the fixed file was applied")
	}
}

func TestMigrateConcurrentInstances(t *testing.T) {
	dsn := testinfra.Postgres(t)
	set := postgres.MigrationSet{Name: "shop", FS: sqlFiles(map[string]string{
		"001_counter.sql": "CREATE TABLE counter (n int); INSERT INTO counter VALUES (1);",
		"002_more.sql":    "INSERT INTO counter VALUES (2);",
	})}

	// Each instance has its own pool, as separate processes would.
	const instances = 4
	pools := make([]*pgxpool.Pool, instances)
	for i := range pools {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		pool, err := postgres.Open(ctx, dsn)
		cancel()
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(pool.Close)
		pools[i] = pool
	}

	var wg sync.WaitGroup
	errs := make([]error, instances)
	for i, pool := range pools {
		wg.Go(func() { errs[i] = postgres.Migrate(t.Context(), pool, set) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: Migrate: %v", i, err)
		}
	}
	if got := count(t, pools[0], "SELECT count(*) FROM counter"); got != 2 {
		t.Errorf("counter has %d rows, want 2 (each file applied once)", got)
	}
}
