package walkthrough

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tracecart/tracecart/e2e/internal/shoptest"
)

// traceLimit is how many traces one search asks for: the demo's traffic can make the matching
// trace one of many.
const traceLimit = 100

// checkTrace searches Jaeger and holds when one trace meets every condition; it returns that
// trace as a text tree. Otherwise the error shows the trace that met the most conditions.
func (ch *Checker) checkTrace(ctx context.Context, q TraceQuery) (string, error) {
	if q.TraceID != "" {
		return ch.checkTraceByID(ctx, q)
	}
	now := time.Now()
	params := url.Values{
		"service": {q.Service},
		"start":   {micros(now.Add(-15 * time.Minute))},
		"end":     {micros(now)},
		"limit":   {fmt.Sprint(traceLimit)},
	}
	if q.Operation != "" {
		params.Set("operation", q.Operation)
	}
	if len(q.Tags) > 0 {
		raw, err := json.Marshal(q.Tags)
		if err != nil {
			return "", err
		}
		params.Set("tags", string(raw))
	}
	var answer struct {
		Data []shoptest.Trace `json:"data"`
	}
	if err := ch.getJSON(ctx, ch.Jaeger, "/api/traces", params, &answer); err != nil {
		return "", err
	}
	if len(answer.Data) == 0 {
		return "", fmt.Errorf("Jaeger found no trace for the search %s", params.Encode())
	}
	var closest shoptest.Trace
	closestMissing := []string(nil)
	for _, tr := range answer.Data {
		missing := q.unmet(tr)
		if len(missing) == 0 {
			return tree(tr), nil
		}
		if closestMissing == nil || len(missing) < len(closestMissing) {
			closest, closestMissing = tr, missing
		}
	}
	return "", fmt.Errorf("none of the %d traces Jaeger found meets every condition; the closest, %s, lacks: %s\nits spans:\n%s",
		len(answer.Data), closest.TraceID, strings.Join(closestMissing, "; "), firstLines(tree(closest), 150))
}

// checkTraceByID checks one trace, named by traceid=: either the ID itself or, written @<file>,
// the file an earlier sh block wrote it to (e.g. traceid=@/tmp/tracecart-01.trace, from the
// gateway's X-Trace-Id header). That ties the claim to the reader's own order rather than to
// any trace of the right shape.
func (ch *Checker) checkTraceByID(ctx context.Context, q TraceQuery) (string, error) {
	id := q.TraceID
	if file, ok := strings.CutPrefix(id, "@"); ok {
		raw, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("traceid=%s: %v", q.TraceID, err)
		}
		if id = strings.TrimSpace(string(raw)); id == "" {
			return "", fmt.Errorf("traceid=%s: the file is empty", q.TraceID)
		}
	}
	var answer struct {
		Data []shoptest.Trace `json:"data"`
	}
	if err := ch.getJSON(ctx, ch.Jaeger, "/api/traces/"+url.PathEscape(id), nil, &answer); err != nil {
		return "", err
	}
	if len(answer.Data) != 1 {
		return "", fmt.Errorf("Jaeger returned %d traces for %s", len(answer.Data), id)
	}
	tr := answer.Data[0]
	if q.Service != "" && !slices.ContainsFunc(tr.Spans, func(s shoptest.Span) bool { return tr.Service(s) == q.Service }) {
		return "", fmt.Errorf("trace %s has no span of %s; its spans:\n%s", id, q.Service, firstLines(tree(tr), 150))
	}
	if missing := q.unmet(tr); len(missing) > 0 {
		return "", fmt.Errorf("trace %s lacks: %s\nits spans:\n%s", id, strings.Join(missing, "; "), firstLines(tree(tr), 150))
	}
	return tree(tr), nil
}

// unmet lists the conditions the trace does not meet.
func (q TraceQuery) unmet(tr shoptest.Trace) []string {
	var missing []string
	if q.Root != "" {
		roots := tr.Roots()
		if !slices.ContainsFunc(roots, func(s shoptest.Span) bool { return s.OperationName == q.Root }) {
			var names []string
			for _, r := range roots {
				names = append(names, r.OperationName)
			}
			missing = append(missing, fmt.Sprintf("root=%q (its root: %q)", q.Root, names))
		}
	}
	seen := map[string]bool{}
	for _, s := range tr.Spans {
		seen[tr.Service(s)] = true
	}
	for _, service := range q.Services {
		if !seen[service] {
			missing = append(missing, "a span of "+service)
		}
	}
	for _, cond := range q.Spans {
		if !slices.ContainsFunc(tr.Spans, cond.matches) {
			missing = append(missing, cond.String())
		}
	}
	return missing
}

func (c SpanCondition) matches(s shoptest.Span) bool {
	if c.Name != "" && s.OperationName != c.Name {
		return false
	}
	if c.Event != "" && !slices.Contains(s.Events(), c.Event) {
		return false
	}
	for k, v := range c.Attrs {
		if !s.HasTag(k, v) && !(c.Event != "" && s.EventHas(c.Event, k, v)) {
			return false
		}
	}
	return float64(s.Duration)/1000 >= c.MinMS
}

// String writes the condition back in the claim's own terms, for failure messages.
func (c SpanCondition) String() string {
	var terms []string
	if c.Name != "" {
		terms = append(terms, fmt.Sprintf("span=%q", c.Name))
	}
	if c.Event != "" {
		terms = append(terms, fmt.Sprintf("event=%q", c.Event))
	}
	for _, k := range slices.Sorted(maps.Keys(c.Attrs)) {
		terms = append(terms, fmt.Sprintf("attr:%s=%q", k, c.Attrs[k]))
	}
	if c.MinMS > 0 {
		terms = append(terms, fmt.Sprintf("minms=%g", c.MinMS))
	}
	return "a span with " + strings.Join(terms, " ")
}

// tree writes the trace as an indented tree, children in start order: "service: span (ms)",
// and each span event on a line of its own below it.
func tree(tr shoptest.Trace) string {
	children := map[string][]shoptest.Span{}
	for _, s := range tr.Spans {
		if len(s.References) > 0 {
			children[s.References[0].SpanID] = append(children[s.References[0].SpanID], s)
		}
	}
	byStart := func(spans []shoptest.Span) {
		sort.SliceStable(spans, func(i, j int) bool { return spans[i].StartTime < spans[j].StartTime })
	}
	var b strings.Builder
	fmt.Fprintf(&b, "trace %s, %d spans\n", tr.TraceID, len(tr.Spans))
	var walk func(s shoptest.Span, depth int)
	walk = func(s shoptest.Span, depth int) {
		indent := strings.Repeat("  ", depth)
		fmt.Fprintf(&b, "%s%s: %s (%.1f ms)\n", indent, tr.Service(s), s.OperationName, float64(s.Duration)/1000)
		for _, e := range s.Events() {
			fmt.Fprintf(&b, "%s  · event %s\n", indent, e)
		}
		kids := children[s.SpanID]
		byStart(kids)
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	roots := tr.Roots()
	byStart(roots)
	for _, r := range roots {
		walk(r, 0)
	}
	return b.String()
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append(lines[:n], fmt.Sprintf("... (%d more lines)", len(lines)-n))
	}
	return strings.Join(lines, "\n")
}
