// Package featureflag reads tracecart's scenario flags: the faults a user of the demo can switch
// on to watch what they look like in traces, metrics and logs (docs/walkthroughs). Flags are
// evaluated through the OpenFeature Go SDK, from a file in flagd's format
// (infra/flags/demo.flagd.json) that is re-read while the service runs.
//
// Every evaluation that returns a variant other than "off" adds a feature_flag.evaluation event,
// with the OpenTelemetry semantic conventions' attributes, to the span in the context: the span
// the flag changed. Evaluations that leave behaviour alone are not recorded: the hot path
// evaluates flags on every request, and an event on every span would teach nothing and cost
// memory in every trace.
package featureflag

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	oftelemetry "github.com/open-feature/go-sdk/openfeature/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Off is the variant every flag has and starts in; it never changes behaviour.
const Off = "off"

// Flags evaluates scenario flags. The zero of *Flags (nil) evaluates every flag to its default,
// so code and tests that have no flag file need no special case.
type Flags struct {
	api      *openfeature.EvaluationAPI
	client   *openfeature.Client
	provider *fileProvider
}

// Option changes how Open watches the file.
type Option func(*options)

type options struct{ interval time.Duration }

// WithPollInterval sets how often the file is checked for changes (one second by default).
func WithPollInterval(d time.Duration) Option { return func(o *options) { o.interval = d } }

// Open reads the flag file at path and keeps re-reading it until Close. An empty path is no
// file at all: every flag evaluates to its default and Open returns nil, nil. A file that does
// not exist or does not parse is an error: a demo started with a broken flag file should say so
// at once rather than run without the scenario the user asked for.
//
// Open uses an OpenFeature API instance of its own (isolated), not the SDK's global one, for the
// same reason the services do not use OpenTelemetry's globals: what a component depends on is
// passed to it.
func Open(ctx context.Context, path string, log *slog.Logger, opts ...Option) (*Flags, error) {
	if path == "" {
		return nil, nil
	}
	o := options{interval: time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	provider, err := newFileProvider(path, o.interval, log)
	if err != nil {
		return nil, err
	}
	api := isolated.NewAPI()
	if err := api.SetProviderAndWait(ctx, provider); err != nil {
		provider.close()
		return nil, fmt.Errorf("feature flags: %w", err)
	}
	client := api.NewClient()
	client.AddHooks(spanEventHook{})
	return &Flags{api: api, client: client, provider: provider}, nil
}

// Close stops watching the file.
func (f *Flags) Close(ctx context.Context) error {
	if f == nil {
		return nil
	}
	err := f.api.Shutdown(ctx)
	f.provider.close()
	return err
}

// Bool evaluates a boolean flag; false when the flag is missing, disabled or of another type.
func (f *Flags) Bool(ctx context.Context, key string) bool {
	if f == nil {
		return false
	}
	return f.client.Boolean(ctx, key, false, openfeature.EvaluationContext{})
}

// Float evaluates a number flag; def when the flag is missing, disabled or of another type.
func (f *Flags) Float(ctx context.Context, key string, def float64) float64 {
	if f == nil {
		return def
	}
	return f.client.Float(ctx, key, def, openfeature.EvaluationContext{})
}

// String evaluates a string flag; def when the flag is missing, disabled or of another type.
func (f *Flags) String(ctx context.Context, key string, def string) string {
	if f == nil {
		return def
	}
	return f.client.String(ctx, key, def, openfeature.EvaluationContext{})
}

// spanEventHook records an evaluation on the span in the evaluation's context when the flag
// changed something (a variant other than off) or could not be evaluated.
type spanEventHook struct{ openfeature.UnimplementedHook }

func (spanEventHook) Finally(ctx context.Context, hc openfeature.HookContext, details openfeature.InterfaceEvaluationDetails, _ openfeature.HookHints) {
	if details.Variant == Off || (details.Variant == "" && details.Reason != openfeature.ErrorReason) {
		return
	}
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	event := oftelemetry.CreateEvaluationEvent(hc, details)
	attrs := make([]attribute.KeyValue, 0, len(event.Attributes))
	for k, v := range event.Attributes {
		switch v := v.(type) {
		case string:
			attrs = append(attrs, attribute.String(k, v))
		default:
			attrs = append(attrs, attribute.String(k, fmt.Sprint(v)))
		}
	}
	span.AddEvent(event.Name, trace.WithAttributes(attrs...))
}
