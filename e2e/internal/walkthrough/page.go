// Package walkthrough reads the pages of docs/walkthroughs and checks them against a running
// demo: it runs each page's `sh` blocks and holds each `expect` claim to what Prometheus, Jaeger,
// the gateway and the containers' logs really show. docs/walkthroughs/README.md is the format's
// reference for authors; this package is its only implementation.
//
// The Markdown is parsed here by a small fence reader on purpose: the pages only need fenced code
// blocks with an info string, and a Markdown library would be a dependency for ten lines of code.
package walkthrough

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Page is one walkthrough: its file name and its executable blocks, in page order.
type Page struct {
	Name   string // file name without .md, e.g. 01-one-order-one-trace
	Path   string // the file, as read
	Blocks []Block
}

// BlockKind says what the runner does with a block.
type BlockKind int

const (
	// Shell is an `sh` block: run with bash -eo pipefail from the repository root.
	Shell BlockKind = iota
	// ShellNoRun is an `sh norun` block: shown to the reader, not run.
	ShellNoRun
	// Expect is an `expect` block: one claim per line.
	Expect
)

// Block is one fenced code block the runner cares about.
type Block struct {
	Kind   BlockKind
	Line   int    // the line of the opening fence, 1-based
	Text   string // the block's content (the script, or the claim lines)
	Claims []Claim
}

// LoadDir reads every NN-*.md page of dir (the README is the format's reference, not a page), in
// name order, which is the order a reader follows them.
func LoadDir(dir string) ([]Page, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "[0-9][0-9]-*.md"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	var pages []Page
	for _, path := range paths {
		src, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		page, err := Parse(path, string(src))
		if err != nil {
			return nil, err
		}
		pages = append(pages, page)
	}
	return pages, nil
}

// Parse reads a page's fenced code blocks. A fence is a line of three or more backticks or
// tildes, indented by at most three spaces; it closes at a line of the same character at least as
// long with nothing after it (CommonMark's rule). Blocks with another info string (```go, ```json
// or none) are prose to the runner. An unclosed block, an unknown `sh` option or a claim that
// does not parse is an error naming the line.
func Parse(path, src string) (Page, error) {
	page := Page{Name: strings.TrimSuffix(filepath.Base(path), ".md"), Path: path}
	lines := strings.Split(strings.ReplaceAll(src, "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		fence, info, ok := openingFence(lines[i])
		if !ok {
			continue
		}
		start := i + 1 // 1-based line of the opening fence
		var body []string
		closed := false
		for i++; i < len(lines); i++ {
			if closesFence(lines[i], fence) {
				closed = true
				break
			}
			body = append(body, lines[i])
		}
		if !closed {
			return page, fmt.Errorf("%s:%d: code block is never closed", path, start)
		}
		block, keep, err := newBlock(path, start, info, body)
		if err != nil {
			return page, err
		}
		if keep {
			page.Blocks = append(page.Blocks, block)
		}
	}
	return page, nil
}

// newBlock turns a fenced block into a runner block; keep is false for blocks the runner ignores.
func newBlock(path string, line int, info string, body []string) (Block, bool, error) {
	words := strings.Fields(info)
	if len(words) == 0 {
		return Block{}, false, nil
	}
	b := Block{Line: line, Text: strings.Join(body, "\n")}
	switch words[0] {
	case "sh":
		switch {
		case len(words) == 1:
			b.Kind = Shell
		case len(words) == 2 && words[1] == "norun":
			b.Kind = ShellNoRun
		default:
			return b, false, fmt.Errorf("%s:%d: unknown sh option %q (only `sh` and `sh norun`)", path, line, strings.Join(words[1:], " "))
		}
	case "expect":
		b.Kind = Expect
		for j, text := range body {
			text = strings.TrimSpace(text)
			if text == "" || strings.HasPrefix(text, "#") {
				continue
			}
			claim, err := ParseClaim(text)
			if err != nil {
				return b, false, fmt.Errorf("%s:%d: %v", path, line+1+j, err)
			}
			claim.Line = line + 1 + j
			b.Claims = append(b.Claims, claim)
		}
	default:
		return b, false, nil
	}
	return b, true, nil
}

// openingFence recognises an opening fence and returns the fence itself and the info string.
func openingFence(line string) (fence, info string, ok bool) {
	trimmed := strings.TrimLeft(line, " ")
	if len(line)-len(trimmed) > 3 || len(trimmed) < 3 {
		return "", "", false
	}
	c := trimmed[0]
	if c != '`' && c != '~' {
		return "", "", false
	}
	n := 0
	for n < len(trimmed) && trimmed[n] == c {
		n++
	}
	if n < 3 {
		return "", "", false
	}
	info = strings.TrimSpace(trimmed[n:])
	if c == '`' && strings.Contains(info, "`") {
		return "", "", false // CommonMark: a backtick fence's info string has no backtick
	}
	return trimmed[:n], info, true
}

// closesFence reports whether line closes a block opened by fence.
func closesFence(line, fence string) bool {
	trimmed := strings.TrimLeft(line, " ")
	if len(line)-len(trimmed) > 3 {
		return false
	}
	trimmed = strings.TrimRight(trimmed, " \t")
	if len(trimmed) < len(fence) {
		return false
	}
	return strings.Trim(trimmed, fence[:1]) == ""
}
