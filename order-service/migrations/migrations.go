// Package migrations holds order-service's database schema as SQL files embedded in the binary,
// applied at start-up by postgres.Migrate next to the outbox's and the inbox's.
package migrations

import (
	"embed"

	"github.com/tracecart/tracecart/shared/postgres"
)

//go:embed *.sql
var files embed.FS

// Set is order-service's own migration set. Its name is recorded in schema_migrations: never
// rename it.
var Set = postgres.MigrationSet{Name: "order-service", FS: files}
