package shoptest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// sagaTrace builds the trace of a CONFIRMED order as the saga suite sees it: a root in
// order-service, then for every message of ConfirmedSaga a send span and, under it, a process
// span with a database span in each consumer group. skip names spans (by "service: operation
// #n") that have not reached Jaeger yet: their children are still there, as when a child's
// batch is exported before its parent's.
func sagaTrace(skip ...string) Trace {
	tr := Trace{Processes: map[string]struct {
		ServiceName string `json:"serviceName"`
	}{}}
	seen, n := map[string]int{}, 0
	add := func(service, op, parent string, tags ...string) string {
		seen[service+": "+op]++
		n++
		id := fmt.Sprintf("%016x", n)
		tr.Processes[service] = struct {
			ServiceName string `json:"serviceName"`
		}{service}
		s := Span{SpanID: id, OperationName: op, ProcessID: service}
		if parent != "" {
			s.References = append(s.References, struct {
				SpanID string `json:"spanID"`
			}{parent})
		}
		for i := 0; i+1 < len(tags); i += 2 {
			s.Tags = append(s.Tags, KV{tags[i], tags[i+1]})
		}
		if !slices.Contains(skip, fmt.Sprintf("%s: %s #%d", service, op, seen[service+": "+op])) {
			tr.Spans = append(tr.Spans, s)
		}
		return id
	}
	root := add("order-service", "POST /orders", "")
	add("order-service", "INSERT", root, "db.system.name", "postgresql")
	for _, m := range ConfirmedSaga() {
		send := add(m.Producer, "send "+m.Topic, root)
		for _, group := range m.Consumers {
			process := add(group, "process "+m.Topic, send)
			add(group, "BEGIN", process, "db.system.name", "postgresql")
		}
	}
	return tr
}

func TestTraceMissing(t *testing.T) {
	shape := SagaShape{
		Operations:  map[string][]string{"order-service": {"POST /orders", "db"}},
		Messages:    ConfirmedSaga(),
		RootService: "order-service", RootOperation: "POST /orders",
	}
	tests := []struct {
		name        string
		skip        []string
		wantMissing string // a substring of the list, or "" for a complete trace
		wantRoots   int
	}{
		{name: "complete", wantRoots: 1},
		{
			// The flaky failure: the sale's BEGIN is in, its process span is not.
			name: "the last consumer's process span not exported yet", skip: []string{"product-service: process orders #2"},
			wantMissing: "order.confirmed", wantRoots: 2,
		},
		{
			name: "a message not sent yet", skip: []string{"user-service: send payments #1"},
			// The root, and the process span of the one group that acts on it, orphaned.
			wantMissing: "payment.succeeded", wantRoots: 2,
		},
		{
			name: "the root not exported yet", skip: []string{"order-service: POST /orders #1"},
			wantMissing: "the root", wantRoots: 5,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := sagaTrace(tt.skip...)
			missing := strings.Join(tr.missing(shape), "; ")
			if tt.wantMissing == "" && missing != "" || !strings.Contains(missing, tt.wantMissing) {
				t.Errorf("missing %q, want %q", missing, tt.wantMissing)
			}
			if got := len(tr.Roots()); got != tt.wantRoots {
				t.Errorf("%d roots, want %d", got, tt.wantRoots)
			}
		})
	}
}
