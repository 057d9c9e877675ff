package httpclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"
)

func TestBreakerOpensRejectsAndRecovers(t *testing.T) {
	up := startUpstream(t, http.StatusInternalServerError)
	tel := newTelemetry(t)
	client := tel.client(t, Options{Breaker: BreakerSettings{MinimumCalls: 3, OpenTimeout: 200 * time.Millisecond}})
	url := up.server.URL + "/products/42"
	get := func() (int, error) { return call(t, client, newRequest(t, http.MethodGet, url, nil)) }

	// Closed: failures reach the caller as they are, and are counted.
	for i := range 3 {
		if status, err := get(); err != nil || status != http.StatusInternalServerError {
			t.Fatalf("call %d = %d, %v; want the upstream's 500", i+1, status, err)
		}
	}
	assertBreakerState(t, tel, up.host(), 2)

	// Open: rejected at once, the upstream is not called.
	if _, err := get(); !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("call after 3 failures = %v, want ErrCircuitOpen", err)
	}
	if hits := up.hits.Load(); hits != 3 {
		t.Fatalf("upstream hit %d times, want 3: an open breaker must not call it", hits)
	}
	if rejected, _ := tel.metricValue(t, BreakerRejectedMetric, up.host()); rejected != 1 {
		t.Errorf("%s = %d, want 1", BreakerRejectedMetric, rejected)
	}

	// After the open timeout one trial call goes through; it fails, so the breaker opens again.
	waitFor(t, "a trial call to reach the upstream", func() error {
		if _, err := get(); errors.Is(err, ErrCircuitOpen) {
			return err
		}
		return nil
	})
	if hits := up.hits.Load(); hits != 4 {
		t.Fatalf("upstream hit %d times, want 4: one trial call", hits)
	}
	assertBreakerState(t, tel, up.host(), 2)

	// The upstream recovers: the next trial call succeeds and closes the breaker.
	up.status.Store(http.StatusOK)
	waitFor(t, "the breaker to let a call through again", func() error {
		status, err := get()
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			return fmt.Errorf("status %d", status)
		}
		return nil
	})
	assertBreakerState(t, tel, up.host(), 0)
	if status, err := get(); err != nil || status != http.StatusOK {
		t.Fatalf("call after recovery = %d, %v; want 200", status, err)
	}

	want := []string{"closed→open", "open→half-open", "half-open→open", "open→half-open", "half-open→closed"}
	if got := stateChangeEvents(tel, up.host()); !slices.Equal(got, want) {
		t.Errorf("%s span events = %v, want %v", BreakerStateChangeEvent, got, want)
	}
}

func TestBreakerIgnoresClientErrors(t *testing.T) {
	up := startUpstream(t, http.StatusNotFound)
	tel := newTelemetry(t)
	client := tel.client(t, Options{Breaker: BreakerSettings{MinimumCalls: 2}})

	for i := range 5 {
		status, err := call(t, client, newRequest(t, http.MethodGet, up.server.URL+"/products/missing", nil))
		if err != nil || status != http.StatusNotFound {
			t.Fatalf("call %d = %d, %v; want the upstream's 404", i+1, status, err)
		}
	}
	if hits := up.hits.Load(); hits != 5 {
		t.Errorf("upstream hit %d times, want all 5 calls: 4xx must not open the breaker", hits)
	}
	assertBreakerState(t, tel, up.host(), 0)
}

func TestBreakerCountsTransportErrors(t *testing.T) {
	addr := closedAddr(t)
	tel := newTelemetry(t)
	client := tel.client(t, Options{
		Breaker: BreakerSettings{MinimumCalls: 2},
		Retry:   RetryPolicy{MaxAttempts: 1},
	})
	url := "http://" + addr + "/products"

	for i := range 2 {
		_, err := call(t, client, newRequest(t, http.MethodGet, url, nil))
		if err == nil || errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("call %d = %v, want a connection error", i+1, err)
		}
	}
	if _, err := call(t, client, newRequest(t, http.MethodGet, url, nil)); !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("third call = %v, want ErrCircuitOpen after two connection errors", err)
	}
	assertBreakerState(t, tel, addr, 2)
}

func TestBreakerKeepsUpstreamsApart(t *testing.T) {
	failing, healthy := startUpstream(t, http.StatusInternalServerError), startUpstream(t, http.StatusOK)
	tel := newTelemetry(t)
	client := tel.client(t, Options{Breaker: BreakerSettings{MinimumCalls: 1}})

	if status, _ := call(t, client, newRequest(t, http.MethodGet, failing.server.URL, nil)); status != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", status)
	}
	if _, err := call(t, client, newRequest(t, http.MethodGet, failing.server.URL, nil)); !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("failing upstream: %v, want ErrCircuitOpen", err)
	}
	if status, err := call(t, client, newRequest(t, http.MethodGet, healthy.server.URL, nil)); err != nil || status != http.StatusOK {
		t.Fatalf("healthy upstream = %d, %v; want 200 while another upstream's breaker is open", status, err)
	}
}

func TestOutcome(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	connErr := errors.New("connection refused")
	tests := []struct {
		name   string
		ctx    context.Context
		status int
		err    error
		want   error
	}{
		{"2xx is a success", context.Background(), http.StatusOK, nil, nil},
		{"4xx is the caller's mistake, a success for the upstream", context.Background(), http.StatusConflict, nil, nil},
		{"500 is a failure", context.Background(), http.StatusInternalServerError, nil, errUnwell},
		{"502 is a failure", context.Background(), http.StatusBadGateway, nil, errUnwell},
		{"503 is a failure", context.Background(), http.StatusServiceUnavailable, nil, errUnwell},
		{"504 is a failure", context.Background(), http.StatusGatewayTimeout, nil, errUnwell},
		{"501 is about the request, not the upstream's health", context.Background(), http.StatusNotImplemented, nil, nil},
		{"429 is the caller's rate, not the upstream's health", context.Background(), http.StatusTooManyRequests, nil, nil},
		{"a transport error is a failure", context.Background(), 0, connErr, connErr},
		{"a timeout is a failure", context.Background(), 0, context.DeadlineExceeded, context.DeadlineExceeded},
		{"a call the caller cancelled is not counted", canceled, 0, context.Canceled, errCallerCanceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp *http.Response
			if tt.err == nil {
				resp = &http.Response{StatusCode: tt.status}
			}
			if got := outcome(tt.ctx, resp, tt.err); !errors.Is(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("outcome = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBreakerPolicy(t *testing.T) {
	s := BreakerSettings{}.withDefaults() // 50 % of at least 20 calls
	tests := []struct {
		name                string
		successes, failures uint32
		inFlight            uint32
		want                bool
	}{
		{"nothing yet", 0, 0, 0, false},
		{"every call failed, but too few to judge", 0, 19, 0, false},
		{"calls under way are not judged", 0, 19, 50, false},
		{"every call failed, enough of them", 0, 20, 0, true},
		{"exactly the ratio", 10, 10, 0, true},
		{"just under the ratio", 11, 9, 0, false},
		{"one client's failures diluted by everyone's successes", 95, 5, 0, false},
		{"most of a busy window failed", 40, 60, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := gobreaker.Counts{
				Requests:       tt.successes + tt.failures + tt.inFlight,
				TotalSuccesses: tt.successes,
				TotalFailures:  tt.failures,
			}
			if got := s.readyToTrip(c); got != tt.want {
				t.Errorf("readyToTrip(%+v) = %t, want %t", c, got, tt.want)
			}
		})
	}
}

func TestBreakerSettingsValidate(t *testing.T) {
	tests := []struct {
		s      BreakerSettings
		wantOK bool
	}{
		{BreakerSettings{}, true},
		{BreakerSettings{FailureRatio: 1}, true},
		{BreakerSettings{FailureRatio: 1.5}, false},
		{BreakerSettings{FailureRatio: -0.1}, false},
		{BreakerSettings{Window: -time.Second}, false},
		{BreakerSettings{OpenTimeout: -time.Second}, false},
	}
	for _, tt := range tests {
		if err := tt.s.Validate(); (err == nil) != tt.wantOK {
			t.Errorf("%+v.Validate() = %v, want ok %t", tt.s, err, tt.wantOK)
		}
	}
}

// TestOneClientsFailuresDoNotOpenASharedBreaker is the reason for the policy: failures that one
// client causes, mixed into everybody else's traffic, leave the breaker closed, where five
// consecutive failures used to open it for everyone.
func TestOneClientsFailuresDoNotOpenASharedBreaker(t *testing.T) {
	up := startUpstream(t, http.StatusOK)
	tel := newTelemetry(t)
	client := tel.client(t, Options{Retry: RetryPolicy{MaxAttempts: 1}}) // the default policy
	url := up.server.URL + "/products"

	for i := range 60 {
		// Normal traffic, then runs of five failures (which opened the old breaker) in every
		// twelve calls.
		if hostile := i >= 12 && i%12 < 5; hostile {
			up.status.Store(http.StatusInternalServerError)
		} else {
			up.status.Store(http.StatusOK)
		}
		status, err := call(t, client, newRequest(t, http.MethodGet, url, nil))
		if err != nil {
			t.Fatalf("call %d: %v; the breaker opened on one client's failures", i+1, err)
		}
		if want := int(up.status.Load()); status != want {
			t.Fatalf("call %d = %d, want %d", i+1, status, want)
		}
	}
	assertBreakerState(t, tel, up.host(), 0)
}

// TestBreakerForgetsFailuresOlderThanTheWindow: failures that fell out of the window do not add
// up with new ones.
func TestBreakerForgetsFailuresOlderThanTheWindow(t *testing.T) {
	up := startUpstream(t, http.StatusInternalServerError)
	tel := newTelemetry(t)
	const window = 200 * time.Millisecond
	client := tel.client(t, Options{Breaker: BreakerSettings{MinimumCalls: 4, Window: window}, Retry: RetryPolicy{MaxAttempts: 1}})
	get := func() error {
		_, err := call(t, client, newRequest(t, http.MethodGet, up.server.URL, nil))
		return err
	}

	for range 3 {
		if err := get(); err != nil {
			t.Fatalf("call below the minimum: %v", err)
		}
	}
	time.Sleep(window + window/2)
	for i := range 3 {
		if err := get(); err != nil {
			t.Fatalf("call %d after the window rolled on: %v, want the old failures forgotten", i+1, err)
		}
	}
	// The fourth failure inside one window is enough.
	if err := get(); err != nil {
		t.Fatalf("fourth call in the window: %v", err)
	}
	if err := get(); !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("call after four failures in the window = %v, want ErrCircuitOpen", err)
	}
}

// assertBreakerState checks the state gauge for upstream: 0 closed, 1 half-open, 2 open.
func assertBreakerState(t *testing.T, tel *telemetry, upstream string, want int64) {
	t.Helper()
	got, found := tel.metricValue(t, BreakerStateMetric, upstream)
	if !found || got != want {
		t.Errorf("%s{upstream=%s} = %d (reported: %v), want %d", BreakerStateMetric, upstream, got, found, want)
	}
}

// stateChangeEvents returns the breaker's transitions for upstream, as "from→to", in the order
// the client spans recorded them.
func stateChangeEvents(tel *telemetry, upstream string) []string {
	var changes []string
	for _, span := range tel.spans.Ended() {
		for _, e := range span.Events() {
			if e.Name != BreakerStateChangeEvent {
				continue
			}
			var from, to, up string
			for _, a := range e.Attributes {
				switch a.Key {
				case "from":
					from = a.Value.AsString()
				case "to":
					to = a.Value.AsString()
				case "upstream":
					up = a.Value.AsString()
				}
			}
			if up == upstream {
				changes = append(changes, from+"→"+to)
			}
		}
	}
	return changes
}
