// Package migrations holds user-service's database schema as SQL files embedded in the binary,
// applied at start-up by postgres.Migrate together with the outbox and inbox tables.
package migrations

import (
	"embed"

	"github.com/tracecart/tracecart/shared/postgres"
)

//go:embed *.sql
var files embed.FS

// Set is user-service's migration set. Its name is recorded in schema_migrations: never
// rename it.
var Set = postgres.MigrationSet{Name: "user-service", FS: files}
