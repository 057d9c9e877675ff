package discovery

import (
	"errors"
	"reflect"
	"slices"
	"testing"

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
