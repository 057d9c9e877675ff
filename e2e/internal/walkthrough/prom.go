package walkthrough

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// promVector is the part of Prometheus's instant query answer the checks read. Result stays
// empty unless the result type is a vector.
type promVector struct {
	Data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"-"`
		Raw json.RawMessage `json:"result"`
	} `json:"data"`
}

func (ch *Checker) query(ctx context.Context, expr string) (promVector, error) {
	var v promVector
	if err := ch.getJSON(ctx, ch.Prometheus, "/api/v1/query", url.Values{"query": {expr}}, &v); err != nil {
		return v, err
	}
	if v.Data.ResultType == "vector" {
		if err := json.Unmarshal(v.Data.Raw, &v.Data.Result); err != nil {
			return v, fmt.Errorf("query %s: %v", expr, err)
		}
	}
	return v, nil
}

// checkPromQL holds when the instant query returns at least one sample. When it returns none and
// the expression ends in a comparison, the failure shows what the left-hand side is, which is
// what the reader would look at next.
func (ch *Checker) checkPromQL(ctx context.Context, expr string) error {
	v, err := ch.query(ctx, expr)
	if err != nil {
		return err
	}
	if v.Data.ResultType != "vector" {
		return fmt.Errorf("promql %s: result type %q, want a vector (write it like an alert expression)", expr, v.Data.ResultType)
	}
	if len(v.Data.Result) > 0 {
		return nil
	}
	found := "no sample"
	if left, ok := comparisonLeft(expr); ok {
		if lv, err := ch.query(ctx, left); err == nil {
			found = fmt.Sprintf("no sample; %s is %s", left, describeVector(lv))
		}
	}
	return fmt.Errorf("promql %s: %s", expr, found)
}

// describeVector formats up to five samples of a query result.
func describeVector(v promVector) string {
	if len(v.Data.Result) == 0 {
		return "empty (no such series)"
	}
	var parts []string
	for i, r := range v.Data.Result {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("... (%d samples)", len(v.Data.Result)))
			break
		}
		var labels []string
		for k, val := range r.Metric {
			labels = append(labels, k+"="+strconv.Quote(val))
		}
		parts = append(parts, fmt.Sprintf("{%s} %v", strings.Join(slices.Sorted(slices.Values(labels)), ","), r.Value[1]))
	}
	return strings.Join(parts, "; ")
}

// comparisonLeft returns the expression left of its last top-level comparison operator
// (outside brackets and quotes), e.g. `max(x) == 2` → `max(x)`.
func comparisonLeft(expr string) (string, bool) {
	depth, quote, last := 0, byte(0), -1
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '(' || c == '{' || c == '[':
			depth++
		case c == ')' || c == '}' || c == ']':
			depth--
		case depth == 0 && strings.ContainsRune("=!<>", rune(c)):
			if c == '=' && i > 0 && strings.ContainsRune("=!<>", rune(expr[i-1])) {
				continue // second character of ==, !=, <=, >=
			}
			if c == '=' && (i+1 >= len(expr) || expr[i+1] != '=') {
				continue // a lone = is no comparison at the top level
			}
			last = i
		}
	}
	if last <= 0 {
		return "", false
	}
	return strings.TrimSpace(expr[:last]), true
}

// checkAlert reads /api/v1/alerts. firing holds when an alert of that name fires; inactive
// when none is firing or pending. Either way the alerting rule must exist, so that a renamed
// alert cannot make an `inactive` claim hold by default.
func (ch *Checker) checkAlert(ctx context.Context, name, want string) error {
	var rules struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name string `json:"name"`
					Type string `json:"type"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := ch.getJSON(ctx, ch.Prometheus, "/api/v1/rules", url.Values{"type": {"alert"}}, &rules); err != nil {
		return err
	}
	var names []string
	for _, g := range rules.Data.Groups {
		for _, r := range g.Rules {
			names = append(names, r.Name)
		}
	}
	if !contains(names, name) {
		return fmt.Errorf("alert %s: Prometheus has no alerting rule of that name (it has: %s)", name, strings.Join(names, ", "))
	}
	var alerts struct {
		Data struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		} `json:"data"`
	}
	if err := ch.getJSON(ctx, ch.Prometheus, "/api/v1/alerts", nil, &alerts); err != nil {
		return err
	}
	var states []string
	for _, a := range alerts.Data.Alerts {
		if a.Labels["alertname"] == name {
			states = append(states, a.State)
		}
	}
	holds := (want == "firing" && contains(states, "firing")) || (want == "inactive" && len(states) == 0)
	if holds {
		return nil
	}
	if len(states) == 0 {
		states = []string{"inactive"}
	}
	return fmt.Errorf("alert %s is %s, not %s", name, strings.Join(states, ", "), want)
}

// checkExemplar holds when Prometheus has, within the last 15 minutes, an exemplar of the
// selector with a value of at least minValue whose trace_id Jaeger finds.
func (ch *Checker) checkExemplar(ctx context.Context, selector string, minValue float64) error {
	now := time.Now()
	var answer struct {
		Data []struct {
			SeriesLabels map[string]string `json:"seriesLabels"`
			Exemplars    []struct {
				Labels map[string]string `json:"labels"`
				Value  string            `json:"value"`
			} `json:"exemplars"`
		} `json:"data"`
	}
	q := url.Values{"query": {selector},
		"start": {strconv.FormatInt(now.Add(-15*time.Minute).Unix(), 10)},
		"end":   {strconv.FormatInt(now.Unix(), 10)}}
	if err := ch.getJSON(ctx, ch.Prometheus, "/api/v1/query_exemplars", q, &answer); err != nil {
		return err
	}
	count, best, lastErr := 0, -1.0, ""
	for _, series := range answer.Data {
		for _, e := range series.Exemplars {
			count++
			v, err := strconv.ParseFloat(e.Value, 64)
			if err != nil {
				continue
			}
			best = max(best, v)
			if v < minValue {
				continue
			}
			id := e.Labels["trace_id"]
			if id == "" {
				lastErr = "an exemplar has no trace_id label"
				continue
			}
			if err := ch.traceExists(ctx, id); err != nil {
				lastErr = err.Error()
				continue
			}
			return nil
		}
	}
	if lastErr != "" {
		return fmt.Errorf("exemplar %s minvalue=%g: %d exemplars, none whose trace Jaeger has (%s)", selector, minValue, count, lastErr)
	}
	return fmt.Errorf("exemplar %s minvalue=%g: %d exemplars in the last 15 minutes, the largest %g", selector, minValue, count, best)
}

// traceExists reports an error unless Jaeger returns the trace.
func (ch *Checker) traceExists(ctx context.Context, id string) error {
	var answer struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := ch.getJSON(ctx, ch.Jaeger, "/api/traces/"+id, nil, &answer); err != nil {
		return fmt.Errorf("trace %s: %v", id, err)
	}
	if len(answer.Data) != 1 {
		return fmt.Errorf("trace %s: Jaeger returned %d traces", id, len(answer.Data))
	}
	return nil
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }
