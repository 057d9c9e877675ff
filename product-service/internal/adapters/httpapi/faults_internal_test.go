package httpapi

import (
	"testing"
	"time"
)

// TestSlowReadDelayHasABodyAndATail checks the slowness's distribution: 50-150 ms for most
// reads, 1-3 s for about one in ten.
func TestSlowReadDelayHasABodyAndATail(t *testing.T) {
	for _, c := range []struct {
		tail, within float64
		want         time.Duration
	}{
		{0.5, 0, 50 * time.Millisecond},
		{0.99, 0.5, 100 * time.Millisecond},
		{0.1, 0.999, 149_900 * time.Microsecond},
		{0.0, 0, time.Second},
		{0.09, 0.5, 2 * time.Second},
	} {
		if got := slowDelayFrom(c.tail, c.within); got != c.want {
			t.Errorf("slowDelayFrom(%v, %v) = %s, want %s", c.tail, c.within, got, c.want)
		}
	}
	const n = 20_000
	slow := 0
	for range n {
		d := slowReadDelay()
		switch {
		case d >= 50*time.Millisecond && d < 150*time.Millisecond:
		case d >= time.Second && d < 3*time.Second:
			slow++
		default:
			t.Fatalf("delay %s is outside 50-150 ms and 1-3 s", d)
		}
	}
	// One in ten, within many standard deviations (0.2 %) of it.
	if share := float64(slow) / n; share < 0.08 || share > 0.12 {
		t.Errorf("%.3f of the delays are over a second, want about 0.1", share)
	}
}
