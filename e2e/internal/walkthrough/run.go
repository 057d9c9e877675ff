package walkthrough

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Runner executes pages against a running demo.
type Runner struct {
	Checker *Checker
	Root    string   // the repository root: every sh block runs there
	Env     []string // added to the sh blocks' environment (e.g. COMPOSE_PROJECT_NAME)
	// BlockTimeout bounds one sh block (a block that hangs fails its page).
	BlockTimeout time.Duration
	// Skip, when set, may say why an sh block is not run (e.g. the command that starts the demo,
	// which the suite ran once for all pages); "" runs it.
	Skip func(Block) string
}

// RunPage runs one page as a subtest: its blocks in page order, sh blocks with bash, each claim
// of an expect block retried until it holds or its deadline passes. The first block or claim that
// fails ends the page; the page's last sh block, which switches its scenario off (the format's
// rule), then runs anyway, so that a failed page does not leave the next pages a broken demo.
func (r *Runner) RunPage(t *testing.T, page Page) {
	t.Run(page.Name, func(t *testing.T) {
		lastShell := -1
		for i, b := range page.Blocks {
			if b.Kind == Shell {
				lastShell = i
			}
		}
		for i, b := range page.Blocks {
			var failed bool
			switch b.Kind {
			case Shell:
				failed = !r.runShell(t, page, b)
			case Expect:
				failed = !r.checkClaims(t, page, b)
			}
			if failed {
				if lastShell > i {
					t.Logf("%s.md: running its last sh block (line %d) to restore the demo", page.Name, page.Blocks[lastShell].Line)
					r.runShell(t, page, page.Blocks[lastShell])
				}
				return
			}
		}
	})
}

// runShell runs an sh block; it reports the failure itself and returns false.
func (r *Runner) runShell(t *testing.T, page Page, b Block) bool {
	t.Helper()
	if r.Skip != nil {
		if why := r.Skip(b); why != "" {
			t.Logf("%s:%d: sh block not run: %s", page.Name, b.Line, why)
			return true
		}
	}
	timeout := r.BlockTimeout
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-eo", "pipefail", "-c", b.Text)
	cmd.Dir = r.Root
	cmd.Env = append(os.Environ(), r.Env...)
	started := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("%s:%d: the sh block failed after %s: %v\n--- block ---\n%s\n--- output ---\n%s",
			page.Path, b.Line, time.Since(started).Round(time.Millisecond), err, b.Text, lastLines(string(out), 40))
		return false
	}
	t.Logf("%s:%d: sh block ran in %s: %s", page.Name, b.Line, time.Since(started).Round(time.Millisecond), strings.TrimSpace(lastLines(string(out), 5)))
	return true
}

// checkClaims checks an expect block's claims in order; it reports the first that does not hold
// and returns false.
func (r *Runner) checkClaims(t *testing.T, page Page, b Block) bool {
	t.Helper()
	for _, c := range b.Claims {
		started := time.Now()
		if err := r.Checker.Eventually(t.Context(), page.Name, c); err != nil {
			t.Errorf("%s:%d: claim does not hold after %s: %s\nfound instead: %v", page.Path, c.Line, c.Within, c.Text, err)
			return false
		}
		t.Logf("%s:%d: holds after %s: %s", page.Name, c.Line, time.Since(started).Round(time.Millisecond), c.Text)
	}
	return true
}
