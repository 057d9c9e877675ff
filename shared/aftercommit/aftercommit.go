// Package aftercommit defers work until a unit of work has committed. A use case that counts what
// it did (a metric, a log line saying the order is confirmed) must not count an attempt that rolls
// back and is retried; inside a transaction it registers the count with Do, and the code that owns
// the transaction (postgres.Atomic) runs it after the commit.
//
// The package knows nothing of databases, so an application layer can use it without depending on
// one.
package aftercommit

import (
	"context"
	"sync"
)

type key struct{}

type hooks struct {
	mu  sync.Mutex
	fns []func()
}

// Do runs fn once the unit of work ctx belongs to has committed, and never if it rolls back.
// Outside any unit of work it runs fn at once: the work it follows is already durable.
func Do(ctx context.Context, fn func()) {
	h, ok := ctx.Value(key{}).(*hooks)
	if !ok {
		fn()
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fns = append(h.fns, fn)
}

// Begin starts collecting the functions Do registers under the returned context. Call commit after
// the unit of work commits; it runs them in the order they were registered. A unit of work that
// rolls back simply drops the context and never calls commit.
func Begin(ctx context.Context) (collecting context.Context, commit func()) {
	h := &hooks{}
	return context.WithValue(ctx, key{}, h), func() {
		h.mu.Lock()
		fns := h.fns
		h.fns = nil
		h.mu.Unlock()
		for _, fn := range fns {
			fn()
		}
	}
}
