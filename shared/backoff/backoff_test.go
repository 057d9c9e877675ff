package backoff

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDelayStaysWithinJitterBounds(t *testing.T) {
	base, ceiling := 100*time.Millisecond, time.Second
	tests := []struct {
		attempt int
		lo, hi  time.Duration
	}{
		{1, 50 * time.Millisecond, 100 * time.Millisecond},
		{2, 100 * time.Millisecond, 200 * time.Millisecond},
		{4, 400 * time.Millisecond, 800 * time.Millisecond},
		{5, 500 * time.Millisecond, time.Second},
		{1000, 500 * time.Millisecond, time.Second}, // no overflow, capped
	}
	for _, tt := range tests {
		seen := map[time.Duration]bool{}
		for range 200 {
			got := Delay(tt.attempt, base, ceiling)
			if got < tt.lo || got > tt.hi {
				t.Fatalf("Delay(%d) = %v, want within [%v, %v]", tt.attempt, got, tt.lo, tt.hi)
			}
			seen[got] = true
		}
		if len(seen) < 10 {
			t.Errorf("Delay(%d) took only %d distinct values in 200 draws: no jitter", tt.attempt, len(seen))
		}
	}
	if got := Delay(3, 0, time.Second); got != 0 {
		t.Errorf("Delay with a zero base = %v, want 0", got)
	}
}

func TestSleep(t *testing.T) {
	if err := Sleep(t.Context(), time.Millisecond); err != nil {
		t.Errorf("Sleep = %v, want nil after the full wait", err)
	}
	cause := errors.New("shutting down")
	ctx, cancel := context.WithCancelCause(t.Context())
	cancel(cause)
	start := time.Now()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, cause) {
		t.Errorf("Sleep on a cancelled context = %v, want its cause", err)
	}
	if time.Since(start) > time.Second {
		t.Error("Sleep did not return when the context ended")
	}
	if err := Sleep(ctx, 0); !errors.Is(err, cause) {
		t.Errorf("Sleep(0) on a cancelled context = %v, want its cause", err)
	}
}
