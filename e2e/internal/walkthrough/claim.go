package walkthrough

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// DefaultWithin is how long a claim is retried when it names no `within`.
const DefaultWithin = 60 * time.Second

// Claim is one line of an `expect` block.
type Claim struct {
	Line   int           // 1-based line in the page
	Text   string        // the line as written
	Kind   string        // promql, alert, trace, exemplar, http, log
	Within time.Duration // retried until it holds or this long has passed

	Expr string // promql: the expression; exemplar: the metric selector

	Alert      string // alert: the alert's name
	AlertState string // alert: firing or inactive

	Trace TraceQuery // trace

	MinValue float64 // exemplar: the smallest exemplar value, in seconds

	Method     string         // http
	URL        string         // http
	Status     int            // http
	BodyRegexp *regexp.Regexp // http (optional)
	AuthEmail  string         // http (optional)

	Service  string         // log: the compose service
	LogMatch *regexp.Regexp // log
}

// TraceQuery is a `trace` claim: a Jaeger search and the conditions on the traces it returns.
type TraceQuery struct {
	TraceID   string            // traceid=: this one trace, no search (a value may be @file)
	Service   string            // service=: the search's service, required without traceid=
	Operation string            // operation=: the search's operation
	Tags      map[string]string // tag:k=v: the search's tags
	Root      string            // root=: the trace's root span has this name
	Services  []string          // services=a,b: spans of all of these services appear
	Spans     []SpanCondition   // span= (and event=, attr:k=v, minms= after it)
}

// SpanCondition holds when one span of the trace satisfies all of it. Terms written before any
// span= form a condition with no name, which any span may satisfy.
type SpanCondition struct {
	Name  string
	Event string
	Attrs map[string]string
	MinMS float64
}

var withinSuffix = regexp.MustCompile(`\s+within\s+(\S+)\s*$`)

// ParseClaim parses one claim line (see docs/walkthroughs/README.md for the grammar).
func ParseClaim(line string) (Claim, error) {
	c := Claim{Text: line, Within: DefaultWithin}
	if m := withinSuffix.FindStringSubmatchIndex(line); m != nil {
		d, err := time.ParseDuration(line[m[2]:m[3]])
		if err != nil || d <= 0 {
			return c, fmt.Errorf("claim %q: bad within %q", line, line[m[2]:m[3]])
		}
		c.Within = d
		line = line[:m[0]]
	}
	kind, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
	rest = strings.TrimSpace(rest)
	c.Kind = kind
	var err error
	switch kind {
	case "promql":
		c.Expr = rest
		if rest == "" {
			err = fmt.Errorf("needs an expression")
		}
	case "alert":
		err = c.parseAlert(rest)
	case "trace":
		err = c.parseTrace(rest)
	case "exemplar":
		err = c.parseExemplar(rest)
	case "http":
		err = c.parseHTTP(rest)
	case "log":
		err = c.parseLog(rest)
	default:
		err = fmt.Errorf("unknown kind %q (promql, alert, trace, exemplar, http, log)", kind)
	}
	if err != nil {
		return c, fmt.Errorf("claim %q: %v", c.Text, err)
	}
	return c, nil
}

func (c *Claim) parseAlert(rest string) error {
	words := strings.Fields(rest)
	if len(words) != 2 || (words[1] != "firing" && words[1] != "inactive") {
		return fmt.Errorf("want `alert <AlertName> firing|inactive`")
	}
	c.Alert, c.AlertState = words[0], words[1]
	return nil
}

func (c *Claim) parseTrace(rest string) error {
	terms, err := splitTerms(rest)
	if err != nil {
		return err
	}
	q := TraceQuery{Tags: map[string]string{}}
	var current *SpanCondition
	span := func() *SpanCondition {
		if current == nil {
			q.Spans = append(q.Spans, SpanCondition{Attrs: map[string]string{}})
			current = &q.Spans[len(q.Spans)-1]
		}
		return current
	}
	for _, term := range terms {
		key, value, ok := strings.Cut(term, "=")
		if !ok || value == "" {
			return fmt.Errorf("term %q is not key=value", term)
		}
		switch {
		case key == "traceid":
			q.TraceID = value
		case key == "service":
			q.Service = value
		case key == "operation":
			q.Operation = value
		case strings.HasPrefix(key, "tag:") && len(key) > 4:
			q.Tags[key[4:]] = value
		case key == "root":
			q.Root = value
		case key == "services":
			q.Services = strings.Split(value, ",")
		case key == "span":
			q.Spans = append(q.Spans, SpanCondition{Name: value, Attrs: map[string]string{}})
			current = &q.Spans[len(q.Spans)-1]
		case key == "event":
			span().Event = value
		case strings.HasPrefix(key, "attr:") && len(key) > 5:
			span().Attrs[key[5:]] = value
		case key == "minms":
			ms, err := strconv.ParseFloat(value, 64)
			if err != nil || ms < 0 {
				return fmt.Errorf("minms=%q is not a number of milliseconds", value)
			}
			span().MinMS = ms
		default:
			return fmt.Errorf("unknown trace term %q", key)
		}
	}
	if q.TraceID != "" && (q.Operation != "" || len(q.Tags) > 0) {
		return fmt.Errorf("traceid= names the trace: operation= and tag: (search terms) do not apply")
	}
	if q.Service == "" && q.TraceID == "" {
		return fmt.Errorf("a trace claim needs service=<the search's service> (or traceid=)")
	}
	c.Trace = q
	return nil
}

func (c *Claim) parseExemplar(rest string) error {
	i := strings.LastIndex(rest, " minvalue=")
	if i < 0 {
		return fmt.Errorf("want `exemplar <metric selector> minvalue=<seconds>`")
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(rest[i+len(" minvalue="):]), 64)
	if err != nil {
		return fmt.Errorf("minvalue: %v", err)
	}
	c.Expr, c.MinValue = strings.TrimSpace(rest[:i]), v
	if c.Expr == "" {
		return fmt.Errorf("needs a metric selector")
	}
	return nil
}

func (c *Claim) parseHTTP(rest string) error {
	terms, err := splitTerms(rest)
	if err != nil {
		return err
	}
	if len(terms) < 3 {
		return fmt.Errorf("want `http <METHOD> <url> status=<code> [body~<regexp>] [auth=<email>]`")
	}
	c.Method, c.URL = terms[0], terms[1]
	for _, term := range terms[2:] {
		switch {
		case strings.HasPrefix(term, "status="):
			if c.Status, err = strconv.Atoi(term[len("status="):]); err != nil {
				return fmt.Errorf("status: %v", err)
			}
		case strings.HasPrefix(term, "body~"):
			if c.BodyRegexp, err = regexp.Compile(term[len("body~"):]); err != nil {
				return fmt.Errorf("body~: %v", err)
			}
		case strings.HasPrefix(term, "auth="):
			c.AuthEmail = term[len("auth="):]
		default:
			return fmt.Errorf("unknown http term %q", term)
		}
	}
	if c.Status == 0 {
		return fmt.Errorf("an http claim needs status=<code>")
	}
	return nil
}

func (c *Claim) parseLog(rest string) error {
	service, pattern, ok := strings.Cut(rest, " ")
	pattern = strings.TrimSpace(pattern)
	if !ok || pattern == "" {
		return fmt.Errorf("want `log <compose service> <regexp>`")
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return err
	}
	c.Service, c.LogMatch = service, re
	return nil
}

// splitTerms splits on spaces, keeping double-quoted stretches together (the quotes are
// removed; \" inside quotes is a quote).
func splitTerms(s string) ([]string, error) {
	var terms []string
	var cur strings.Builder
	inQuotes, started := false, false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case inQuotes && ch == '\\' && i+1 < len(s) && s[i+1] == '"':
			cur.WriteByte('"')
			i++
		case ch == '"':
			inQuotes, started = !inQuotes, true
		case !inQuotes && (ch == ' ' || ch == '\t'):
			if started {
				terms = append(terms, cur.String())
				cur.Reset()
				started = false
			}
		default:
			cur.WriteByte(ch)
			started = true
		}
	}
	if inQuotes {
		return nil, fmt.Errorf("unclosed double quote")
	}
	if started {
		terms = append(terms, cur.String())
	}
	return terms, nil
}
