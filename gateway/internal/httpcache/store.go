package httpcache

import (
	"container/list"
	"net/http"
	"sync"
	"time"
)

// entry is one stored response.
type entry struct {
	key     string
	status  int
	header  http.Header
	body    []byte
	stored  time.Time // when the response arrived, for the Age header
	expires time.Time // when it stops being fresh
	// sharable marks an answer that requests with Authorization may use too (RFC 9111 §3.5).
	sharable bool
}

func (e *entry) size() int { return len(e.key) + len(e.body) }

// store is an LRU of entries bounded by count and by total body bytes. Expired entries are
// dropped when looked up or when they reach the cold end of the list.
type store struct {
	maxEntries int
	maxBytes   int

	mu    sync.Mutex
	lru   *list.List // of *entry, most recently used at the front
	index map[string]*list.Element
	bytes int
}

func newStore(maxEntries, maxBytes int) *store {
	return &store{maxEntries: maxEntries, maxBytes: maxBytes, lru: list.New(), index: make(map[string]*list.Element)}
}

// get returns the fresh entry for key, if any.
func (s *store) get(key string, now time.Time) (*entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.index[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*entry)
	if !now.Before(e.expires) {
		s.remove(el)
		return nil, false
	}
	s.lru.MoveToFront(el)
	return e, true
}

// put stores e, replacing any entry with its key, and evicts the least recently used entries
// until the bounds hold again.
func (s *store) put(e *entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.index[e.key]; ok {
		s.remove(el)
	}
	s.index[e.key] = s.lru.PushFront(e)
	s.bytes += e.size()
	for s.lru.Len() > s.maxEntries || s.bytes > s.maxBytes {
		s.remove(s.lru.Back())
	}
}

func (s *store) remove(el *list.Element) {
	e := s.lru.Remove(el).(*entry)
	delete(s.index, e.key)
	s.bytes -= e.size()
}

// len returns the number of entries, expired ones not yet dropped included.
func (s *store) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len()
}
