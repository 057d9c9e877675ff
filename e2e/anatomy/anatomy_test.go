// Package anatomy checks the shape of the code itself: the rules of docs/architecture.md,
// "Inside a service", that a reader relies on and a compiler does not enforce. Each test names
// the rule it guards; when one fails, either the code drifted or the rule changed, and then the
// document changes with this file.
package anatomy

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// root is the repository root, seen from this package's directory.
const root = "../.."

var domainServices = []string{"order-service", "product-service", "user-service"}

// TestDomainServicesShareOneLayout: the same package names in the same roles in every domain
// service. Adapters beyond the three every service has are named after what they adapt.
func TestDomainServicesShareOneLayout(t *testing.T) {
	for _, svc := range domainServices {
		internal := filepath.Join(root, svc, "internal")
		if got, want := subdirs(t, internal), []string{"adapters", "app", "domain"}; !slices.Equal(got, want) {
			t.Errorf("%s/internal holds %v, want %v", svc, got, want)
		}
		adapters := subdirs(t, filepath.Join(internal, "adapters"))
		for _, want := range []string{"httpapi", "postgres", "saga"} {
			if !slices.Contains(adapters, want) {
				t.Errorf("%s/internal/adapters has no %s (it has %v)", svc, want, adapters)
			}
		}
		if len(subdirs(t, filepath.Join(internal, "domain"))) == 0 {
			t.Errorf("%s/internal/domain has no domain package", svc)
		}
	}
}

// TestUseCasesAreFilesNamedAfterThem: "where does the refund happen?" is answered by a file name.
func TestUseCasesAreFilesNamedAfterThem(t *testing.T) {
	useCases := map[string][]string{
		"order-service":   {"place_order", "cancel_order", "record_saga_outcome", "record_compensation", "sweep_timeouts", "reconcile_compensations"},
		"product-service": {"reserve_stock", "release_stock", "reconcile_reservations"},
		"user-service":    {"register", "login", "charge", "refund", "top_up", "list_users"},
	}
	for svc, names := range useCases {
		for _, name := range names {
			path := filepath.Join(root, svc, "internal", "app", name+".go")
			if _, err := os.Stat(path); err != nil {
				t.Errorf("use case %s of %s: %v", name, svc, err)
			}
		}
	}
}

// TestApplicationLayerKnowsNoInfrastructure: use cases and rules import no database, Kafka or
// outbox package; the adapters translate, the application decides.
func TestApplicationLayerKnowsNoInfrastructure(t *testing.T) {
	forbidden := []string{
		"github.com/jackc/pgx",
		"github.com/tracecart/tracecart/shared/postgres",
		"github.com/tracecart/tracecart/shared/outbox",
		"github.com/tracecart/tracecart/shared/inbox",
		"github.com/tracecart/tracecart/shared/kafka",
		"net/http",
	}
	for _, svc := range domainServices {
		for _, layer := range []string{"app", "domain"} {
			eachGoFile(t, filepath.Join(root, svc, "internal", layer), false, func(path string, f *ast.File) {
				for _, imp := range f.Imports {
					p, _ := strconv.Unquote(imp.Path.Value)
					for _, bad := range forbidden {
						if p == bad || strings.HasPrefix(p, bad+"/") {
							t.Errorf("%s imports %s", rel(path), p)
						}
					}
				}
			})
		}
	}
}

// TestServicesPassTheirTelemetry: the services hand their providers to everything they build
// (bootstrap's Telemetry); none reads the OpenTelemetry globals, whose no-op defaults would hide
// a span that goes nowhere.
func TestServicesPassTheirTelemetry(t *testing.T) {
	for _, svc := range domainServices {
		eachGoFile(t, filepath.Join(root, svc), false, func(path string, f *ast.File) {
			ast.Inspect(f, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "otel" && strings.HasPrefix(sel.Sel.Name, "Get") {
					t.Errorf("%s calls otel.%s", rel(path), sel.Sel.Name)
				}
				return true
			})
		})
	}
}

// TestRunReadsAsTheWiringDiagram: each service's run is at most 80 lines.
func TestRunReadsAsTheWiringDiagram(t *testing.T) {
	for _, svc := range append(slices.Clone(domainServices), "gateway") {
		path := filepath.Join(root, svc, "cmd", svc, "run.go")
		f := parse(t, path)
		found := false
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Name.Name == "run" && fd.Recv == nil {
				found = true
				if n := lines(fd); n > 80 {
					t.Errorf("%s: run is %d lines, the limit is 80", rel(path), n)
				}
			}
		}
		if !found {
			t.Errorf("%s has no func run", rel(path))
		}
	}
}

// TestNoLongFunctions: no function outside tests is over 60 lines, unless its doc comment says
// why ("long because ..."). Test functions are exempt: a table test is as long as its table.
func TestNoLongFunctions(t *testing.T) {
	for _, module := range []string{"shared", "gateway", "order-service", "product-service", "user-service", "e2e"} {
		eachGoFile(t, filepath.Join(root, module), false, func(path string, f *ast.File) {
			for _, d := range f.Decls {
				fd, ok := d.(*ast.FuncDecl)
				if !ok || fd.Body == nil {
					continue
				}
				if n := lines(fd); n > 60 && !strings.Contains(fd.Doc.Text(), "long because") {
					t.Errorf("%s: %s is %d lines (limit 60 without a reason in its doc comment)", rel(path), fd.Name.Name, n)
				}
			}
		})
	}
}

func subdirs(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names
}

// eachGoFile parses every Go file under dir (tests only if withTests), skipping testdata.
func eachGoFile(t *testing.T, dir string, withTests bool, fn func(path string, f *ast.File)) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && d.Name() == "testdata":
			return filepath.SkipDir
		case d.IsDir() || !strings.HasSuffix(path, ".go"):
			return nil
		case strings.HasSuffix(path, "_test.go") && !withTests:
			return nil
		}
		fn(path, parse(t, path))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

var fset = token.NewFileSet()

func parse(t *testing.T, path string) *ast.File {
	t.Helper()
	f, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func lines(fd *ast.FuncDecl) int {
	return fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1
}

func rel(path string) string {
	r, err := filepath.Rel(root, path)
	if err != nil {
		return path
	}
	return r
}
