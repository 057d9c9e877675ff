package telemetry

import (
	"context"
	"io"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// newLogger returns the service's JSON logger. Every line names the service; lines logged with a
// context that holds a span also name the trace and span, which is what lets Grafana jump from a
// log line to its trace and back.
func newLogger(w io.Writer, level slog.Level, serviceName string) *slog.Logger {
	jsonHandler := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})
	return slog.New(newTraceHandler(jsonHandler)).With(slog.String("service", serviceName))
}

// traceHandler is a slog.Handler that adds "trace_id" and "span_id" to each record whose context
// holds a valid span, and otherwise passes records through to the handler it wraps.
//
// The IDs belong at the top level of a log line, where log pipelines look for them, even when the
// logger has open groups (logger.WithGroup("order").InfoContext(ctx, ...)). Attributes added to a
// record land inside the groups already opened on the wrapped handler, so a traceHandler keeps the
// handler as it was before the first group (root) and the calls made since (steps). In the common
// case of no groups it simply adds the IDs to the record; with groups it adds them to root and
// replays the steps, which costs a little more but only for grouped loggers.
type traceHandler struct {
	root  slog.Handler // the wrapped handler with every attribute added before the first group
	steps []handlerStep
	next  slog.Handler // root with steps applied: what a record without a span goes to
}

var _ slog.Handler = (*traceHandler)(nil)

// handlerStep is one WithGroup or WithAttrs call made after the first group was opened.
type handlerStep struct {
	group string // the group opened, or "" for a WithAttrs call
	attrs []slog.Attr
}

func (s handlerStep) apply(h slog.Handler) slog.Handler {
	if s.group != "" {
		return h.WithGroup(s.group)
	}
	return h.WithAttrs(s.attrs)
}

func newTraceHandler(h slog.Handler) *traceHandler {
	return &traceHandler{root: h, next: h}
}

// Enabled reports whether the wrapped handler logs at level.
func (h *traceHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle adds the span's IDs to rec, at the top level, and hands it on.
func (h *traceHandler) Handle(ctx context.Context, rec slog.Record) error {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return h.next.Handle(ctx, rec)
	}
	ids := []slog.Attr{
		slog.String("trace_id", sc.TraceID().String()),
		slog.String("span_id", sc.SpanID().String()),
	}
	if len(h.steps) == 0 {
		rec.AddAttrs(ids...)
		return h.next.Handle(ctx, rec)
	}
	next := h.root.WithAttrs(ids)
	for _, s := range h.steps {
		next = s.apply(next)
	}
	return next.Handle(ctx, rec)
}

// WithAttrs returns a handler that adds attrs to every record, at the current group level.
func (h *traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	if len(h.steps) == 0 {
		root := h.root.WithAttrs(attrs)
		return &traceHandler{root: root, next: root}
	}
	return h.withStep(handlerStep{attrs: attrs})
}

// WithGroup returns a handler that nests the attributes added from now on under name.
func (h *traceHandler) WithGroup(name string) slog.Handler {
	if name == "" { // slog.Handler's contract: an empty name leaves the handler as it is
		return h
	}
	return h.withStep(handlerStep{group: name})
}

func (h *traceHandler) withStep(s handlerStep) *traceHandler {
	// A fresh slice, so that two loggers derived from the same parent never share steps.
	steps := make([]handlerStep, len(h.steps), len(h.steps)+1)
	copy(steps, h.steps)
	return &traceHandler{
		root:  h.root,
		steps: append(steps, s),
		next:  s.apply(h.next),
	}
}
