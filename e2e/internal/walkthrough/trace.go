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
)

// jaegerTrace is the part of Jaeger's query API answer (/api/traces) the trace claims read.
type jaegerTrace struct {
	TraceID   string       `json:"traceID"`
	Spans     []jaegerSpan `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

type jaegerSpan struct {
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	ProcessID     string `json:"processID"`
	StartTime     int64  `json:"startTime"` // microseconds since the epoch
	Duration      int64  `json:"duration"`  // microseconds
	References    []struct {
		SpanID string `json:"spanID"`
	} `json:"references"`
	Tags []jaegerKV `json:"tags"`
	// Logs are the OpenTelemetry span events; the event's name is the field "event".
	Logs []struct {
		Fields []jaegerKV `json:"fields"`
	} `json:"logs"`
}

type jaegerKV struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

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
		Data []jaegerTrace `json:"data"`
	}
	if err := ch.getJSON(ctx, ch.Jaeger, "/api/traces", params, &answer); err != nil {
		return "", err
	}
	if len(answer.Data) == 0 {
		return "", fmt.Errorf("Jaeger found no trace for the search %s", params.Encode())
	}
	var closest jaegerTrace
	closestMissing := []string(nil)
	for _, tr := range answer.Data {
		missing := q.unmet(tr)
		if len(missing) == 0 {
			return tr.tree(), nil
		}
		if closestMissing == nil || len(missing) < len(closestMissing) {
			closest, closestMissing = tr, missing
		}
	}
	return "", fmt.Errorf("none of the %d traces Jaeger found meets every condition; the closest, %s, lacks: %s\nits spans:\n%s",
		len(answer.Data), closest.TraceID, strings.Join(closestMissing, "; "), firstLines(closest.tree(), 150))
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
		Data []jaegerTrace `json:"data"`
	}
	if err := ch.getJSON(ctx, ch.Jaeger, "/api/traces/"+url.PathEscape(id), nil, &answer); err != nil {
		return "", err
	}
	if len(answer.Data) != 1 {
		return "", fmt.Errorf("Jaeger returned %d traces for %s", len(answer.Data), id)
	}
	tr := answer.Data[0]
	if q.Service != "" && !slices.ContainsFunc(tr.Spans, func(s jaegerSpan) bool { return tr.service(s) == q.Service }) {
		return "", fmt.Errorf("trace %s has no span of %s; its spans:\n%s", id, q.Service, firstLines(tr.tree(), 150))
	}
	if missing := q.unmet(tr); len(missing) > 0 {
		return "", fmt.Errorf("trace %s lacks: %s\nits spans:\n%s", id, strings.Join(missing, "; "), firstLines(tr.tree(), 150))
	}
	return tr.tree(), nil
}

// unmet lists the conditions the trace does not meet.
func (q TraceQuery) unmet(tr jaegerTrace) []string {
	var missing []string
	if q.Root != "" {
		roots := tr.roots()
		if !slices.ContainsFunc(roots, func(s jaegerSpan) bool { return s.OperationName == q.Root }) {
			var names []string
			for _, r := range roots {
				names = append(names, r.OperationName)
			}
			missing = append(missing, fmt.Sprintf("root=%q (its root: %q)", q.Root, names))
		}
	}
	seen := map[string]bool{}
	for _, s := range tr.Spans {
		seen[tr.service(s)] = true
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

func (c SpanCondition) matches(s jaegerSpan) bool {
	if c.Name != "" && s.OperationName != c.Name {
		return false
	}
	if c.Event != "" && !slices.Contains(s.events(), c.Event) {
		return false
	}
	for k, v := range c.Attrs {
		if !s.hasTag(k, v) && !(c.Event != "" && s.eventHas(c.Event, k, v)) {
			return false
		}
	}
	return float64(s.Duration)/1000 >= c.MinMS
}

// eventHas reports whether one of the span's events named event has the field key = value: with
// event= before it, attr: may name the event's attributes as well as the span's
// (event=feature_flag.evaluation attr:feature_flag.key=productCatalogSlow).
func (s jaegerSpan) eventHas(event, key, value string) bool {
	for _, log := range s.Logs {
		named, has := false, false
		for _, f := range log.Fields {
			named = named || (f.Key == "event" && fmt.Sprint(f.Value) == event)
			has = has || (f.Key == key && fmt.Sprint(f.Value) == value)
		}
		if named && has {
			return true
		}
	}
	return false
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

func (s jaegerSpan) events() []string {
	var names []string
	for _, log := range s.Logs {
		for _, f := range log.Fields {
			if f.Key == "event" {
				names = append(names, fmt.Sprint(f.Value))
			}
		}
	}
	return names
}

// hasTag compares as text, so attr:http.response.status_code=503 matches the number 503 and
// attr:tracecart.inbox.duplicate=true the boolean.
func (s jaegerSpan) hasTag(key, value string) bool {
	for _, tag := range s.Tags {
		if tag.Key == key && fmt.Sprint(tag.Value) == value {
			return true
		}
	}
	return false
}

func (tr jaegerTrace) service(s jaegerSpan) string { return tr.Processes[s.ProcessID].ServiceName }

// roots are the spans whose parent is not in the trace.
func (tr jaegerTrace) roots() []jaegerSpan {
	ids := map[string]bool{}
	for _, s := range tr.Spans {
		ids[s.SpanID] = true
	}
	var roots []jaegerSpan
	for _, s := range tr.Spans {
		if len(s.References) == 0 || !ids[s.References[0].SpanID] {
			roots = append(roots, s)
		}
	}
	return roots
}

// tree writes the trace as an indented tree, children in start order: "service: span (ms)",
// and each span event on a line of its own below it.
func (tr jaegerTrace) tree() string {
	children := map[string][]jaegerSpan{}
	for _, s := range tr.Spans {
		if len(s.References) > 0 {
			children[s.References[0].SpanID] = append(children[s.References[0].SpanID], s)
		}
	}
	byStart := func(spans []jaegerSpan) {
		sort.SliceStable(spans, func(i, j int) bool { return spans[i].StartTime < spans[j].StartTime })
	}
	var b strings.Builder
	fmt.Fprintf(&b, "trace %s, %d spans\n", tr.TraceID, len(tr.Spans))
	var walk func(s jaegerSpan, depth int)
	walk = func(s jaegerSpan, depth int) {
		indent := strings.Repeat("  ", depth)
		fmt.Fprintf(&b, "%s%s: %s (%.1f ms)\n", indent, tr.service(s), s.OperationName, float64(s.Duration)/1000)
		for _, e := range s.events() {
			fmt.Fprintf(&b, "%s  · event %s\n", indent, e)
		}
		kids := children[s.SpanID]
		byStart(kids)
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	roots := tr.roots()
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
