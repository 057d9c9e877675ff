// Package discovery is how tracecart services find each other through Consul.
//
// A service announces itself with Register, which also gives Consul an HTTP health check so that
// an instance is only ever handed out while it says it is ready. Clients do not ask Consul on
// every request: a Watcher keeps the healthy instances of one service up to date with Consul
// blocking queries, and keeps the last list it had when Consul cannot be reached, because a
// discovery outage must not become an outage of every service that calls another.
//
// Callers depend on the small Resolver interface, so the same HTTP client works with the
// Consul-backed ConsulResolver in production and with a StaticResolver in tests and demos.
package discovery

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
)

// ErrNoInstances is returned by a Resolver when a service has no instance to call: Consul
// answered that none is healthy, Consul has not answered yet, or a StaticResolver does not know
// the service.
var ErrNoInstances = errors.New("no healthy instances")

// Resolver maps a logical service name such as "product-service" to the "host:port" of one
// instance to call. Implementations spread consecutive calls across the instances, so a caller
// that resolves once per attempt also spreads its retries.
type Resolver interface {
	Resolve(ctx context.Context, service string) (hostport string, err error)
}

// Instance is one healthy instance of a service as Consul reports it.
type Instance struct {
	ID      string
	Address string
	Port    int
	Tags    []string
}

// HostPort returns the "host:port" to dial, with IPv6 addresses in brackets.
func (i Instance) HostPort() string {
	return net.JoinHostPort(i.Address, strconv.Itoa(i.Port))
}

// equal reports whether two instances are the same, so the watcher logs only real changes.
func (i Instance) equal(o Instance) bool {
	return i.ID == o.ID && i.Address == o.Address && i.Port == o.Port && slices.Equal(i.Tags, o.Tags)
}
