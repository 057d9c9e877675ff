package lifecycle

import (
	"context"
	"time"
)

// Every runs round every interval until ctx is done, then returns nil: the Run of a Worker
// that polls, such as a saga timeout sweeper or a reconciler. A round that fails is handed to
// failed (to log it) and tried again at the next tick: such workers are safety nets and must
// outlive the outages they are there for. Failures after ctx is done are shutdown noise and
// are not reported.
func Every(ctx context.Context, interval time.Duration, round func(context.Context) error, failed func(context.Context, error)) error {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		if err := round(ctx); err != nil && ctx.Err() == nil {
			failed(ctx, err)
		}
	}
}
