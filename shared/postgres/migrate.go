package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrDuplicateMigration means two files of one MigrationSet have the same name in different
// folders, so the version each would be recorded under is ambiguous.
var ErrDuplicateMigration = errors.New("duplicate migration")

// MigrationSet is a named, ordered group of SQL files that one owner (a service, or a shared
// package such as outbox) keeps in its binary with go:embed. Sets are recorded separately, so a
// service's 001_init.sql and the outbox's 001_init.sql do not collide.
type MigrationSet struct {
	// Name identifies the set in schema_migrations; never rename it once it has been applied.
	Name string
	// FS holds the set's files. Every file whose name ends in ".sql" is a migration, wherever it
	// is in FS, so an embed.FS from `//go:embed migrations/*.sql` can be passed as it is.
	FS fs.FS
}

// migration is one file of a set: its version is the file name without ".sql" (e.g. "001_init").
type migration struct {
	version string
	path    string
}

// Migrate brings the database schema up to date by applying, set after set, each migration that
// has not been applied yet, in the lexical order of its file name (so name them 001_..., 002_...).
//
// Each file runs in its own transaction together with its row in schema_migrations(set_name,
// version), so a failing file leaves no half-applied schema behind and is retried on the next
// start. The transaction first takes a transaction-scoped advisory lock: when several instances of
// a service start at once, they apply each file one after the other, and all but the first find it
// already recorded. Migrations only ever go forward; to undo one, write the next.
func Migrate(ctx context.Context, pool *pgxpool.Pool, sets ...MigrationSet) error {
	for _, set := range sets {
		migrations, err := listMigrations(set.FS)
		if err != nil {
			return fmt.Errorf("read migration set %q: %w", set.Name, err)
		}
		for _, m := range migrations {
			if err := apply(ctx, pool, set, m); err != nil {
				return fmt.Errorf("migration %s/%s: %w", set.Name, m.version, err)
			}
		}
	}
	return nil
}

// listMigrations finds the .sql files of fsys and orders them by version.
func listMigrations(fsys fs.FS) ([]migration, error) {
	var migrations []migration
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || path.Ext(p) != ".sql" {
			return nil
		}
		migrations = append(migrations, migration{version: strings.TrimSuffix(d.Name(), ".sql"), path: p})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(migrations, func(a, b migration) int { return strings.Compare(a.version, b.version) })
	for i := 1; i < len(migrations); i++ {
		if migrations[i].version == migrations[i-1].version {
			return nil, fmt.Errorf("%w: %s and %s", ErrDuplicateMigration, migrations[i-1].path, migrations[i].path)
		}
	}
	return migrations, nil
}

// The advisory lock key is derived from a name rather than picked as a magic number, so that
// anyone looking at pg_locks can find out whose lock it is.
const (
	lockMigrations = `SELECT pg_advisory_xact_lock(hashtext('tracecart.schema_migrations'))`

	createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
		set_name   text        NOT NULL,
		version    text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now(),
		PRIMARY KEY (set_name, version)
	)`
)

// apply runs one migration unless schema_migrations says it has run already.
func apply(ctx context.Context, pool *pgxpool.Pool, set MigrationSet, m migration) error {
	script, err := fs.ReadFile(set.FS, m.path)
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	return InTx(ctx, pool, func(tx pgx.Tx) error {
		// The lock comes before CREATE TABLE IF NOT EXISTS because even that statement fails when
		// two sessions run it at the same moment.
		if _, err := tx.Exec(ctx, lockMigrations); err != nil {
			return fmt.Errorf("lock schema_migrations: %w", err)
		}
		if _, err := tx.Exec(ctx, createMigrationsTable); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		var applied bool
		err := tx.QueryRow(ctx,
			`SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE set_name = $1 AND version = $2)`,
			set.Name, m.version,
		).Scan(&applied)
		if err != nil {
			return fmt.Errorf("check schema_migrations: %w", err)
		}
		if applied {
			return nil
		}
		// Without arguments pgx sends the script over the simple query protocol, which allows a
		// file to hold several statements.
		if _, err := tx.Exec(ctx, string(script)); err != nil {
			return fmt.Errorf("apply: %w", err)
		}
		if _, err := tx.Exec(ctx,
			`INSERT INTO schema_migrations (set_name, version) VALUES ($1, $2)`, set.Name, m.version,
		); err != nil {
			return fmt.Errorf("record in schema_migrations: %w", err)
		}
		return nil
	})
}
