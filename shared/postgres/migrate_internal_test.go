package postgres

import (
	"errors"
	"slices"
	"testing"
	"testing/fstest"
)

func TestListMigrations(t *testing.T) {
	sql := &fstest.MapFile{Data: []byte("SELECT 1;")}
	tests := []struct {
		name    string
		fsys    fstest.MapFS
		want    []string // paths, in the order they must be applied
		wantErr error
	}{
		{
			name: "lexical order of file names",
			fsys: fstest.MapFS{"010_c.sql": sql, "001_a.sql": sql, "002_b.sql": sql},
			want: []string{"001_a.sql", "002_b.sql", "010_c.sql"},
		},
		{
			name: "embedded folder is walked and other files are ignored",
			fsys: fstest.MapFS{"migrations/002_b.sql": sql, "migrations/001_a.sql": sql, "migrations/README.md": sql},
			want: []string{"migrations/001_a.sql", "migrations/002_b.sql"},
		},
		{
			name: "empty set",
			fsys: fstest.MapFS{},
			want: nil,
		},
		{
			name:    "same version in two folders",
			fsys:    fstest.MapFS{"a/001_init.sql": sql, "b/001_init.sql": sql},
			wantErr: ErrDuplicateMigration,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := listMigrations(tt.fsys)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("listMigrations() error = %v, want %v", err, tt.wantErr)
			}
			var paths []string
			for _, m := range got {
				paths = append(paths, m.path)
			}
			if !slices.Equal(paths, tt.want) {
				t.Errorf("listMigrations() = %v, want %v", paths, tt.want)
			}
		})
	}
}
