package telemetry_test

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/tracecart/tracecart/shared/httpclient"
	"github.com/tracecart/tracecart/shared/httpserver"
	"github.com/tracecart/tracecart/shared/kafka"
	"github.com/tracecart/tracecart/shared/outbox"
)

// TestHistogramBucketsFitTheirUnit creates the instruments of every shared package that
// records a histogram, through a MeterProvider that notes each histogram's name, unit and
// explicit bucket boundaries, and checks that every duration histogram has bounds in seconds.
// A histogram created without boundaries gets the SDK's defaults (0, 5, 10 ... 10000, meant
// for milliseconds); on a value in seconds every observation under five seconds then falls in
// one bucket, which is what this test is here to catch.
func TestHistogramBucketsFitTheirUnit(t *testing.T) {
	rec := &recordingProvider{}
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))

	if _, err := httpserver.NewRouter(httpserver.RouterOptions{ServiceName: "test", Logger: discard, MeterProvider: rec}); err != nil {
		t.Fatal(err)
	}
	if _, err := httpclient.New(httpclient.Options{MeterProvider: rec, Logger: discard}); err != nil {
		t.Fatal(err)
	}
	producer := kafka.NewProducer([]string{"127.0.0.1:1"}, kafka.ProducerOptions{MeterProvider: rec})
	t.Cleanup(func() { producer.Close() })
	consumer := kafka.NewConsumer([]string{"127.0.0.1:1"}, kafka.ConsumerOptions{
		GroupID: "test", Topics: []string{"test"}, MeterProvider: rec, Logger: discard,
	})
	t.Cleanup(func() { consumer.Close() })
	outbox.NewRelay(nil, producer, outbox.RelayOptions{MeterProvider: rec, Logger: discard})

	got := rec.histograms()
	// The instruments this test knows to exist: if one disappears from the list, it is no
	// longer created through the provider it was given, and the check below would pass for
	// want of anything to check.
	for _, name := range []string{
		"http.server.request.duration",
		"http.client.request.duration",
		"messaging.client.operation.duration",
		"messaging.process.duration",
	} {
		if !slices.ContainsFunc(got, func(h histogram) bool { return h.name == name }) {
			t.Errorf("no histogram %s was created", name)
		}
	}
	for _, h := range got {
		if err := h.check(); err != nil {
			t.Error(err)
		} else {
			t.Logf("%s (%s) %s: bounds %v", h.name, h.scope, h.unit, h.bounds)
		}
	}
}

// TestHistogramCheckCatchesTheSDKDefaults makes sure the check above can fail: a seconds
// histogram left on the SDK's default boundaries, and one whose first bound is over a second,
// are both refused, while bounds that fit pass.
func TestHistogramCheckCatchesTheSDKDefaults(t *testing.T) {
	for _, tc := range []struct {
		h    histogram
		fits bool
	}{
		{histogram{name: "sdk.defaults", unit: "s"}, false},
		{histogram{name: "first.bound.too.big", unit: "s", bounds: []float64{2, 5, 10}}, false},
		{histogram{name: "nothing.above.a.second", unit: "s", bounds: []float64{0.001, 0.01, 0.1}}, false},
		{histogram{name: "unsorted", unit: "s", bounds: []float64{0.01, 0.001, 1, 10}}, false},
		{histogram{name: "fits", unit: "s", bounds: []float64{0.005, 0.1, 1, 10}}, true},
		{histogram{name: "not.a.duration", unit: "By"}, true},
	} {
		err := tc.h.check()
		if (err == nil) != tc.fits {
			t.Errorf("%s with bounds %v: check() = %v, want fits %v", tc.h.name, tc.h.bounds, err, tc.fits)
		}
	}
}

// histogram is what a histogram was created with.
type histogram struct {
	scope, name, unit string
	bounds            []float64 // nil when the instrument set none: the SDK's defaults apply
}

// check reports whether a histogram's bounds fit its unit. For seconds: the first bound above
// zero is at most one second (the SDK's defaults start at 5) and the last at least one second,
// in increasing order. Histograms of other units are not durations and are not checked.
func (h histogram) check() error {
	if h.unit != "s" {
		return nil
	}
	bounds := h.bounds
	if bounds == nil {
		bounds = sdkDefaultBounds()
	}
	if !slices.IsSorted(bounds) {
		return fmt.Errorf("%s: bounds %v are not in increasing order", h.name, bounds)
	}
	i := slices.IndexFunc(bounds, func(b float64) bool { return b > 0 })
	if i < 0 || bounds[i] > 1 {
		return fmt.Errorf("%s is in seconds but its first bucket bound above zero is over one second (bounds %v; nil bounds mean the SDK's millisecond defaults): pass metric.WithExplicitBucketBoundaries(buckets.Seconds()...)", h.name, bounds)
	}
	if bounds[len(bounds)-1] < 1 {
		return fmt.Errorf("%s is in seconds but its last bucket bound is under one second (bounds %v): every slow observation falls in the overflow bucket", h.name, bounds)
	}
	return nil
}

// sdkDefaultBounds are the boundaries the SDK gives a histogram that asks for none.
func sdkDefaultBounds() []float64 {
	agg := sdkmetric.DefaultAggregationSelector(sdkmetric.InstrumentKindHistogram)
	return agg.(sdkmetric.AggregationExplicitBucketHistogram).Boundaries
}

// recordingProvider is a MeterProvider whose meters note every histogram created through them
// and otherwise do nothing.
type recordingProvider struct {
	noop.MeterProvider

	mu   sync.Mutex
	seen []histogram
}

func (p *recordingProvider) Meter(name string, _ ...metric.MeterOption) metric.Meter {
	return &recordingMeter{Meter: noop.NewMeterProvider().Meter(name), provider: p, scope: name}
}

func (p *recordingProvider) add(h histogram) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen = append(p.seen, h)
}

func (p *recordingProvider) histograms() []histogram {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.seen)
}

// recordingMeter notes histograms; every other instrument is the no-op meter's.
type recordingMeter struct {
	metric.Meter
	provider *recordingProvider
	scope    string
}

func (m *recordingMeter) Float64Histogram(name string, opts ...metric.Float64HistogramOption) (metric.Float64Histogram, error) {
	cfg := metric.NewFloat64HistogramConfig(opts...)
	m.provider.add(histogram{scope: m.scope, name: name, unit: cfg.Unit(), bounds: cfg.ExplicitBucketBoundaries()})
	return m.Meter.Float64Histogram(name, opts...)
}

func (m *recordingMeter) Int64Histogram(name string, opts ...metric.Int64HistogramOption) (metric.Int64Histogram, error) {
	cfg := metric.NewInt64HistogramConfig(opts...)
	m.provider.add(histogram{scope: m.scope, name: name, unit: cfg.Unit(), bounds: cfg.ExplicitBucketBoundaries()})
	return m.Meter.Int64Histogram(name, opts...)
}
