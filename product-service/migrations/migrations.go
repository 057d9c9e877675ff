// Package migrations holds product-service's database schema as SQL files embedded in the
// binary, so the service brings its own schema up to date at start-up (see postgres.Migrate).
package migrations

import (
	"embed"

	"github.com/tracecart/tracecart/shared/postgres"
)

//go:embed *.sql
var files embed.FS

// Set is product-service's own migration set; run it with outbox.Migrations and
// inbox.Migrations.
var Set = postgres.MigrationSet{Name: "product-service", FS: files}
