package shoptest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Trace is the part of Jaeger's query API answer (GET /api/traces/{id}) the suites read: enough
// to tell which service did what, under which parent, with which tags.
type Trace struct {
	Spans []struct {
		SpanID        string `json:"spanID"`
		OperationName string `json:"operationName"`
		ProcessID     string `json:"processID"`
		References    []struct {
			SpanID string `json:"spanID"`
		} `json:"references"`
		Tags []struct {
			Key   string `json:"key"`
			Value any    `json:"value"`
		} `json:"tags"`
	} `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

// FetchTrace reads one trace from Jaeger's query API at jaegerURL. Spans arrive in batches, so
// an error here usually means "not yet": callers poll it with Eventually.
func FetchTrace(ctx context.Context, jaegerURL, traceID string) (Trace, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, jaegerURL+"/api/traces/"+traceID, nil)
	if err != nil {
		return Trace{}, fmt.Errorf("fetch trace %s: %w", traceID, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Trace{}, fmt.Errorf("fetch trace %s: %w", traceID, err)
	}
	defer resp.Body.Close()
	var body struct {
		Data []Trace `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || len(body.Data) != 1 {
		return Trace{}, fmt.Errorf("trace %s not found yet (%d, %v)", traceID, resp.StatusCode, err)
	}
	return body.Data[0], nil
}

// hasTag reports whether any span of service carries the tag key with value.
func (tr Trace) hasTag(service, key, value string) bool {
	for _, span := range tr.Spans {
		if tr.Processes[span.ProcessID].ServiceName != service {
			continue
		}
		for _, tag := range span.Tags {
			if tag.Key == key && fmt.Sprint(tag.Value) == value {
				return true
			}
		}
	}
	return false
}

// SagaShape is what one order's trace must look like: who contributed which spans, and which
// span is the single root the whole tree hangs from. The suites differ in where the request
// enters (order-service directly, or the gateway), so they say it here.
type SagaShape struct {
	// Operations maps a service name to prefixes of the operation names it must have
	// contributed; the pseudo-operation "db" stands for any span with a database system tag.
	Operations map[string][]string
	// RootService and RootOperation (a prefix) name the one span whose parent is not in the
	// trace.
	RootService, RootOperation string
}

// AssertOneTrace waits until Jaeger at jaegerURL holds every span shape asks for under
// traceID, then checks that the spans form one tree whose root is the span shape names: the
// proof that context crossed every HTTP call and every Kafka hop of the saga.
func AssertOneTrace(t testing.TB, jaegerURL, traceID string, shape SagaShape) {
	t.Helper()
	var tr Trace
	Eventually(t, 30*time.Second, "the whole saga in one trace", func() (err error) {
		if tr, err = FetchTrace(t.Context(), jaegerURL, traceID); err != nil {
			return err
		}
		have := map[string][]string{}
		for _, s := range tr.Spans {
			svc := tr.Processes[s.ProcessID].ServiceName
			have[svc] = append(have[svc], s.OperationName)
			for _, tag := range s.Tags {
				if tag.Key == "db.system.name" || tag.Key == "db.system" {
					have[svc] = append(have[svc], "db")
				}
			}
		}
		var missing []string
		for svc, ops := range shape.Operations {
			for _, op := range ops {
				if !anyHasPrefix(have[svc], op) {
					missing = append(missing, svc+": "+op)
				}
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%d spans so far, missing %v", len(tr.Spans), missing)
		}
		return nil
	})

	// One tree: every span's parent is in the trace, except the root's.
	ids := map[string]bool{}
	for _, s := range tr.Spans {
		ids[s.SpanID] = true
	}
	var roots []string
	rootOK := false
	for _, s := range tr.Spans {
		if len(s.References) == 0 || !ids[s.References[0].SpanID] {
			svc := tr.Processes[s.ProcessID].ServiceName
			roots = append(roots, svc+": "+s.OperationName)
			rootOK = svc == shape.RootService && strings.HasPrefix(s.OperationName, shape.RootOperation)
		}
	}
	if len(roots) != 1 || !rootOK {
		t.Errorf("the trace of %d spans has %d roots %v, want one: %s: %s",
			len(tr.Spans), len(roots), roots, shape.RootService, shape.RootOperation)
	}
}

func anyHasPrefix(ops []string, prefix string) bool {
	for _, op := range ops {
		if strings.HasPrefix(op, prefix) {
			return true
		}
	}
	return false
}

// WaitForSpanTag waits until a span of service in the trace carries the tag key=value. The
// services mark what a plain outcome cannot show (an event the inbox dropped as a duplicate)
// on their spans, so this is how a test sees why something did not happen.
func WaitForSpanTag(t testing.TB, jaegerURL, traceID, service, key, value string) {
	t.Helper()
	Eventually(t, 15*time.Second, service+" to tag a span "+key+"="+value, func() error {
		tr, err := FetchTrace(t.Context(), jaegerURL, traceID)
		if err != nil {
			return err
		}
		if !tr.hasTag(service, key, value) {
			return fmt.Errorf("no span of %s carries %s=%s", service, key, value)
		}
		return nil
	})
}
