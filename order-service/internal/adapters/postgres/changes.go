package postgres

import (
	"sync"

	"github.com/google/uuid"
)

// changes tells the readers waiting for an order in this process that the order changed. Update
// signals after the commit of every change; a reader on another replica is not told, which is
// why app.WaitForOrder also reads again every so often.
//
// It is not Postgres's LISTEN/NOTIFY on purpose: NOTIFY serialises the commits of every
// transaction that sends one, across the whole server (see shared/outbox/wake.go).
type changes struct {
	mu      sync.Mutex
	waiters map[uuid.UUID]map[chan struct{}]struct{}
}

func newChanges() *changes {
	return &changes{waiters: map[uuid.UUID]map[chan struct{}]struct{}{}}
}

// watch returns a channel that receives a value after each change of order id (several changes
// may show as one), and the function that stops watching.
func (c *changes) watch(id uuid.UUID) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	c.mu.Lock()
	if c.waiters[id] == nil {
		c.waiters[id] = map[chan struct{}]struct{}{}
	}
	c.waiters[id][ch] = struct{}{}
	c.mu.Unlock()
	return ch, func() {
		c.mu.Lock()
		delete(c.waiters[id], ch)
		if len(c.waiters[id]) == 0 {
			delete(c.waiters, id)
		}
		c.mu.Unlock()
	}
}

// signal wakes everyone watching order id, without blocking.
func (c *changes) signal(id uuid.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for ch := range c.waiters[id] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
