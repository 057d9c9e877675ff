package observability

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tracecart/tracecart/e2e/internal/walkthrough"
	"github.com/tracecart/tracecart/shared/testinfra"
)

// startCommand is the command every walkthrough starts the demo with, the README's. The suite
// has just run exactly this (TestComposeStack), so a page's block that says only this is not run
// a second time.
const startCommand = "docker compose up -d --build"

// runWalkthroughs executes every page of docs/walkthroughs against the compose stack that
// TestComposeStack brought up and checked.
//
// Why here and not in a suite of its own: the pages need the compose demo on its default ports,
// and this package already builds the four service images and brings that demo up; a second
// suite would build and start a third copy of the images (e2e/system builds its own) on a
// two-core CI machine whose budget is already two-thirds spent, and could not run beside this
// one anyway, because both need ports 8080, 8500, 9090 and 16686. The pages change state (they
// switch scenarios on and off), so they run after the stack's own checks, one page at a time in
// name order, and each page ends by switching its scenario off.
//
// The sh blocks run from the repository root with the stack's COMPOSE_PROJECT_NAME (and
// COMPOSE_FILE on the stand-in route) in their environment, so a block's `docker compose ...`
// acts on this stack, as the same command would on a reader's demo.
//
// TRACECART_WALKTHROUGH_RECORD=<dir> (relative to the repository root) writes each trace
// claim's matched trace to <dir>/<page>-<line>.txt: docs/walkthroughs/output holds those.
func runWalkthroughs(t *testing.T, stack *composeStack) {
	t.Helper()
	pages, err := walkthrough.LoadDir(filepath.Join(stack.root, "docs", "walkthroughs"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) == 0 {
		t.Fatal("no walkthrough pages in docs/walkthroughs")
	}
	record := os.Getenv("TRACECART_WALKTHROUGH_RECORD")
	if record != "" && !filepath.IsAbs(record) {
		record = filepath.Join(stack.root, record)
	}
	runner := &walkthrough.Runner{
		Root: stack.root,
		Env:  stack.env,
		Checker: &walkthrough.Checker{
			Prometheus: "http://127.0.0.1:9090",
			Jaeger:     "http://127.0.0.1:16686",
			Gateway:    "http://127.0.0.1:8080",
			Password:   demoPassword,
			RecordDir:  record,
			Logs: func(ctx context.Context, service string) (string, error) {
				return stack.output(time.Minute, "logs", "--no-color", service)
			},
		},
		Skip: func(b walkthrough.Block) string {
			if strings.TrimSpace(b.Text) == startCommand {
				return "the demo is up already (TestComposeStack ran `" + startCommand + "`, or you did for TestWalkthroughsOnRunningDemo)"
			}
			return ""
		},
	}
	for _, page := range pages {
		runner.RunPage(t, page)
	}
}

// TestWalkthroughsOnRunningDemo runs the pages against a demo that is already up on the default
// ports, for authors writing a page: TRACECART_WALKTHROUGH_DEMO names its compose project (the
// root compose.yaml's is "tracecart"), e.g.
//
//	make demo    # or COMPOSE_FILE=infra/offline/compose.yaml make demo
//	cd e2e && TRACECART_WALKTHROUGH_DEMO=tracecart go test ./observability -run TestWalkthroughsOnRunningDemo -v
//
// CI does not set it: there the pages run inside TestComposeStack.
func TestWalkthroughsOnRunningDemo(t *testing.T) {
	project := os.Getenv("TRACECART_WALKTHROUGH_DEMO")
	if project == "" {
		t.Skip("set TRACECART_WALKTHROUGH_DEMO=<compose project> to run the pages on a running demo")
	}
	root, err := testinfra.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	// The running demo's own compose settings (COMPOSE_FILE) come from the caller's environment.
	runWalkthroughs(t, &composeStack{root: root, project: project, env: []string{"COMPOSE_PROJECT_NAME=" + project}})
}
