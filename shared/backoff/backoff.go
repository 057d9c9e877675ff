// Package backoff is the one retry schedule tracecart uses wherever it waits before trying again:
// the HTTP client's retries, the Consul watcher after a failed query, and the Kafka consumer
// between attempts at a failing message.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Delay returns the wait before retry number attempt (counting from 1): it doubles from base up
// to maxDelay, and is drawn from the upper half of that value ("equal jitter"). Half fixed means a
// retry never comes at once; half random means clients that failed together do not retry in
// lockstep and hammer a recovering upstream all at the same moment.
func Delay(attempt int, base, maxDelay time.Duration) time.Duration {
	d := base
	for i := 1; i < attempt && d < maxDelay; i++ {
		d *= 2
	}
	d = min(d, maxDelay)
	if d <= 0 {
		return 0
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// Sleep waits for d, or until ctx ends, in which case it returns why ctx ended
// (context.Cause). A zero or negative d only checks ctx.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return context.Cause(ctx)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}
