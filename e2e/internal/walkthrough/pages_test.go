package walkthrough

import (
	"path/filepath"
	"testing"
)

// TestPagesParse reads the real pages without Docker: a malformed claim or an unclosed block fails
// here, in seconds, before the compose suite would find it.
func TestPagesParse(t *testing.T) {
	pages, err := LoadDir(filepath.Join("..", "..", "..", "docs", "walkthroughs"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) == 0 {
		t.Fatal("no pages found")
	}
	for _, p := range pages {
		var shells, claims int
		for _, b := range p.Blocks {
			if b.Kind == Shell {
				shells++
			}
			claims += len(b.Claims)
		}
		if shells == 0 || claims == 0 {
			t.Errorf("%s: %d sh blocks and %d claims; every page needs both", p.Name, shells, claims)
		}
		t.Logf("%s: %d blocks, %d sh, %d claims", p.Name, len(p.Blocks), shells, claims)
	}
}
