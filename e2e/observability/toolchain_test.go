package observability

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tracecart/tracecart/shared/testinfra"
)

// TestGoBuilderMatchesToolchain keeps the upstream Go builder image on the exact toolchain the
// workspace requires (go.work's `go` line): infra/images.env and every Dockerfile's default for
// GO_BUILDER_IMAGE. A floating tag (golang:1.26) would build the release images with whichever
// patch release the registry has that day.
func TestGoBuilderMatchesToolchain(t *testing.T) {
	root, err := testinfra.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	work, err := os.ReadFile(filepath.Join(root, "go.work"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(work)
	if m == nil {
		t.Fatal("go.work has no go line")
	}
	want := "golang:" + string(m[1]) + "-bookworm"

	images, err := os.ReadFile(filepath.Join(root, "infra", "images.env"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(images), "\nGO_BUILDER_IMAGE="+want+"\n") {
		t.Errorf("infra/images.env: GO_BUILDER_IMAGE is not %s", want)
	}
	dockerfiles, err := filepath.Glob(filepath.Join(root, "*", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	dockerfiles = append(dockerfiles, filepath.Join(root, "shared/cmd/tracecart-dlq/Dockerfile"), filepath.Join(root, "infra/traffic/Dockerfile"))
	arg := regexp.MustCompile(`(?m)^ARG GO_BUILDER_IMAGE=(\S+)$`)
	for _, path := range dockerfiles {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, path)
		m := arg.FindSubmatch(raw)
		switch {
		case m == nil:
			t.Errorf("%s: no ARG GO_BUILDER_IMAGE default", rel)
		case string(m[1]) != want:
			t.Errorf("%s: ARG GO_BUILDER_IMAGE=%s, want %s (go.work's toolchain)", rel, m[1], want)
		}
	}
	if len(dockerfiles) < 6 {
		t.Errorf("found only %d Dockerfiles", len(dockerfiles))
	}
}
