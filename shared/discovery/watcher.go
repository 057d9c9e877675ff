package discovery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/tracecart/tracecart/shared/backoff"
)

// ErrWatcherRunning is returned by Watcher.Run when the watcher is already running: two loops
// would only double the load on Consul.
var ErrWatcherRunning = errors.New("watcher already running")

// Option tunes a Watcher, or the watchers a ConsulResolver starts.
type Option func(*settings)

// settings holds what the options set; the zero value is never used, see defaultSettings.
type settings struct {
	logger       *slog.Logger
	waitTime     time.Duration
	queryEvery   time.Duration
	backoffBase  time.Duration
	backoffMax   time.Duration
	readyTimeout time.Duration
}

func defaultSettings() settings {
	return settings{
		logger: slog.Default(),
		// Consul answers a blocking query after at most this long even when nothing changed.
		waitTime: 5 * time.Minute,
		// Consul's documentation suggests degrading to polling every 15 s when results churn;
		// a service list is small and worth knowing about quickly, so we allow one query a
		// second after a burst of two.
		queryEvery:   time.Second,
		backoffBase:  250 * time.Millisecond,
		backoffMax:   10 * time.Second,
		readyTimeout: 5 * time.Second,
	}
}

func newSettings(opts []Option) settings {
	s := defaultSettings()
	for _, opt := range opts {
		opt(&s)
	}
	return s
}

// WithLogger sets where the watcher reports Consul errors and instance changes (default
// slog.Default()).
func WithLogger(logger *slog.Logger) Option {
	return func(s *settings) { s.logger = cmp.Or(logger, s.logger) }
}

// WithWaitTime sets how long one blocking query may wait for a change (default 5 minutes,
// Consul caps it at 10).
func WithWaitTime(d time.Duration) Option {
	return func(s *settings) { s.waitTime = d }
}

// WithQueryRate sets the sustained rate of queries to Consul: after a burst of two, at most one
// query every d (default 1 s). This keeps a result that changes constantly from turning the
// blocking loop into a busy loop.
func WithQueryRate(d time.Duration) Option {
	return func(s *settings) { s.queryEvery = d }
}

// WithRetryBackoff sets the jittered exponential backoff between failed queries: it starts
// around base and grows to at most maxDelay (defaults 250 ms and 10 s).
func WithRetryBackoff(base, maxDelay time.Duration) Option {
	return func(s *settings) { s.backoffBase, s.backoffMax = base, maxDelay }
}

// WithReadyTimeout sets how long ConsulResolver.Resolve waits for Consul's first answer about a
// service it has not resolved before (default 5 s). Watchers do not use it.
func WithReadyTimeout(d time.Duration) Option {
	return func(s *settings) { s.readyTimeout = d }
}

// Watcher keeps the list of healthy instances of one service up to date.
//
// It long-polls Consul's /v1/health/service/<name>?passing endpoint with blocking queries,
// following the rules in Consul's "Blocking Queries" documentation: the index is reset when it
// goes backwards, never used as 0 for blocking, and the loop is rate limited. When a query fails
// the watcher keeps the instances it had and retries with backoff; the list is replaced only by
// a real answer from Consul, even when that answer is "no healthy instances".
type Watcher struct {
	client   *api.Client
	service  string
	settings settings

	instances atomic.Pointer[[]Instance]
	ready     chan struct{}
	readyOnce sync.Once
	running   atomic.Bool

	mu      sync.Mutex
	lastErr error
}

// NewWatcher returns a watcher for service. Nothing happens until Run is called.
func NewWatcher(client *api.Client, service string, opts ...Option) *Watcher {
	return &Watcher{
		client:   client,
		service:  service,
		settings: newSettings(opts),
		ready:    make(chan struct{}),
	}
}

// Instances returns the healthy instances from Consul's latest answer, sorted by ID. It is nil
// before the first answer and keeps its value while Consul cannot be reached.
func (w *Watcher) Instances() []Instance {
	return slices.Clone(w.snapshot())
}

// snapshot returns the current list without copying it; callers must not modify it.
func (w *Watcher) snapshot() []Instance {
	if p := w.instances.Load(); p != nil {
		return *p
	}
	return nil
}

// Ready is closed once Consul has answered for the first time, so a caller can tell "no
// instances yet" from "Consul says there are none".
func (w *Watcher) Ready() <-chan struct{} {
	return w.ready
}

// LastError returns the error of the latest query, or nil if it succeeded. While it is not nil,
// Instances is the last known list, not a current one.
func (w *Watcher) LastError() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastErr
}

func (w *Watcher) setLastError(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lastErr = err
}

// Run watches the service until ctx is done, then returns nil. Consul being unreachable is not a
// reason to return: the watcher keeps retrying, because a service that stops looking for its
// upstreams never recovers. It returns ErrWatcherRunning if the watcher is already running.
func (w *Watcher) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return fmt.Errorf("watch %s: %w", w.service, ErrWatcherRunning)
	}
	defer w.running.Store(false)

	limiter := tokenBucket{every: w.settings.queryEvery, burst: 2}
	var index uint64
	failures := 0
	for {
		if backoff.Sleep(ctx, limiter.take(time.Now())) != nil {
			return nil
		}
		opts := &api.QueryOptions{WaitIndex: index, WaitTime: w.settings.waitTime}
		entries, meta, err := w.client.Health().Service(w.service, "", true, opts.WithContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			failures++
			w.setLastError(err)
			delay := backoff.Delay(failures, w.settings.backoffBase, w.settings.backoffMax)
			w.settings.logger.WarnContext(ctx, "consul query failed; keeping the last known instances",
				slog.String("upstream", w.service), slog.Int("instances", len(w.snapshot())),
				slog.Duration("retry_in", delay), slog.Any("error", err))
			// The agent that answers next may be a restarted one whose index is lower than
			// ours, and Consul holds a query until its index passes the one we send: the
			// first query after an error must not block.
			index = 0
			if backoff.Sleep(ctx, delay) != nil {
				return nil
			}
			continue
		}
		failures = 0
		w.setLastError(nil)
		index = nextIndex(index, meta.LastIndex)
		w.publish(ctx, instancesFrom(entries))
	}
}

// publish makes list the current instance list and logs what changed.
func (w *Watcher) publish(ctx context.Context, list []Instance) {
	previous := w.instances.Swap(&list)
	if previous == nil || !slices.EqualFunc(*previous, list, Instance.equal) {
		addrs := make([]string, len(list))
		for i, in := range list {
			addrs[i] = in.HostPort()
		}
		w.settings.logger.InfoContext(ctx, "healthy instances changed",
			slog.String("upstream", w.service), slog.Any("instances", addrs))
	}
	w.readyOnce.Do(func() { close(w.ready) })
}

// instancesFrom turns Consul's answer into instances sorted by ID, so that the order, and with
// it round-robin, does not depend on how Consul happened to list them.
func instancesFrom(entries []*api.ServiceEntry) []Instance {
	list := make([]Instance, 0, len(entries))
	for _, e := range entries {
		address := e.Service.Address
		if address == "" {
			// Consul's convention: a service without its own address runs on its node's.
			address = e.Node.Address
		}
		list = append(list, Instance{
			ID:      e.Service.ID,
			Address: address,
			Port:    e.Service.Port,
			Tags:    slices.Clone(e.Service.Tags),
		})
	}
	slices.SortFunc(list, func(a, b Instance) int { return strings.Compare(a.ID, b.ID) })
	return list
}

// nextIndex returns the index to block on after a query that started at previous and was
// answered with returned, applying Consul's rules for blocking queries:
//   - an index lower than before means the data was rebuilt (a snapshot restore, a restarted
//     dev agent): start again from 0, a query that does not block;
//   - an index of 0 is a Consul bug that would make every following query return at once and
//     spin: block on 1 instead, which is always safe.
func nextIndex(previous, returned uint64) uint64 {
	switch {
	case returned < previous:
		return 0
	case returned == 0:
		return 1
	default:
		return returned
	}
}

// tokenBucket rate limits the query loop the way Consul's documentation recommends: up to burst
// queries go out at once, after that one every every. Unlike a fixed sleep it costs nothing when
// changes are rare, and it turns a result that changes constantly into polling at a fixed rate.
type tokenBucket struct {
	every  time.Duration
	burst  float64
	tokens float64
	last   time.Time
}

// take spends a token and returns how long to wait before the query it pays for may go out.
func (b *tokenBucket) take(now time.Time) time.Duration {
	if b.every <= 0 {
		return 0
	}
	if b.last.IsZero() {
		b.tokens = b.burst
	} else {
		b.tokens = min(b.burst, b.tokens+float64(now.Sub(b.last))/float64(b.every))
	}
	b.last = now
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	// The token is borrowed: the caller waits until it would have been refilled.
	return time.Duration(-b.tokens * float64(b.every))
}
