package discovery

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"
)

// ErrResolverClosed is returned by ConsulResolver.Resolve after Close.
var ErrResolverClosed = errors.New("resolver closed")

var (
	_ Resolver = (*ConsulResolver)(nil)
	_ Resolver = (*StaticResolver)(nil)
)

// roundRobin hands out the elements of a list in turn. One counter per service is shared by all
// callers, so concurrent requests spread evenly; the list may change between calls.
type roundRobin struct {
	next atomic.Uint64
}

func (r *roundRobin) pick(n int) int {
	return int((r.next.Add(1) - 1) % uint64(n))
}

// StaticResolver resolves from a fixed map of service names to "host:port" addresses. Tests and
// demos use it where there is no Consul; it spreads calls round-robin like ConsulResolver.
type StaticResolver struct {
	instances map[string][]string
	counters  map[string]*roundRobin
}

// NewStaticResolver returns a resolver for the given services. It copies the map, so later
// changes to it have no effect.
func NewStaticResolver(instances map[string][]string) *StaticResolver {
	r := &StaticResolver{
		instances: make(map[string][]string, len(instances)),
		counters:  make(map[string]*roundRobin, len(instances)),
	}
	for service, addrs := range instances {
		r.instances[service] = slices.Clone(addrs)
		r.counters[service] = &roundRobin{}
	}
	return r
}

// Resolve returns the next address of service, or ErrNoInstances if it has none.
func (r *StaticResolver) Resolve(_ context.Context, service string) (string, error) {
	addrs := r.instances[service]
	if len(addrs) == 0 {
		return "", fmt.Errorf("resolve %s: %w", service, ErrNoInstances)
	}
	return addrs[r.counters[service].pick(len(addrs))], nil
}

// ConsulResolver resolves service names to healthy instances registered in Consul.
//
// The first Resolve of a service starts a Watcher for it and waits a bounded time for Consul's
// first answer; later calls read the watcher's current list without talking to Consul. So a
// client can simply call http://product-service/... and never configure its upstreams. Close
// stops the watchers.
type ConsulResolver struct {
	client   *api.Client
	opts     []Option
	settings settings
	wg       sync.WaitGroup

	mu       sync.Mutex
	services map[string]*watchedService
	closed   bool
}

// watchedService is one service's watcher, the function that stops it, and its round-robin
// position.
type watchedService struct {
	watcher *Watcher
	stop    context.CancelFunc
	rr      roundRobin
}

// NewConsulResolver returns a resolver that watches services through client. The options are
// passed to every watcher it starts; WithReadyTimeout bounds the wait for a first answer.
func NewConsulResolver(client *api.Client, opts ...Option) *ConsulResolver {
	return &ConsulResolver{
		client:   client,
		opts:     opts,
		settings: newSettings(opts),
		services: make(map[string]*watchedService),
	}
}

// Resolve returns the "host:port" of the next healthy instance of service. It returns an error
// wrapping ErrNoInstances when Consul reports none, or has not answered within the ready timeout
// the first time the service is asked for; it keeps answering from the last known list while
// Consul is unreachable.
func (r *ConsulResolver) Resolve(ctx context.Context, service string) (string, error) {
	ws, err := r.watch(service)
	if err != nil {
		return "", err
	}
	select {
	case <-ws.watcher.Ready():
	default:
		if err := r.waitReady(ctx, ws.watcher); err != nil {
			return "", fmt.Errorf("resolve %s: %w", service, err)
		}
	}
	list := ws.watcher.snapshot()
	if len(list) == 0 {
		return "", fmt.Errorf("resolve %s: %w", service, ErrNoInstances)
	}
	return list[ws.rr.pick(len(list))].HostPort(), nil
}

// waitReady waits for the watcher's first answer, for at most the ready timeout.
func (r *ConsulResolver) waitReady(ctx context.Context, w *Watcher) error {
	timer := time.NewTimer(r.settings.readyTimeout)
	defer timer.Stop()
	select {
	case <-w.Ready():
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-timer.C:
		return fmt.Errorf("%w: consul has not answered within %s (last error: %v)",
			ErrNoInstances, r.settings.readyTimeout, w.LastError())
	}
}

// watch returns the watched service, starting its watcher on first use.
func (r *ConsulResolver) watch(service string) (*watchedService, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, fmt.Errorf("resolve %s: %w", service, ErrResolverClosed)
	}
	if ws, ok := r.services[service]; ok {
		return ws, nil
	}
	// The watcher outlives the request that asked first, so it gets its own context.
	ctx, stop := context.WithCancel(context.Background())
	ws := &watchedService{watcher: NewWatcher(r.client, service, r.opts...), stop: stop}
	r.services[service] = ws
	r.wg.Go(func() { _ = ws.watcher.Run(ctx) })
	return ws, nil
}

// Close stops every watcher and waits for them to return. Resolve fails after Close.
func (r *ConsulResolver) Close() error {
	r.mu.Lock()
	r.closed = true
	services := slices.Collect(maps.Values(r.services))
	r.mu.Unlock()
	for _, ws := range services {
		ws.stop()
	}
	r.wg.Wait()
	return nil
}
