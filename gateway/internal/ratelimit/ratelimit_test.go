package ratelimit

import (
	"errors"
	"testing"
	"time"
)

func TestAllow(t *testing.T) {
	start := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return start.Add(d) }
	type step struct {
		key       string
		at        time.Duration
		allowed   bool
		remaining int
		retry     time.Duration
		reset     time.Duration
	}
	tests := []struct {
		name  string
		limit Limit
		steps []step
	}{
		{
			name:  "a burst is allowed, then refused until a token is back",
			limit: Limit{Rate: 2, Burst: 3},
			steps: []step{
				{"a", 0, true, 2, 0, 500 * time.Millisecond},
				{"a", 0, true, 1, 0, time.Second},
				{"a", 0, true, 0, 0, 1500 * time.Millisecond},
				{"a", 0, false, 0, 500 * time.Millisecond, 1500 * time.Millisecond},
				{"a", 250 * time.Millisecond, false, 0, 250 * time.Millisecond, 1250 * time.Millisecond},
				{"a", 500 * time.Millisecond, true, 0, 0, 1500 * time.Millisecond},
			},
		},
		{
			name:  "clients have separate buckets",
			limit: Limit{Rate: 1, Burst: 1},
			steps: []step{
				{"a", 0, true, 0, 0, time.Second},
				{"a", 0, false, 0, time.Second, time.Second},
				{"b", 0, true, 0, 0, time.Second},
			},
		},
		{
			name:  "a bucket refills to its size, no further",
			limit: Limit{Rate: 10, Burst: 2},
			steps: []step{
				{"a", 0, true, 1, 0, 100 * time.Millisecond},
				{"a", time.Hour, true, 1, 0, 100 * time.Millisecond},
				{"a", time.Hour, true, 0, 0, 200 * time.Millisecond},
				{"a", time.Hour, false, 0, 100 * time.Millisecond, 200 * time.Millisecond},
			},
		},
		{
			name:  "a clock going backwards adds no tokens",
			limit: Limit{Rate: 1, Burst: 1},
			steps: []step{
				{"a", time.Second, true, 0, 0, time.Second},
				{"a", 0, false, 0, time.Second, time.Second},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := New(tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tt.steps {
				d := l.Allow(s.key, at(s.at))
				want := Decision{Allowed: s.allowed, Limit: tt.limit.Burst, Remaining: s.remaining, RetryAfter: s.retry, Reset: s.reset}
				if !closeEnough(d, want) {
					t.Fatalf("step %d (%s at %v) = %+v, want %+v", i+1, s.key, s.at, d, want)
				}
			}
		})
	}
}

// closeEnough compares decisions, allowing float rounding in the durations.
func closeEnough(got, want Decision) bool {
	near := func(a, b time.Duration) bool { return (a - b).Abs() < time.Microsecond }
	return got.Allowed == want.Allowed && got.Limit == want.Limit && got.Remaining == want.Remaining &&
		near(got.RetryAfter, want.RetryAfter) && near(got.Reset, want.Reset)
}

func TestSweepDropsRefilledBuckets(t *testing.T) {
	l, err := New(Limit{Rate: 1, Burst: 2}) // window: 2s
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	l.Allow("idle", start)
	l.Allow("busy", start)
	if n := l.Clients(); n != 2 {
		t.Fatalf("%d buckets, want 2", n)
	}
	l.Allow("busy", start.Add(1500*time.Millisecond))
	l.Allow("busy", start.Add(2500*time.Millisecond)) // "idle" has refilled by now; "busy" has not
	if n := l.Clients(); n != 1 {
		t.Fatalf("%d buckets after the sweep, want 1: only the refilled one may go", n)
	}
	// Dropping a full bucket loses nothing: the client starts again with a full bucket.
	if d := l.Allow("idle", start.Add(3*time.Second)); !d.Allowed || d.Remaining != 1 {
		t.Fatalf("returning client = %+v, want a full bucket", d)
	}
}

func TestNewRejectsLimitsThatRefuseEverything(t *testing.T) {
	for _, limit := range []Limit{{Rate: 0, Burst: 1}, {Rate: -1, Burst: 1}, {Rate: 1, Burst: 0}} {
		if _, err := New(limit); !errors.Is(err, ErrInvalidLimit) {
			t.Errorf("New(%+v) = %v, want ErrInvalidLimit", limit, err)
		}
	}
}
