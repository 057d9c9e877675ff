package outbox

import "sync"

// wakeups tells the relays of this process that outbox rows were committed. Add registers its
// signal to run after the commit of the transaction that wrote them (aftercommit), and every
// Relay.Run subscribes while it runs.
//
// Why not Postgres's LISTEN/NOTIFY, which would also reach relays in other processes: Postgres
// serialises the commits of all transactions that sent a NOTIFY, in every database of the
// server, and holds that lock across the commit's WAL flush, so those commits cannot share a
// flush (group commit). With every saga step writing to an outbox, that lock was where the
// saga's commits queued: sampled under load, it had a waiter in a third of the samples
// (docs/performance-saga.md, "After, part 3"). Every replica of a service runs its own relay,
// and a replica's writes wake its own relay, so an in-process signal reaches a relay that can
// publish the rows; rows nobody signalled (a replica that died between its commit and its
// publish) are found by the poll.
var wakeups = &broadcast{subs: map[chan struct{}]struct{}{}}

// broadcast wakes every subscriber without blocking: each subscriber's channel holds one pending
// wake-up, which covers any number of commits, since a woken relay drains the whole backlog.
type broadcast struct {
	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

// subscribe returns a channel that receives a value after signal, and the function that ends the
// subscription.
func (b *broadcast) subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(b.subs, ch)
		b.mu.Unlock()
	}
}

// signal wakes every subscriber.
func (b *broadcast) signal() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
