package httpapi

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/tracecart/tracecart/shared/featureflag"
	"github.com/tracecart/tracecart/shared/httpserver"
)

// DEMO FAULTS. Nothing in this file is product-service's behaviour: it is the two faults a user
// of the demo can switch on to watch what a slow or a failing catalogue looks like from the
// outside (docs/walkthroughs/02-slow-catalog.md and 03-breaker.md). With both flags off, and
// with no flag file at all, the reads run exactly as they would without this file.

// Scenario flag keys (infra/flags/demo.flagd.json; `make scenario NAME=product-slow|product-failing`).
const (
	// FlagSlow makes product reads slow: most take 50-150 ms longer, one in ten 1-3 s longer.
	FlagSlow = "productCatalogSlow"
	// FlagFailure makes product reads answer 500 with a problem document.
	FlagFailure = "productCatalogFailure"
)

// errDemoFailure is the failure FlagFailure injects. WriteError answers it like any error it
// cannot map: 500, a problem document that says nothing of the cause, and the error recorded on
// the server span.
var errDemoFailure = errors.New("demo fault: productCatalogFailure is on")

// readFaults puts the demo faults in front of the catalogue's read handlers. The flags are
// evaluated in the request's context, which holds the server span, so the
// feature_flag.evaluation event of a fault that fired lands on the span of the read it changed.
type readFaults struct {
	flags *featureflag.Flags // nil: every flag off
	// delay draws how much longer a slow read takes, and sleep waits that long or until ctx
	// ends; tests replace both.
	delay func() time.Duration
	sleep func(ctx context.Context, d time.Duration) error
}

func newReadFaults(flags *featureflag.Flags) readFaults {
	return readFaults{flags: flags, delay: slowReadDelay, sleep: sleepCtx}
}

// wrap returns read with the faults in front of it.
func (f readFaults) wrap(read http.HandlerFunc) http.HandlerFunc {
	if f.flags == nil {
		return read
	}
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if f.flags.Bool(ctx, FlagFailure) {
			httpserver.WriteError(w, r, errDemoFailure)
			return
		}
		if f.flags.Bool(ctx, FlagSlow) {
			if err := f.sleep(ctx, f.delay()); err != nil {
				return // the caller gave up (a timeout upstream): nobody reads an answer
			}
		}
		read(w, r)
	}
}

// slowReadDelay is the extra time of one slow read: a latency distribution with a long tail,
// the shape real slowness has. Nine reads in ten take 50-150 ms longer, enough to move them up
// the latency histogram's buckets; one in ten takes 1-3 s longer, past the 1 s bucket, and half
// of those past the gateway's 2 s timeout for catalogue routes (PRODUCTS_TIMEOUT).
func slowReadDelay() time.Duration {
	return slowDelayFrom(rand.Float64(), rand.Float64())
}

// slowDelayFrom maps two uniform numbers in [0, 1) to a delay: tail picks the tail (below 0.1)
// or the body, and within picks the place within it.
func slowDelayFrom(tail, within float64) time.Duration {
	if tail < 0.1 {
		return time.Second + time.Duration(within*float64(2*time.Second))
	}
	return 50*time.Millisecond + time.Duration(within*float64(100*time.Millisecond))
}

// sleepCtx waits for d or until ctx ends, whichever is first, and then returns ctx's error.
func sleepCtx(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
