package observability

import (
	"slices"
	"strings"
	"testing"
)

// promqlKeywords are the words of PromQL that look like identifiers but are not metric names.
// Function names need no entry (an identifier followed by '(' is never a metric), but the
// aggregation operators do: in `sum by (job) (…)` a label list comes between them and '('.
var promqlKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true,
	"by": true, "without": true, "on": true, "ignoring": true,
	"group_left": true, "group_right": true, "inf": true, "nan": true,
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true,
	"stdvar": true, "count": true, "count_values": true, "bottomk": true, "topk": true,
	"quantile": true, "limitk": true, "limit_ratio": true,
}

// labelListKeywords are followed by a parenthesised list of label names, not an expression.
var labelListKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// metricNames returns the metric names a PromQL expression selects, sorted and without
// duplicates. It is a tokenizer, not a parser, and knows just enough PromQL to tell a metric
// name from everything else that looks like one: label matchers inside {…}, ranges and
// durations inside […], strings, numbers, function names (followed by '('), label lists after
// by/without/on/ignoring/group_left/group_right, keywords, and Grafana's $variables.
func metricNames(expr string) []string {
	var names []string
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			i = skipString(expr, i)
		case c == '{':
			i = skipPast(expr, i, '}')
		case c == '[':
			i = skipPast(expr, i, ']')
		case c == '$':
			// A Grafana variable ($job, ${job}, $__rate_interval): never a metric.
			i++
			if i < len(expr) && expr[i] == '{' {
				i = skipPast(expr, i, '}')
				continue
			}
			for i < len(expr) && isIdentChar(expr[i]) {
				i++
			}
		case isDigit(c) || (c == '.' && i+1 < len(expr) && isDigit(expr[i+1])):
			// A number or a duration (5m, 1e3, 0x1f): digits, letters and dots run together.
			for i < len(expr) && (isIdentChar(expr[i]) || expr[i] == '.') {
				i++
			}
		case isIdentStart(c):
			start := i
			for i < len(expr) && isIdentChar(expr[i]) {
				i++
			}
			word := expr[start:i]
			next := i
			for next < len(expr) && (expr[next] == ' ' || expr[next] == '\t' || expr[next] == '\n') {
				next++
			}
			followedByParen := next < len(expr) && expr[next] == '('
			switch {
			case labelListKeywords[strings.ToLower(word)]:
				if followedByParen {
					i = skipPast(expr, next, ')')
				}
			case promqlKeywords[strings.ToLower(word)], followedByParen:
				// A keyword, or a function or aggregation being called.
			default:
				names = append(names, word)
			}
		default:
			i++
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// skipString returns the index just past the string literal that starts at i.
func skipString(s string, i int) int {
	quote := s[i]
	for i++; i < len(s); i++ {
		switch {
		case s[i] == '\\' && quote != '`':
			i++
		case s[i] == quote:
			return i + 1
		}
	}
	return len(s)
}

// skipPast returns the index just past the first close after i that is not inside a string.
func skipPast(s string, i int, close byte) int {
	for i++; i < len(s); {
		switch c := s[i]; {
		case c == close:
			return i + 1
		case c == '"' || c == '\'' || c == '`':
			i = skipString(s, i)
		default:
			i++
		}
	}
	return len(s)
}

func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool { return c == '_' || c == ':' || (c|0x20 >= 'a' && c|0x20 <= 'z') }
func isIdentChar(c byte) bool  { return isIdentStart(c) || isDigit(c) }

func TestMetricNames(t *testing.T) {
	tests := []struct {
		name string
		expr string
		want []string
	}{
		{"bare metric", "up", []string{"up"}},
		{"matchers are not metrics", `tracecart_saga_pending{job="order-service", outcome!~"con.*"}`, []string{"tracecart_saga_pending"}},
		{"functions and ranges", "rate(tracecart_saga_outcomes_total[5m])", []string{"tracecart_saga_outcomes_total"}},
		{"aggregation with by before", "sum by (job, outcome) (rate(a_total[1m]))", []string{"a_total"}},
		{"aggregation with by after", "sum(rate(a_total[1m])) by (le, job)", []string{"a_total"}},
		{"without", "max without (instance) (b)", []string{"b"}},
		{"histogram quantile", "histogram_quantile(0.99, sum by (le) (rate(x_seconds_bucket[$__rate_interval])))", []string{"x_seconds_bucket"}},
		{"binary operators and vector matching", "a / on (job) group_left (team) b > bool 0.2 and c unless d", []string{"a", "b", "c", "d"}},
		{"ignoring", "a - ignoring(code) b", []string{"a", "b"}},
		{"offset and numbers", "a offset 5m > 1e3 or b > 0x1f", []string{"a", "b"}},
		{"grafana variables", `sum by (job) (c{job=~"$job"}) / ${scale}`, []string{"c"}},
		{"strings with braces", `label_replace(a, "dst", "$1}", "src", "(.*)")`, []string{"a"}},
		{"keywords in any case", "a AND b Or c", []string{"a", "b", "c"}},
		{"duplicates once", "a + a", []string{"a"}},
		{"recording rule names", "job:requests:rate5m > 1", []string{"job:requests:rate5m"}},
		{"infinity is a number", "a > Inf", []string{"a"}},
		{"no metric", "vector(1) + time()", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := metricNames(tt.expr); !slices.Equal(got, tt.want) {
				t.Errorf("metricNames(%q) = %q, want %q", tt.expr, got, tt.want)
			}
		})
	}
}
