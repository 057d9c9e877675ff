package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/tracecart/tracecart/shared/telemetry"
)

// setup runs telemetry.Setup with an in-memory span exporter and a buffer for the logs, and shuts
// the result down when the test ends.
func setup(t *testing.T) (*telemetry.Telemetry, *tracetest.InMemoryExporter, *bytes.Buffer) {
	t.Helper()
	exporter := tracetest.NewInMemoryExporter()
	var logs bytes.Buffer
	tel, err := telemetry.Setup(t.Context(), telemetry.Options{
		ServiceName:    "test-service",
		ServiceVersion: "1.2.3",
		Stdout:         &logs,
		SpanExporter:   exporter,
	})
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	t.Cleanup(func() {
		if err := tel.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return tel, exporter, &logs
}

// scrape fetches the metrics page the way Prometheus does; accept is the Accept header.
func scrape(t *testing.T, tel *telemetry.Telemetry, accept string) string {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	rec := httptest.NewRecorder()
	tel.MetricsHandler.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d, body:\n%s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

const openMetrics = "application/openmetrics-text; version=1.0.0; charset=utf-8"

func TestSetupRejectsMissingOptions(t *testing.T) {
	tests := []struct {
		name string
		opts telemetry.Options
	}{
		{"no service name", telemetry.Options{Stdout: io.Discard}},
		{"no stdout", telemetry.Options{ServiceName: "test-service"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tel, err := telemetry.Setup(t.Context(), tt.opts)
			if err == nil {
				t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
				t.Fatal("Setup succeeded, want an error")
			}
		})
	}
}

func TestSpansReachTheInjectedExporterWithTheResource(t *testing.T) {
	tel, exporter, _ := setup(t)

	_, span := tel.TracerProvider.Tracer("test").Start(t.Context(), "work")
	span.End()

	spans := exporter.GetSpans()
	if len(spans) != 1 || spans[0].Name != "work" {
		t.Fatalf("exported spans = %v, want one span named work", spans)
	}
	attrs := spans[0].Resource.Set()
	for _, want := range []attribute.KeyValue{
		semconv.ServiceName("test-service"),
		semconv.ServiceVersion("1.2.3"),
	} {
		if got, ok := attrs.Value(want.Key); !ok || got != want.Value {
			t.Errorf("resource %s = %q, want %q", want.Key, got.Emit(), want.Value.Emit())
		}
	}
	if _, ok := attrs.Value(semconv.ProcessPIDKey); !ok {
		t.Errorf("resource has no %s: %v", semconv.ProcessPIDKey, attrs)
	}
}

func TestEnvironmentOverridesTheResource(t *testing.T) {
	t.Setenv("OTEL_SERVICE_NAME", "renamed-service")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test")
	tel, exporter, _ := setup(t)

	_, span := tel.TracerProvider.Tracer("test").Start(t.Context(), "work")
	span.End()

	attrs := exporter.GetSpans()[0].Resource.Set()
	for key, want := range map[attribute.Key]string{
		semconv.ServiceNameKey:               "renamed-service",
		semconv.DeploymentEnvironmentNameKey: "test",
	} {
		if got, _ := attrs.Value(key); got.AsString() != want {
			t.Errorf("resource %s = %q, want %q", key, got.AsString(), want)
		}
	}
}

func TestSamplerOption(t *testing.T) {
	exporter := tracetest.NewInMemoryExporter()
	tel, err := telemetry.Setup(t.Context(), telemetry.Options{
		ServiceName:  "test-service",
		Stdout:       io.Discard,
		SpanExporter: exporter,
		Sampler:      sdktrace.NeverSample(),
	})
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })

	_, span := tel.TracerProvider.Tracer("test").Start(t.Context(), "work")
	span.End()

	if spans := exporter.GetSpans(); len(spans) != 0 {
		t.Errorf("exported %d spans with NeverSample, want none", len(spans))
	}
}

func TestExporterFromEnvironment(t *testing.T) {
	// "none" is the one exporter autoexport can build without a collector to send to; the point
	// is that a nil SpanExporter takes the OTEL_* path and that path works end to end.
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	tel, err := telemetry.Setup(t.Context(), telemetry.Options{ServiceName: "test-service", Stdout: io.Discard})
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	_, span := tel.TracerProvider.Tracer("test").Start(t.Context(), "work")
	span.End()
	if err := tel.Shutdown(t.Context()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

func TestShutdownIsSafeToRepeat(t *testing.T) {
	tel, err := telemetry.Setup(t.Context(), telemetry.Options{
		ServiceName:  "test-service",
		Stdout:       io.Discard,
		SpanExporter: tracetest.NewInMemoryExporter(),
	})
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	for i := range 2 {
		if err := tel.Shutdown(t.Context()); err != nil {
			t.Errorf("Shutdown call %d: %v", i+1, err)
		}
	}
	// Instrumentation that outlives Shutdown must not break the service.
	_, span := tel.TracerProvider.Tracer("test").Start(t.Context(), "late")
	span.End()
}

func TestLogLinesCarryTheSpan(t *testing.T) {
	tel, _, logs := setup(t)
	ctx, span := tel.TracerProvider.Tracer("test").Start(t.Context(), "work")
	defer span.End()
	sc := span.SpanContext()

	tests := []struct {
		name      string
		log       func()
		wantTrace bool
		wantAttr  string // a dotted path that must hold "v"
	}{
		{
			name:      "context with span",
			log:       func() { tel.Logger.InfoContext(ctx, "hello", "k", "v") },
			wantTrace: true,
			wantAttr:  "k",
		},
		{
			name:     "context without span",
			log:      func() { tel.Logger.InfoContext(t.Context(), "hello", "k", "v") },
			wantAttr: "k",
		},
		{
			name:      "logger with attributes",
			log:       func() { tel.Logger.With("k", "v").InfoContext(ctx, "hello") },
			wantTrace: true,
			wantAttr:  "k",
		},
		{
			name:      "logger with a group keeps the IDs at the top level",
			log:       func() { tel.Logger.WithGroup("order").With("k", "v").InfoContext(ctx, "hello") },
			wantTrace: true,
			wantAttr:  "order.k",
		},
		{
			name: "nested groups and attributes at each level",
			log: func() {
				tel.Logger.With("a", "x").WithGroup("g1").With("b", "x").WithGroup("g2").InfoContext(ctx, "hello", "k", "v")
			},
			wantTrace: true,
			wantAttr:  "g1.g2.k",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs.Reset()
			tt.log()
			line := decodeLine(t, logs.Bytes())

			if line["service"] != "test-service" {
				t.Errorf("service = %v, want test-service", line["service"])
			}
			if got := lookup(line, tt.wantAttr); got != "v" {
				t.Errorf("%s = %v, want v in %v", tt.wantAttr, got, line)
			}
			traceID, hasTrace := line["trace_id"]
			spanID, hasSpan := line["span_id"]
			if !tt.wantTrace {
				if hasTrace || hasSpan {
					t.Errorf("line has trace_id/span_id without a span: %v", line)
				}
				return
			}
			if traceID != sc.TraceID().String() || spanID != sc.SpanID().String() {
				t.Errorf("trace_id, span_id = %v, %v, want %s, %s", traceID, spanID, sc.TraceID(), sc.SpanID())
			}
		})
	}
}

func TestLogLevel(t *testing.T) {
	var logs bytes.Buffer
	tel, err := telemetry.Setup(t.Context(), telemetry.Options{
		ServiceName:  "test-service",
		Stdout:       &logs,
		LogLevel:     slog.LevelWarn,
		SpanExporter: tracetest.NewInMemoryExporter(),
	})
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })

	tel.Logger.Info("dropped")
	tel.Logger.Warn("kept")

	if got := logs.String(); strings.Contains(got, "dropped") || !strings.Contains(got, "kept") {
		t.Errorf("logs at level warn:\n%s", got)
	}
}

func TestMetricsHandlerServesMeterProviderMetrics(t *testing.T) {
	tel, _, _ := setup(t)
	counter, err := tel.MeterProvider.Meter("test").Int64Counter("tracecart.test.orders")
	if err != nil {
		t.Fatalf("create counter: %v", err)
	}
	counter.Add(t.Context(), 3, metric.WithAttributes(attribute.String("outcome", "confirmed")))

	body := scrape(t, tel, "")

	if !containsLine(body, "tracecart_test_orders_total{", `outcome="confirmed"`, "} 3") {
		t.Errorf("no tracecart_test_orders_total sample of 3 in:\n%s", body)
	}
}

func TestHistogramExemplarCarriesTheTraceID(t *testing.T) {
	tel, _, _ := setup(t)
	histogram, err := tel.MeterProvider.Meter("test").Float64Histogram("tracecart.test.duration", metric.WithUnit("s"))
	if err != nil {
		t.Fatalf("create histogram: %v", err)
	}
	ctx, span := tel.TracerProvider.Tracer("test").Start(t.Context(), "work")
	histogram.Record(ctx, 0.042)
	span.End()
	traceID := span.SpanContext().TraceID().String()

	body := scrape(t, tel, openMetrics)

	if !containsLine(body, "tracecart_test_duration_seconds_bucket{", ` # {`, `trace_id="`+traceID+`"`) {
		t.Errorf("no bucket with an exemplar for trace %s in:\n%s", traceID, body)
	}
	// The classic text format has no exemplars; Prometheus must ask for OpenMetrics.
	if body := scrape(t, tel, ""); strings.Contains(body, traceID) {
		t.Errorf("text format carries the exemplar too; the test above proves nothing")
	}
}

func TestRuntimeMetricsAreExported(t *testing.T) {
	tel, _, _ := setup(t)

	body := scrape(t, tel, "")

	// The names of go.opentelemetry.io/contrib/instrumentation/runtime's go.goroutine.count and
	// go.memory.used once the Prometheus exporter has added unit suffixes.
	for _, name := range []string{"go_goroutine_count{", "go_memory_used_bytes{"} {
		if !containsLine(body, name) {
			t.Errorf("no %s sample in:\n%s", name, body)
		}
	}
}

// decodeLine decodes the single JSON log line in b.
func decodeLine(t *testing.T, b []byte) map[string]any {
	t.Helper()
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) != 1 {
		t.Fatalf("got %d log lines, want 1:\n%s", len(lines), b)
	}
	var line map[string]any
	if err := json.Unmarshal(lines[0], &line); err != nil {
		t.Fatalf("log line is not JSON: %v\n%s", err, lines[0])
	}
	return line
}

// lookup follows a dotted path ("g1.g2.k") through nested JSON objects.
func lookup(m map[string]any, path string) any {
	var v any = m
	for key := range strings.SplitSeq(path, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = obj[key]
	}
	return v
}

// containsLine reports whether one line of body contains all parts, in order.
func containsLine(body string, parts ...string) bool {
	for line := range strings.Lines(body) {
		rest, ok := line, true
		for _, p := range parts {
			var found bool
			_, rest, found = strings.Cut(rest, p)
			ok = ok && found
		}
		if ok {
			return true
		}
	}
	return false
}

// TestSDKErrorsAreLoggedByTheirText checks the error handler Setup installs: an SDK error is one
// WARN line with the error's text, and a nil error (a caller's slip) is ignored, not a crash.
func TestSDKErrorsAreLoggedByTheirText(t *testing.T) {
	_, _, logs := setup(t)
	otel.Handle(nil)
	if logs.Len() != 0 {
		t.Errorf("otel.Handle(nil) logged %q, want nothing", logs.String())
	}
	otel.Handle(errors.New("exporter unreachable"))
	if got := logs.String(); !strings.Contains(got, `"level":"WARN"`) || !strings.Contains(got, `"error":"exporter unreachable"`) {
		t.Errorf("log = %q, want one WARN line with the error's text", got)
	}
}
