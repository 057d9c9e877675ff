package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tracecart/tracecart/product-service/internal/adapters/httpapi"
	"github.com/tracecart/tracecart/product-service/internal/domain/catalog"
	"github.com/tracecart/tracecart/shared/featureflag"
	"github.com/tracecart/tracecart/shared/testinfra"
)

// scenarioFlags opens a flag file of the read faults' flags, all off, and returns the flags and
// a function that switches one on (or every one off, with "") the way `make scenario` does:
// a new file renamed over the old one.
func scenarioFlags(t *testing.T) (*featureflag.Flags, func(on string)) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "demo.flagd.json")
	writes := 0
	set := func(on string) {
		t.Helper()
		doc := `{"flags": {`
		for i, key := range []string{httpapi.FlagSlow, httpapi.FlagFailure} {
			variant := "off"
			if key == on {
				variant = "on"
			}
			if i > 0 {
				doc += ","
			}
			doc += fmt.Sprintf(`%q: {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": %q}`, key, variant)
		}
		doc += `}}`
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		// A distinct modification time per write, so the watcher sees every change.
		writes++
		stamp := time.Unix(1_700_000_000+int64(writes), 0)
		if err := os.Chtimes(tmp, stamp, stamp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	set("")
	flags, err := featureflag.Open(t.Context(), path, slog.New(slog.NewTextHandler(io.Discard, nil)),
		featureflag.WithPollInterval(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { flags.Close(context.Background()) })
	return flags, set
}

// flagEvents returns the keys of the feature_flag.evaluation events on the ended spans named
// name.
func flagEvents(spans []sdktrace.ReadOnlySpan, name string) []string {
	var keys []string
	for _, s := range spans {
		if s.Name() != name {
			continue
		}
		for _, e := range s.Events() {
			if e.Name != "feature_flag.evaluation" {
				continue
			}
			for _, kv := range e.Attributes {
				if kv.Key == "feature_flag.key" {
					keys = append(keys, kv.Value.AsString())
				}
			}
		}
	}
	return keys
}

// TestFailureFaultAnswers500WhileOnAndNothingOnceOff reads a product through the real router
// and database while productCatalogFailure is off, on, and off again.
func TestFailureFaultAnswers500WhileOnAndNothingOnceOff(t *testing.T) {
	flags, set := scenarioFlags(t)
	spans := tracetest.NewSpanRecorder()
	a := newAPIWith(t, flags, sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)))
	path := "/products/" + catalog.TracingMugID.String()

	decode[productJSON](t, a.do(t, http.MethodGet, path, "", ""), http.StatusOK)
	if keys := flagEvents(spans.Ended(), "GET /products/{id}"); len(keys) != 0 {
		t.Errorf("a read with every flag off carries flag events %v", keys)
	}

	set(httpapi.FlagFailure)
	testinfra.WaitFor(t, 5*time.Second, "reads to fail", func() error {
		if r := a.do(t, http.MethodGet, path, "", ""); r.status != http.StatusInternalServerError {
			return fmt.Errorf("status %d", r.status)
		}
		return nil
	})
	wantProblem(t, a.do(t, http.MethodGet, "/products", "", ""), http.StatusInternalServerError)
	if keys := flagEvents(spans.Ended(), "GET /products/{id}"); len(keys) == 0 || keys[len(keys)-1] != httpapi.FlagFailure {
		t.Errorf("the failed read's server span carries flag events %v, want %s", keys, httpapi.FlagFailure)
	}
	// Writes are not reads: an admin's change goes through.
	decode[productJSON](t, a.do(t, http.MethodPost, path+"/stock-adjustments", a.adminToken(t), `{"delta": 1}`), http.StatusOK)

	set("")
	testinfra.WaitFor(t, 5*time.Second, "reads to succeed again", func() error {
		if r := a.do(t, http.MethodGet, path, "", ""); r.status != http.StatusOK {
			return fmt.Errorf("status %d", r.status)
		}
		return nil
	})
}

// TestSlowFaultDelaysReadsWhileOn checks the slowness through the real router: with the flag on
// a read takes at least the smallest delay the fault draws (50 ms), and its span says why.
// (Only a lower bound is checked: how fast the machine is never fails the test.)
func TestSlowFaultDelaysReadsWhileOn(t *testing.T) {
	flags, set := scenarioFlags(t)
	spans := tracetest.NewSpanRecorder()
	a := newAPIWith(t, flags, sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)))
	path := "/products/" + catalog.SpanSocksID.String()

	set(httpapi.FlagSlow)
	testinfra.WaitFor(t, 5*time.Second, "the slow flag to be read", func() error {
		start := time.Now()
		decode[productJSON](t, a.do(t, http.MethodGet, path, "", ""), http.StatusOK)
		if took := time.Since(start); took < 50*time.Millisecond {
			return fmt.Errorf("a read took %s", took)
		}
		return nil
	})
	keys := flagEvents(spans.Ended(), "GET /products/{id}")
	if len(keys) == 0 || keys[len(keys)-1] != httpapi.FlagSlow {
		t.Errorf("the slow read's server span carries flag events %v, want %s", keys, httpapi.FlagSlow)
	}
	set("")
	testinfra.WaitFor(t, 5*time.Second, "the slow flag to be off", func() error {
		if flags.Bool(t.Context(), httpapi.FlagSlow) {
			return errors.New("still on")
		}
		return nil
	})
	before := len(spans.Ended())
	decode[productJSON](t, a.do(t, http.MethodGet, path, "", ""), http.StatusOK)
	if keys := flagEvents(spans.Ended()[before:], "GET /products/{id}"); len(keys) != 0 {
		t.Errorf("a read after the flag went off carries flag events %v", keys)
	}
}
