package main

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tracecart/tracecart/shared/featureflag"
)

const repoFlags = "../../../infra/flags/demo.flagd.json"

// copyRepoFlags copies the repository's flag file into a temporary directory.
func copyRepoFlags(t *testing.T) (path string, original []byte) {
	t.Helper()
	data, err := os.ReadFile(repoFlags)
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), "demo.flagd.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, data
}

// TestTheRepositoryFileHasEveryScenarioOff: the demo starts with no fault, the file parses as
// the services parse it, and it is in the layout the command writes, so switching a scenario on
// and off again leaves the checkout unchanged.
func TestTheRepositoryFileHasEveryScenarioOff(t *testing.T) {
	path, original := copyRepoFlags(t)
	f, err := load(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range scenarios {
		v, err := f.variant(s.Flag)
		if err != nil {
			t.Fatal(err)
		}
		if v != "off" {
			t.Errorf("%s (%s) is %q in the repository's file; every scenario starts off", s.Name, s.Flag, v)
		}
	}
	flags, err := featureflag.Open(t.Context(), path, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("the services would refuse the file: %v", err)
	}
	flags.Close(t.Context())
	for _, s := range scenarios {
		if err := run([]string{s.Name, "on"}, path, io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	if err := run([]string{"all", "off"}, path, io.Discard); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, original) {
		t.Errorf("on then off changed the file; rewrite infra/flags/demo.flagd.json with `tracecart-scenario all off`:\n%s", after)
	}
}

func TestOnSetsTheScenariosVariantAndOnlyIt(t *testing.T) {
	path, _ := copyRepoFlags(t)
	var out strings.Builder
	if err := run([]string{"payment-declines", "on"}, path, &out); err != nil {
		t.Fatal(err)
	}
	f, err := load(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range scenarios {
		want := "off"
		if s.Name == "payment-declines" {
			want = "quarter"
		}
		if v, _ := f.variant(s.Flag); v != want {
			t.Errorf("%s = %q, want %q", s.Flag, v, want)
		}
	}
	var listed strings.Builder
	if err := run([]string{"list"}, path, &listed); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(listed.String(), "ON (quarter)") {
		t.Errorf("list does not show the scenario on:\n%s", listed.String())
	}
}

func TestBadRequestsChangeNothing(t *testing.T) {
	path, original := copyRepoFlags(t)
	for _, args := range [][]string{{"no-such", "on"}, {"all", "on"}, {"product-slow", "maybe"}, {}, {"list", "x"}} {
		if err := run(args, path, io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, original) {
		t.Error("a refused request changed the file")
	}
}
