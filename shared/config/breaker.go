package config

import (
	"errors"
	"fmt"
	"time"
)

// Breaker holds the settings of the circuit breakers a service puts in front of its upstreams
// (shared/httpclient.BreakerSettings), the same variables in every service that configures them:
// a breaker opens when BREAKER_FAILURE_RATIO of the calls that finished in the last BREAKER_WINDOW
// failed, once there were BREAKER_MINIMUM_CALLS of them, and stays open for BREAKER_OPEN_TIMEOUT.
// (Why a rate and not consecutive failures: docs/architecture.md, decisions.) Embed it in a
// service's Config.
type Breaker struct {
	BreakerFailureRatio float64       `env:"BREAKER_FAILURE_RATIO" envDefault:"0.5"`
	BreakerMinimumCalls uint32        `env:"BREAKER_MINIMUM_CALLS" envDefault:"20"`
	BreakerWindow       time.Duration `env:"BREAKER_WINDOW" envDefault:"10s"`
	BreakerOpenTimeout  time.Duration `env:"BREAKER_OPEN_TIMEOUT" envDefault:"5s"`
}

// Validate checks the breaker settings. A Config that defines its own Validate hides this one
// and must call it explicitly.
func (b *Breaker) Validate() error {
	var errs []error
	if !(b.BreakerFailureRatio > 0 && b.BreakerFailureRatio <= 1) {
		errs = append(errs, &VarError{Key: "BREAKER_FAILURE_RATIO", Err: fmt.Errorf("must be more than 0 and at most 1, got %v", b.BreakerFailureRatio)})
	}
	if b.BreakerMinimumCalls < 1 {
		errs = append(errs, &VarError{Key: "BREAKER_MINIMUM_CALLS", Err: errors.New("must be at least 1")})
	}
	for key, d := range map[string]time.Duration{"BREAKER_WINDOW": b.BreakerWindow, "BREAKER_OPEN_TIMEOUT": b.BreakerOpenTimeout} {
		if d <= 0 {
			errs = append(errs, &VarError{Key: key, Err: fmt.Errorf("must be positive, got %s", d)})
		}
	}
	return errors.Join(errs...)
}
