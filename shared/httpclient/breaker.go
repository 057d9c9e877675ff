package httpclient

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// ErrCircuitOpen is returned, wrapped, for calls the breaker of their upstream rejected without
// sending them, because the upstream has been failing.
var ErrCircuitOpen = errors.New("circuit breaker open")

// Names of the breaker's telemetry. In Prometheus they appear as http_client_breaker_state and
// http_client_breaker_rejected_total; the span event is attached to the client span of the
// request during which the breaker changed state.
const (
	// BreakerStateMetric is a gauge per upstream: 0 closed, 1 half-open, 2 open.
	BreakerStateMetric = "http.client.breaker.state"
	// BreakerRejectedMetric counts calls rejected while a breaker was open.
	BreakerRejectedMetric = "http.client.breaker.rejected"
	// BreakerStateChangeEvent is the span event recorded on every transition, with the
	// attributes upstream, from and to.
	BreakerStateChangeEvent = "breaker.state_change"
)

// BreakerSettings tunes every per-upstream breaker. Zero fields take the defaults in
// parentheses.
//
// The policy is the one Polly (.NET) and resilience4j (Java) use, a failure rate over a rolling
// window with a minimum number of calls, and not "n failures in a row": a breaker shared by every
// client must not open because one client's requests fail. Over the last Window, once at least
// MinimumCalls calls have finished, the breaker opens if FailureRatio or more of them failed. A
// handful of failures in a busy window are diluted by everyone else's successes; in a quiet one
// they are too few to count. Only a sustained share of failures, which is what an unwell upstream
// produces, opens it.
type BreakerSettings struct {
	// FailureRatio is the share of failed calls in the window, from 0 to 1, at which the breaker
	// opens (0.5).
	FailureRatio float64
	// MinimumCalls is how many calls must have finished in the window before the breaker
	// judges the upstream at all (20).
	MinimumCalls uint32
	// Window is how far back the breaker looks (10s). It rolls forward in tenths, so a failure
	// stops counting about Window after it happened.
	Window time.Duration
	// OpenTimeout is how long an open breaker rejects calls before it lets a trial call
	// through (5s).
	OpenTimeout time.Duration
	// HalfOpenCalls is how many trial calls a half-open breaker lets through; as many
	// successes close it, one failure opens it again (1).
	HalfOpenCalls uint32
}

// windowBuckets is how many parts the window rolls forward in.
const windowBuckets = 10

func (s BreakerSettings) withDefaults() BreakerSettings {
	s.FailureRatio = cmp.Or(s.FailureRatio, 0.5)
	s.MinimumCalls = cmp.Or(s.MinimumCalls, 20)
	s.Window = cmp.Or(s.Window, 10*time.Second)
	s.OpenTimeout = cmp.Or(s.OpenTimeout, 5*time.Second)
	s.HalfOpenCalls = cmp.Or(s.HalfOpenCalls, 1)
	return s
}

// Validate reports settings that cannot work: a ratio outside (0, 1] or a negative duration.
// Zero values are fine: they mean the defaults.
func (s BreakerSettings) Validate() error {
	var errs []error
	if s.FailureRatio < 0 || s.FailureRatio > 1 {
		errs = append(errs, fmt.Errorf("breaker failure ratio %g is not between 0 and 1", s.FailureRatio))
	}
	if s.Window < 0 || s.OpenTimeout < 0 {
		errs = append(errs, fmt.Errorf("breaker window %s and open timeout %s must not be negative", s.Window, s.OpenTimeout))
	}
	return errors.Join(errs...)
}

// readyToTrip is the policy: enough calls finished in the window, and too large a share failed.
func (s BreakerSettings) readyToTrip(c gobreaker.Counts) bool {
	finished := c.TotalSuccesses + c.TotalFailures // Requests also counts calls still under way
	return finished >= s.MinimumCalls && float64(c.TotalFailures) >= s.FailureRatio*float64(finished)
}

// BreakerTransport keeps one circuit breaker per upstream (the URL's host, which is the service
// name before resolution), so one failing service does not cut a client off from the others.
//
// Only what says the upstream is unwell counts as a failure: a transport error (including a
// timeout) and the answers 500, 502, 503 and 504. A 4xx means the upstream is healthy and the
// request was wrong; other 5xx (501 Not Implemented, 505 HTTP Version Not Supported, ...) are
// about the request too; and a call the caller cancelled says nothing about the upstream at all.
// 500 is counted because tracecart's services answer it only for their own faults: every input
// check happens at their edge (shared/httpserver), so no request, however hostile, can make one
// answer 500, and a 500 that a client can cause is a bug to fix there, not a reason to trust the
// breaker less. Any answer still reaches the caller unchanged: the breaker only keeps score.
// While a breaker is open, calls fail at once with an error wrapping ErrCircuitOpen.
type BreakerTransport struct {
	next     http.RoundTripper
	settings BreakerSettings
	logger   *slog.Logger
	rejected metric.Int64Counter

	mu       sync.Mutex
	breakers map[string]*breaker
}

var _ http.RoundTripper = (*BreakerTransport)(nil)

// NewBreakerTransport returns a BreakerTransport in front of next that reports breaker states
// and rejections through meter and state changes through logger. A nil meter or logger means
// the OpenTelemetry global meter provider's or slog.Default().
func NewBreakerTransport(next http.RoundTripper, s BreakerSettings, meter metric.Meter, logger *slog.Logger) (*BreakerTransport, error) {
	if meter == nil {
		meter = otel.GetMeterProvider().Meter(instrumentationScope)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	t := &BreakerTransport{
		next:     next,
		settings: s.withDefaults(),
		logger:   cmp.Or(logger, slog.Default()),
		breakers: make(map[string]*breaker),
	}
	var err error
	t.rejected, err = meter.Int64Counter(BreakerRejectedMetric,
		metric.WithDescription("Calls rejected by an open circuit breaker, per upstream."),
		metric.WithUnit("{call}"))
	if err != nil {
		return nil, fmt.Errorf("create %s counter: %w", BreakerRejectedMetric, err)
	}
	_, err = meter.Int64ObservableGauge(BreakerStateMetric,
		metric.WithDescription("Circuit breaker state per upstream: 0 closed, 1 half-open, 2 open."),
		metric.WithUnit("{state}"),
		metric.WithInt64Callback(t.observeStates))
	if err != nil {
		return nil, fmt.Errorf("create %s gauge: %w", BreakerStateMetric, err)
	}
	return t, nil
}

// RoundTrip sends req through the breaker of its upstream.
func (t *BreakerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	b := t.breakerFor(req.URL.Host)
	done, err := b.allow(ctx)
	if err != nil {
		closeBody(req)
		t.rejected.Add(ctx, 1, metric.WithAttributeSet(b.attrs))
		return nil, fmt.Errorf("upstream %s: %w", b.upstream, ErrCircuitOpen)
	}
	resp, err := t.next.RoundTrip(req)
	b.finish(ctx, done, outcome(ctx, resp, err))
	return resp, err
}

// breakerFor returns the breaker of upstream, creating it on first use.
func (t *BreakerTransport) breakerFor(upstream string) *breaker {
	t.mu.Lock()
	defer t.mu.Unlock()
	b, ok := t.breakers[upstream]
	if !ok {
		b = newBreaker(upstream, t.settings, t.logger)
		t.breakers[upstream] = b
	}
	return b
}

// observeStates reports every breaker's state to the gauge.
func (t *BreakerTransport) observeStates(_ context.Context, o metric.Int64Observer) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, b := range t.breakers {
		o.Observe(stateValue(gobreaker.State(b.state.Load())), metric.WithAttributeSet(b.attrs))
	}
	return nil
}

// Outcomes as the breaker books them. Callers never see these errors.
var (
	errUnwell         = errors.New("upstream answered that it is unwell")
	errCallerCanceled = errors.New("caller canceled the call")
)

// outcome classifies a finished call for the breaker: nil is a success, errCallerCanceled is
// not counted, anything else is a failure (see BreakerTransport for why these).
func outcome(ctx context.Context, resp *http.Response, err error) error {
	switch {
	case err != nil && errors.Is(ctx.Err(), context.Canceled):
		return errCallerCanceled
	case err != nil:
		return err
	}
	switch resp.StatusCode {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return fmt.Errorf("%w: %d", errUnwell, resp.StatusCode)
	}
	return nil
}

// stateValue maps a breaker state to the gauge's value.
func stateValue(s gobreaker.State) int64 {
	switch s {
	case gobreaker.StateHalfOpen:
		return 1
	case gobreaker.StateOpen:
		return 2
	default:
		return 0
	}
}

// breaker is the circuit breaker of one upstream.
//
// gobreaker announces state changes through a callback that knows nothing of the request that
// caused them. To put each change on that request's span, calls into the gobreaker are
// serialised by mu (they are short: the call to the upstream is not inside), the callback
// queues the change, and the request that made the call reports it with its own context.
type breaker struct {
	upstream string
	attrs    attribute.Set
	logger   *slog.Logger
	cb       *gobreaker.TwoStepCircuitBreaker[struct{}]
	// state mirrors the gobreaker's state for the gauge. Asking the gobreaker itself could
	// move it from open to half-open outside any request, and that change would be reported
	// by nobody. So the gauge shows an open breaker as open until a call after OpenTimeout
	// finds it half-open.
	state atomic.Int64

	mu      sync.Mutex
	changes []stateChange
}

type stateChange struct{ from, to gobreaker.State }

func newBreaker(upstream string, s BreakerSettings, logger *slog.Logger) *breaker {
	b := &breaker{
		upstream: upstream,
		attrs:    attribute.NewSet(attribute.String("upstream", upstream)),
		logger:   logger,
	}
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:         upstream,
		MaxRequests:  s.HalfOpenCalls,
		Interval:     s.Window,
		BucketPeriod: max(s.Window/windowBuckets, time.Millisecond),
		Timeout:      s.OpenTimeout,
		ReadyToTrip:  s.readyToTrip,
		IsExcluded:   func(err error) bool { return errors.Is(err, errCallerCanceled) },
		// Called by the gobreaker inside allow or finish, so with mu held.
		OnStateChange: func(_ string, from, to gobreaker.State) {
			b.state.Store(int64(to))
			b.changes = append(b.changes, stateChange{from, to})
		},
	})
	return b
}

// allow asks the breaker whether a call may go out. If so, finish must be called with the
// returned done once the call is over.
func (b *breaker) allow(ctx context.Context) (done func(error), err error) {
	b.mu.Lock()
	done, err = b.cb.Allow()
	changes := b.takeChanges()
	b.mu.Unlock()
	b.report(ctx, changes)
	return done, err
}

// finish tells the breaker how a call it allowed went.
func (b *breaker) finish(ctx context.Context, done func(error), outcome error) {
	b.mu.Lock()
	done(outcome)
	changes := b.takeChanges()
	b.mu.Unlock()
	b.report(ctx, changes)
}

func (b *breaker) takeChanges() []stateChange {
	changes := b.changes
	b.changes = nil
	return changes
}

// report puts state changes on the span of the request that caused them and in the log.
func (b *breaker) report(ctx context.Context, changes []stateChange) {
	span := trace.SpanFromContext(ctx)
	for _, c := range changes {
		span.AddEvent(BreakerStateChangeEvent, trace.WithAttributes(
			attribute.String("upstream", b.upstream),
			attribute.String("from", c.from.String()),
			attribute.String("to", c.to.String()),
		))
		level := slog.LevelInfo
		if c.to == gobreaker.StateOpen {
			level = slog.LevelWarn
		}
		b.logger.LogAttrs(ctx, level, "circuit breaker state changed",
			slog.String("upstream", b.upstream), slog.String("from", c.from.String()), slog.String("to", c.to.String()))
	}
}
