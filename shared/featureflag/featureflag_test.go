package featureflag_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tracecart/tracecart/shared/featureflag"
	"github.com/tracecart/tracecart/shared/testinfra"
)

const allOff = `{
  "$schema": "https://flagd.dev/schema/v0/flags.json",
  "flags": {
    "slow": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off"},
    "share": {"state": "ENABLED", "variants": {"off": 0, "quarter": 0.25}, "defaultVariant": "off"},
    "gone": {"state": "DISABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}
  }
}`

const slowOn = `{
  "flags": {
    "slow": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"},
    "share": {"state": "ENABLED", "variants": {"off": 0, "quarter": 0.25}, "defaultVariant": "quarter"},
    "gone": {"state": "DISABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}
  }
}`

// writeFlags replaces the file the way the scenario command does: a new file renamed over the
// old one, with a modification time that differs from the last write's even on a file system
// with coarse timestamps.
func writeFlags(t *testing.T, path, content string, age time.Duration) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	stamp := time.Now().Add(-age)
	if err := os.Chtimes(tmp, stamp, stamp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func open(t *testing.T, content string) (*featureflag.Flags, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "flags.json")
	writeFlags(t, path, content, time.Hour)
	flags, err := featureflag.Open(t.Context(), path, slog.New(slog.NewTextHandler(io.Discard, nil)),
		featureflag.WithPollInterval(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { flags.Close(context.Background()) })
	return flags, path
}

// spanned evaluates fn inside a recording span and returns that span's events.
func spanned(t *testing.T, fn func(ctx context.Context)) []sdktrace.Event {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	ctx, span := tp.Tracer("test").Start(t.Context(), "work")
	fn(ctx)
	span.End()
	return rec.Ended()[0].Events()
}

func TestOffFlagsChangeNothingAndLeaveNoEvent(t *testing.T) {
	flags, _ := open(t, allOff)
	events := spanned(t, func(ctx context.Context) {
		if flags.Bool(ctx, "slow") {
			t.Error("slow is on in a file where it is off")
		}
		if got := flags.Float(ctx, "share", -1); got != 0 {
			t.Errorf("share = %v, want 0 (its off variant)", got)
		}
		if flags.Bool(ctx, "gone") {
			t.Error("a DISABLED flag evaluated to its variant instead of the default")
		}
	})
	if len(events) != 0 {
		t.Errorf("evaluations that changed nothing left %d span events: %v", len(events), events)
	}
}

func TestAChangedFileIsPickedUpAndRecordedOnTheSpan(t *testing.T) {
	flags, path := open(t, allOff)
	writeFlags(t, path, slowOn, 0)
	testinfra.WaitFor(t, 5*time.Second, "the changed flag file to be read", func() error {
		if !flags.Bool(t.Context(), "slow") {
			return errors.New("slow is still off")
		}
		return nil
	})
	events := spanned(t, func(ctx context.Context) {
		if got := flags.Float(ctx, "share", -1); got != 0.25 {
			t.Errorf("share = %v, want 0.25", got)
		}
	})
	if len(events) != 1 || events[0].Name != "feature_flag.evaluation" {
		t.Fatalf("events = %v, want one feature_flag.evaluation", events)
	}
	attrs := map[string]string{}
	for _, kv := range events[0].Attributes {
		attrs[string(kv.Key)] = kv.Value.Emit()
	}
	for k, want := range map[string]string{
		"feature_flag.key": "share", "feature_flag.result.variant": "quarter", "feature_flag.provider.name": featureflag.ProviderName,
	} {
		if attrs[k] != want {
			t.Errorf("event attribute %s = %q, want %q (all: %v)", k, attrs[k], want, attrs)
		}
	}
}

func TestABrokenFileKeepsTheFlagsInForce(t *testing.T) {
	flags, path := open(t, slowOn)
	writeFlags(t, path, `{"flags": {"slow": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "of`, 0)
	// The watcher polls every 10 ms; give it many chances to (wrongly) drop the flags.
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		if !flags.Bool(t.Context(), "slow") {
			t.Fatal("a half-written file switched the flag off")
		}
		time.Sleep(10 * time.Millisecond)
	}
	writeFlags(t, path, allOff, 0)
	testinfra.WaitFor(t, 5*time.Second, "the repaired file to be read", func() error {
		if flags.Bool(t.Context(), "slow") {
			return errors.New("slow is still on")
		}
		return nil
	})
}

func TestWrongTypeOrUnknownFlagGivesTheDefaultAndAnErrorEvent(t *testing.T) {
	flags, _ := open(t, slowOn)
	events := spanned(t, func(ctx context.Context) {
		if got := flags.Float(ctx, "slow", 7); got != 7 {
			t.Errorf("a boolean flag read as a number = %v, want the default 7", got)
		}
		if got := flags.String(ctx, "nobody", "dflt"); got != "dflt" {
			t.Errorf("an unknown flag = %q, want the default", got)
		}
	})
	if len(events) != 2 {
		t.Fatalf("events = %v, want an error event per failed evaluation", events)
	}
	for _, e := range events {
		found := false
		for _, kv := range e.Attributes {
			if kv.Key == "error.type" {
				found = true
			}
		}
		if !found {
			t.Errorf("event %v has no error.type", e.Attributes)
		}
	}
}

func TestOpenRefusesAMissingOrInvalidFile(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := featureflag.Open(t.Context(), filepath.Join(dir, "absent.json"), log); err == nil {
		t.Error("Open of a missing file succeeded")
	}
	for name, content := range map[string]string{
		"bad state":       `{"flags": {"a": {"state": "ON", "variants": {"off": false}, "defaultVariant": "off"}}}`,
		"unknown default": `{"flags": {"a": {"state": "ENABLED", "variants": {"off": false}, "defaultVariant": "on"}}}`,
		"not json":        `flags: {}`,
	} {
		path := filepath.Join(dir, fmt.Sprintf("%x.json", name))
		writeFlags(t, path, content, 0)
		if _, err := featureflag.Open(t.Context(), path, log); err == nil {
			t.Errorf("%s: Open succeeded", name)
		}
	}
}

func TestNoFileMeansEveryFlagAtItsDefault(t *testing.T) {
	flags, err := featureflag.Open(t.Context(), "", nil)
	if err != nil || flags != nil {
		t.Fatalf("Open(\"\") = %v, %v; want nil, nil", flags, err)
	}
	if flags.Bool(t.Context(), "slow") || flags.Float(t.Context(), "share", 3) != 3 || flags.String(t.Context(), "s", "d") != "d" {
		t.Error("nil Flags did not give the defaults")
	}
	if err := flags.Close(t.Context()); err != nil {
		t.Error(err)
	}
}
