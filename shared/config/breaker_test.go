package config

import (
	"errors"
	"testing"
	"time"
)

func TestBreakerValidate(t *testing.T) {
	good := Breaker{BreakerFailureRatio: 0.5, BreakerMinimumCalls: 20, BreakerWindow: 10 * time.Second, BreakerOpenTimeout: 5 * time.Second}
	if err := good.Validate(); err != nil {
		t.Fatalf("the defaults: %v", err)
	}
	tests := map[string]func(b *Breaker){
		"BREAKER_FAILURE_RATIO": func(b *Breaker) { b.BreakerFailureRatio = 1.5 },
		"BREAKER_MINIMUM_CALLS": func(b *Breaker) { b.BreakerMinimumCalls = 0 },
		"BREAKER_WINDOW":        func(b *Breaker) { b.BreakerWindow = 0 },
		"BREAKER_OPEN_TIMEOUT":  func(b *Breaker) { b.BreakerOpenTimeout = -time.Second },
	}
	for key, breakIt := range tests {
		b := good
		breakIt(&b)
		var varErr *VarError
		if err := b.Validate(); !errors.As(err, &varErr) || varErr.Key != key {
			t.Errorf("bad %s: Validate = %v, want an error naming it", key, err)
		}
	}
}
