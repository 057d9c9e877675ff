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

// Trace is the part of Jaeger's query API answer (GET /api/traces and /api/traces/{id}) the
// suites and the walkthrough runner read: enough to tell which service did what, under which
// parent, when, with which tags and events.
type Trace struct {
	TraceID   string `json:"traceID"`
	Spans     []Span `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

// Span is one span of a Trace. Its first reference, if any, is its parent.
type Span struct {
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	ProcessID     string `json:"processID"`
	StartTime     int64  `json:"startTime"` // microseconds since the epoch
	Duration      int64  `json:"duration"`  // microseconds
	References    []struct {
		SpanID string `json:"spanID"`
	} `json:"references"`
	Tags []KV `json:"tags"`
	// Logs are the OpenTelemetry span events; the event's name is the field "event".
	Logs []struct {
		Fields []KV `json:"fields"`
	} `json:"logs"`
}

// KV is a tag of a span, or a field of one of its events.
type KV struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
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
		if tr.Service(span) == service && span.tag(key) == value {
			return true
		}
	}
	return false
}

// Service is the name of the service that recorded s.
func (tr Trace) Service(s Span) string { return tr.Processes[s.ProcessID].ServiceName }

// tag returns the value of the span's tag key, or "" if it has none.
func (s Span) tag(key string) string {
	for _, tag := range s.Tags {
		if tag.Key == key {
			return fmt.Sprint(tag.Value)
		}
	}
	return ""
}

// parent is the ID of the span's parent, or "" for a span that started a trace.
func (s Span) parent() string {
	if len(s.References) == 0 {
		return ""
	}
	return s.References[0].SpanID
}

// HasTag reports whether the span has the tag key with value, compared as text, so that
// http.response.status_code=503 matches the number and tracecart.inbox.duplicate=true the boolean.
func (s Span) HasTag(key, value string) bool {
	for _, tag := range s.Tags {
		if tag.Key == key && fmt.Sprint(tag.Value) == value {
			return true
		}
	}
	return false
}

// Events are the names of the span's events, in order.
func (s Span) Events() []string {
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

// EventHas reports whether one of the span's events named event has the field key = value.
func (s Span) EventHas(event, key, value string) bool {
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

// isDB reports whether the span is a database call (otelpgx tags it with the database system).
func (s Span) isDB() bool { return s.tag("db.system.name") != "" || s.tag("db.system") != "" }

// SagaShape is what one order's trace must look like: who contributed which spans, every message
// of the saga from its send to each of its consumers, and which span is the single root the whole
// tree hangs from. The suites differ in where the request enters (order-service directly, or the
// gateway), so they say it here.
type SagaShape struct {
	// Operations maps a service name to prefixes of the operation names it must have
	// contributed; the pseudo-operation "db" stands for any span with a database system tag.
	Operations map[string][]string
	// Messages are the events the saga must have carried (ConfirmedSaga for an order that ends
	// CONFIRMED).
	Messages []Message
	// RootService and RootOperation (a prefix) name the one span whose parent is not in the
	// trace.
	RootService, RootOperation string
}

// Message is one event of the saga as its trace shows it: a send span in the service whose
// outbox relay published it, and under that span, in every consumer group that reads its topic,
// a process span with the database spans of the inbox's transaction under it. Consumer groups
// are named after their services.
type Message struct {
	Event     string // the event type, such as "order.created": for the failure message only
	Topic     string
	Producer  string
	Consumers []string
}

// ConfirmedSaga is every message of a saga that ends CONFIRMED, with the consumer groups that act
// on it. Each topic is read by two groups (orders by product-service and user-service, inventory
// by user-service and order-service, payments by order-service and product-service), but a group
// skips the event types it has no route for without a transaction (shared/sagakit), so only the
// groups listed here leave a process span with database spans under it. The last message,
// order.confirmed, is the one the flaky version of this check did not wait for.
func ConfirmedSaga() []Message {
	return []Message{
		{"order.created", "orders", "order-service", []string{"product-service"}},
		{"inventory.reserved", "inventory", "product-service", []string{"user-service"}},
		{"payment.succeeded", "payments", "user-service", []string{"order-service"}},
		{"order.confirmed", "orders", "order-service", []string{"product-service"}},
	}
}

// AssertOneTrace waits until Jaeger at jaegerURL holds every span shape asks for under traceID,
// then checks that the spans form one tree whose root is the span shape names: the proof that
// context crossed every HTTP call and every Kafka hop of the saga.
//
// The wait is for content, never for time: a service exports its spans in the order they end,
// in batches, so a child can be in Jaeger before its parent (a consumer's BEGIN before its
// process span), and a trace checked as soon as the order is CONFIRMED can still miss the last
// consumer's spans. Once every process span of every message is there, every span under it is
// too, and the tree can be judged. The deadline is generous because only a broken trace
// reaches it.
func AssertOneTrace(t testing.TB, jaegerURL, traceID string, shape SagaShape) {
	t.Helper()
	var tr Trace
	Eventually(t, 60*time.Second, "the whole saga in one trace", func() (err error) {
		if tr, err = FetchTrace(t.Context(), jaegerURL, traceID); err != nil {
			return err
		}
		if missing := tr.missing(shape); len(missing) > 0 {
			return fmt.Errorf("%d spans so far, missing %v", len(tr.Spans), missing)
		}
		return nil
	})

	// One tree: every span's parent is in the trace, except the root's.
	if roots := tr.Roots(); len(roots) != 1 ||
		tr.Service(roots[0]) != shape.RootService || !strings.HasPrefix(roots[0].OperationName, shape.RootOperation) {
		t.Errorf("the trace of %d spans has %d roots %v, want one: %s: %s",
			len(tr.Spans), len(roots), tr.names(roots), shape.RootService, shape.RootOperation)
	}
}

// names lists spans as "service: operation".
func (tr Trace) names(spans []Span) []string {
	names := make([]string, len(spans))
	for i, s := range spans {
		names[i] = tr.Service(s) + ": " + s.OperationName
	}
	return names
}

// missing lists what shape asks for that the trace does not hold yet: operations, then messages.
func (tr Trace) missing(shape SagaShape) []string {
	return append(tr.missingOperations(shape), tr.missingMessages(shape)...)
}

// missingOperations lists the operations of shape, the root included, that no span has yet.
func (tr Trace) missingOperations(shape SagaShape) []string {
	have := map[string][]string{} // operation names by service, "db" for database spans
	for _, s := range tr.Spans {
		have[tr.Service(s)] = append(have[tr.Service(s)], s.OperationName)
		if s.isDB() {
			have[tr.Service(s)] = append(have[tr.Service(s)], "db")
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
	if !anyHasPrefix(have[shape.RootService], shape.RootOperation) {
		missing = append(missing, fmt.Sprintf("the root %s: %s (spans without a parent so far: %v)",
			shape.RootService, shape.RootOperation, tr.names(tr.Roots())))
	}
	return missing
}

// missingMessages lists the messages of shape that were not sent, or not processed with database
// spans by every consumer, yet.
func (tr Trace) missingMessages(shape SagaShape) []string {
	children := map[string][]Span{}
	for _, s := range tr.Spans {
		children[s.parent()] = append(children[s.parent()], s)
	}
	// hasDB reports whether a database span is under s: the inbox's transaction.
	var hasDB func(s Span) bool
	hasDB = func(s Span) bool {
		for _, c := range children[s.SpanID] {
			if c.isDB() || hasDB(c) {
				return true
			}
		}
		return false
	}
	// delivered reports whether every consumer of m processed the message send started.
	delivered := func(m Message, send Span) bool {
		for _, group := range m.Consumers {
			found := false
			for _, c := range children[send.SpanID] {
				if tr.Service(c) == group && c.OperationName == "process "+m.Topic && hasDB(c) {
					found = true
				}
			}
			if !found {
				return false
			}
		}
		return true
	}
	// A producer sends several messages to one topic (order-service: order.created, then
	// order.confirmed) and a send span does not name its event type, so the messages of one
	// producer and topic are matched by count, in saga order.
	complete := map[string]int{}
	for _, s := range tr.Spans {
		for _, m := range shape.Messages {
			if tr.Service(s) == m.Producer && s.OperationName == "send "+m.Topic {
				if delivered(m, s) {
					complete[m.Producer+" "+m.Topic]++
				}
				break
			}
		}
	}
	var missing []string
	for _, m := range shape.Messages {
		key := m.Producer + " " + m.Topic
		if complete[key] > 0 {
			complete[key]--
			continue
		}
		missing = append(missing, fmt.Sprintf("%s (send %s by %s, processed with database spans by %v)",
			m.Event, m.Topic, m.Producer, m.Consumers))
	}
	return missing
}

// Roots returns the spans whose parent is not in the trace.
func (tr Trace) Roots() []Span {
	ids := map[string]bool{}
	for _, s := range tr.Spans {
		ids[s.SpanID] = true
	}
	var roots []Span
	for _, s := range tr.Spans {
		if !ids[s.parent()] {
			roots = append(roots, s)
		}
	}
	return roots
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
