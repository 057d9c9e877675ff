package lifecycle_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tracecart/tracecart/shared/lifecycle"
)

func TestEveryRunsRoundsReportsFailuresAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	var rounds, failures atomic.Int64
	done := make(chan error, 1)
	go func() {
		done <- lifecycle.Every(ctx, time.Millisecond, func(context.Context) error {
			if rounds.Add(1)%2 == 0 {
				return errors.New("database unreachable")
			}
			return nil
		}, func(_ context.Context, err error) { failures.Add(1) })
	}()
	deadline := time.Now().Add(5 * time.Second)
	for rounds.Load() < 6 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Every = %v, want nil once ctx is done", err)
	}
	if r, f := rounds.Load(), failures.Load(); r < 6 || f < 2 || f > r/2+1 {
		t.Errorf("%d rounds, %d failures reported; want at least 6 rounds, every second one failing and reported", r, f)
	}
}
