package discovery

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

func TestNextIndex(t *testing.T) {
	tests := []struct {
		name               string
		previous, returned uint64
		want               uint64
	}{
		{"first answer", 0, 42, 42},
		{"index moved on", 42, 57, 57},
		{"timeout without change", 42, 42, 42},
		{"went backwards after a restore resets to a non-blocking query", 42, 7, 0},
		{"zero from a buggy server would spin, so block on 1", 0, 0, 1},
		{"zero after a higher index is going backwards", 42, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nextIndex(tt.previous, tt.returned); got != tt.want {
				t.Errorf("nextIndex(%d, %d) = %d, want %d", tt.previous, tt.returned, got, tt.want)
			}
		})
	}
}

func TestTokenBucket(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	at := func(d time.Duration) time.Time { return start.Add(d) }
	tests := []struct {
		name  string
		calls []time.Time
		want  []time.Duration
	}{
		{
			name:  "a burst of two goes out at once, the third waits a full period",
			calls: []time.Time{at(0), at(0), at(0)},
			want:  []time.Duration{0, 0, time.Second},
		},
		{
			name:  "a caller that waited as told is paced at one per period",
			calls: []time.Time{at(0), at(0), at(0), at(time.Second), at(2 * time.Second)},
			want:  []time.Duration{0, 0, time.Second, time.Second, time.Second},
		},
		{
			name:  "rare queries never wait",
			calls: []time.Time{at(0), at(10 * time.Second), at(20 * time.Second), at(30 * time.Second)},
			want:  []time.Duration{0, 0, 0, 0},
		},
		{
			name:  "half a period refills half a token",
			calls: []time.Time{at(0), at(0), at(500 * time.Millisecond)},
			want:  []time.Duration{0, 0, 500 * time.Millisecond},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tokenBucket{every: time.Second, burst: 2}
			var got []time.Duration
			for _, now := range tt.calls {
				got = append(got, b.take(now))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("waits = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBackoffStaysWithinJitterBounds(t *testing.T) {
	base, ceiling := 100*time.Millisecond, time.Second
	tests := []struct {
		attempt int
		lo, hi  time.Duration
	}{
		{1, 50 * time.Millisecond, 100 * time.Millisecond},
		{2, 100 * time.Millisecond, 200 * time.Millisecond},
		{4, 400 * time.Millisecond, 800 * time.Millisecond},
		{5, 500 * time.Millisecond, time.Second},
		{1000, 500 * time.Millisecond, time.Second},
	}
	for _, tt := range tests {
		for range 200 {
			if got := backoff(tt.attempt, base, ceiling); got < tt.lo || got > tt.hi {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", tt.attempt, got, tt.lo, tt.hi)
			}
		}
	}
}

func TestInstancesFrom(t *testing.T) {
	entries := []*api.ServiceEntry{
		{Node: &api.Node{Address: "10.0.0.2"}, Service: &api.AgentService{ID: "b", Address: "10.0.0.9", Port: 8080, Tags: []string{"v2"}}},
		{Node: &api.Node{Address: "10.0.0.1"}, Service: &api.AgentService{ID: "a", Port: 8081}},
	}
	got := instancesFrom(entries)
	want := []Instance{
		{ID: "a", Address: "10.0.0.1", Port: 8081, Tags: []string{}},
		{ID: "b", Address: "10.0.0.9", Port: 8080, Tags: []string{"v2"}},
	}
	if !slices.EqualFunc(got, want, Instance.equal) {
		t.Fatalf("instancesFrom = %+v, want %+v (sorted by ID, node address as fallback)", got, want)
	}
	if hp := got[0].HostPort(); hp != "10.0.0.1:8081" {
		t.Errorf("HostPort = %q, want 10.0.0.1:8081", hp)
	}
}

func TestInstanceHostPortBracketsIPv6(t *testing.T) {
	if got := (Instance{Address: "::1", Port: 80}).HostPort(); got != "[::1]:80" {
		t.Errorf("HostPort = %q, want [::1]:80", got)
	}
}

func TestRegistrationDefaultsAndValidation(t *testing.T) {
	tests := []struct {
		name    string
		reg     Registration
		wantErr bool
	}{
		{"complete", Registration{Service: "product-service", Address: "127.0.0.1", Port: 8080}, false},
		{"no service", Registration{Address: "127.0.0.1", Port: 8080}, true},
		{"no address", Registration{Service: "product-service", Port: 8080}, true},
		{"no port", Registration{Service: "product-service", Address: "127.0.0.1"}, true},
		{"port out of range", Registration{Service: "product-service", Address: "127.0.0.1", Port: 70000}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.reg.withDefaults().validate()
			if tt.wantErr != (err != nil) {
				t.Fatalf("validate() = %v, want error: %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalidRegistration) {
				t.Errorf("validate() = %v, want it to wrap ErrInvalidRegistration", err)
			}
		})
	}

	got := Registration{Service: "product-service", Address: "127.0.0.1", Port: 8080}.withDefaults()
	want := Registration{
		Service: "product-service", ID: "product-service-127.0.0.1-8080", Address: "127.0.0.1", Port: 8080,
		HealthPath: DefaultHealthPath, CheckInterval: DefaultCheckInterval, CheckTimeout: DefaultCheckTimeout,
		DeregisterCriticalAfter: DefaultDeregisterCriticalAfter,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("withDefaults() = %+v, want %+v", got, want)
	}
}
