// Package buckets holds the bucket boundaries of tracecart's histograms, so that every
// histogram of a unit has bounds that fit that unit, and the same bounds wherever it is
// recorded: a dashboard can then compare the same quantile across services.
//
// The OpenTelemetry SDK's default boundaries (0, 5, 10, 25 ... 10000) were chosen for
// milliseconds. tracecart records durations in seconds, as the semantic conventions ask, so a
// histogram left on the defaults puts every request faster than five seconds in one bucket and
// every quantile computed from it is meaningless. Some semantic-convention helpers carry the
// boundaries the conventions recommend (httpconv's request durations, 5 ms to 10 s, which
// tracecart keeps); the messaging ones (messagingconv) carry none, so their call sites pass
// these explicitly:
//
//	messagingconv.NewProcessDuration(meter, metric.WithExplicitBucketBoundaries(buckets.Seconds()...))
//
// The telemetry package's tests check every histogram the shared packages create.
package buckets

// Seconds returns the boundaries for a duration in seconds: from half a millisecond (a message
// handled in memory, a write to a local broker) through the saga's targets (25 ms at the median,
// 100 ms at the 99th percentile) to 30 s, the longest any request or saga step is allowed to
// take. Each call returns a new slice, so a caller cannot change another's bounds.
func Seconds() []float64 {
	return []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
}
