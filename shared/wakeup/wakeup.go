// Package wakeup tells goroutines waiting in this process that something they watch has changed:
// the outbox relays that rows were committed, the long polls of an order that it changed. A
// wake-up carries no data; the woken reads what changed from where it lives (the database).
//
// It is in-process on purpose. Postgres's LISTEN/NOTIFY would reach other processes too, but
// Postgres serialises the commits of every transaction that sends a NOTIFY, across the whole
// server and the commit's WAL flush (docs/performance-saga.md, "After, part 3"); each user of
// this package says how it finds changes made by other processes (a poll, a periodic re-read).
package wakeup

import "sync"

// Hub wakes the watchers of a key. The zero value is not ready: use New.
type Hub[K comparable] struct {
	mu       sync.Mutex
	watchers map[K]map[chan struct{}]struct{}
}

// New returns an empty Hub.
func New[K comparable]() *Hub[K] {
	return &Hub[K]{watchers: map[K]map[chan struct{}]struct{}{}}
}

// Watch returns a channel that receives a value after each Signal of key, and the function that
// stops watching. The channel holds one pending wake-up, which stands for any number of signals:
// the watcher reads the current state when it wakes, so it misses none of them.
func (h *Hub[K]) Watch(key K) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	if h.watchers[key] == nil {
		h.watchers[key] = map[chan struct{}]struct{}{}
	}
	h.watchers[key][ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.watchers[key], ch)
		if len(h.watchers[key]) == 0 {
			delete(h.watchers, key)
		}
		h.mu.Unlock()
	}
}

// Signal wakes every watcher of key, without blocking.
func (h *Hub[K]) Signal(key K) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.watchers[key] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
