package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
)

// Defaults for the HTTP health check Register gives Consul. They are tuned for a small system
// where an instance should stop receiving traffic within a few seconds of failing.
const (
	DefaultHealthPath              = "/health/ready"
	DefaultCheckInterval           = 2 * time.Second
	DefaultCheckTimeout            = 1 * time.Second
	DefaultDeregisterCriticalAfter = time.Minute
)

// failuresBeforeCritical is how many failed checks in a row take an instance out of service.
const failuresBeforeCritical = 2

// ErrInvalidRegistration is returned by Register when a Registration lacks what Consul needs to
// route traffic to the instance.
var ErrInvalidRegistration = errors.New("invalid registration")

// Registration describes one instance of a service to Consul. Consul polls
// http://Address:Port+HealthPath and hands the instance out only while that answers 2xx.
type Registration struct {
	// Service is the logical name clients resolve, such as "product-service".
	Service string
	// ID identifies this instance; it defaults to "<service>-<address>-<port>".
	ID string
	// Address and Port are where other services (and Consul's check) reach this instance.
	Address string
	Port    int
	Tags    []string
	Meta    map[string]string
	// HealthPath is the readiness endpoint; it defaults to DefaultHealthPath.
	HealthPath string
	// CheckInterval, CheckTimeout and DeregisterCriticalAfter tune the health check; zero
	// means the Default* constant. Consul will not deregister sooner than one minute.
	CheckInterval           time.Duration
	CheckTimeout            time.Duration
	DeregisterCriticalAfter time.Duration
}

// withDefaults returns r with every zero field that has a default filled in.
func (r Registration) withDefaults() Registration {
	if r.ID == "" {
		r.ID = fmt.Sprintf("%s-%s-%d", r.Service, r.Address, r.Port)
	}
	if r.HealthPath == "" {
		r.HealthPath = DefaultHealthPath
	}
	if r.CheckInterval <= 0 {
		r.CheckInterval = DefaultCheckInterval
	}
	if r.CheckTimeout <= 0 {
		r.CheckTimeout = DefaultCheckTimeout
	}
	if r.DeregisterCriticalAfter <= 0 {
		r.DeregisterCriticalAfter = DefaultDeregisterCriticalAfter
	}
	return r
}

// validate rejects registrations Consul would accept but nobody could call.
func (r Registration) validate() error {
	switch {
	case r.Service == "":
		return fmt.Errorf("%w: no service name", ErrInvalidRegistration)
	case r.Address == "":
		return fmt.Errorf("%w: service %s has no address", ErrInvalidRegistration, r.Service)
	case r.Port < 1 || r.Port > 65535:
		return fmt.Errorf("%w: service %s has port %d", ErrInvalidRegistration, r.Service, r.Port)
	}
	return nil
}

// Register adds the instance and its HTTP health check to the local Consul agent. The check
// starts critical, so clients see the instance only after its first passing check.
//
// The returned deregister removes the instance again. Graceful shutdown calls it before draining
// HTTP, so that clients stop picking the instance while it still answers the requests in flight.
func Register(ctx context.Context, client *api.Client, reg Registration) (deregister func(context.Context) error, err error) {
	reg = reg.withDefaults()
	if err := reg.validate(); err != nil {
		return nil, err
	}
	service := &api.AgentServiceRegistration{
		ID:      reg.ID,
		Name:    reg.Service,
		Address: reg.Address,
		Port:    reg.Port,
		Tags:    reg.Tags,
		Meta:    reg.Meta,
		Check: &api.AgentServiceCheck{
			Name:                           reg.Service + " readiness",
			HTTP:                           "http://" + net.JoinHostPort(reg.Address, strconv.Itoa(reg.Port)) + reg.HealthPath,
			Method:                         http.MethodGet,
			Interval:                       reg.CheckInterval.String(),
			Timeout:                        reg.CheckTimeout.String(),
			DeregisterCriticalServiceAfter: reg.DeregisterCriticalAfter.String(),
			Status:                         api.HealthCritical,
			// One slow answer (a GC pause, a busy machine) must not take the instance out of
			// service: when it is the only one, every caller would get a 503 until the next
			// check. Two failures in a row (one interval more) say it is really unwell; callers
			// retry idempotent requests on another instance meanwhile, and a graceful shutdown
			// deregisters at once rather than waiting for the check.
			FailuresBeforeCritical: failuresBeforeCritical,
		},
	}
	// ReplaceExistingChecks makes registering again after a restart idempotent.
	opts := api.ServiceRegisterOpts{ReplaceExistingChecks: true}.WithContext(ctx)
	if err := client.Agent().ServiceRegisterOpts(service, opts); err != nil {
		return nil, fmt.Errorf("register %s as %s with consul: %w", reg.Service, reg.ID, err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		keepRegistered(client, service, reg.CheckInterval*2, stop)
	}()
	var once sync.Once
	deregister = func(ctx context.Context) error {
		once.Do(func() { close(stop); <-done })
		if err := client.Agent().ServiceDeregisterOpts(reg.ID, (&api.QueryOptions{}).WithContext(ctx)); err != nil {
			return fmt.Errorf("deregister %s from consul: %w", reg.ID, err)
		}
		return nil
	}
	return deregister, nil
}

// keepRegistered registers service again whenever the agent no longer knows it, until stop is
// closed. An agent that restarts without its state (a dev agent, a lost data directory) forgets
// every registration, and nothing else would bring the instance back into discovery. While the
// agent is unreachable or refuses (its ACL tokens not yet created), it simply tries again at the
// next tick.
func keepRegistered(client *api.Client, service *api.AgentServiceRegistration, every time.Duration, stop <-chan struct{}) {
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ticker.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		_, _, err := client.Agent().Service(service.ID, (&api.QueryOptions{}).WithContext(ctx))
		var status api.StatusError
		if errors.As(err, &status) && status.Code == http.StatusNotFound {
			opts := api.ServiceRegisterOpts{ReplaceExistingChecks: true}.WithContext(ctx)
			_ = client.Agent().ServiceRegisterOpts(service, opts) // tried again at the next tick
		}
		cancel()
	}
}
