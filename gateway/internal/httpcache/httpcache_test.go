package httpcache

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestFreshness(t *testing.T) {
	tests := []struct {
		cacheControl []string
		want         time.Duration
		store        bool
		sharable     bool
	}{
		{[]string{"public, max-age=5"}, 5 * time.Second, true, true},
		{[]string{"max-age=5"}, 5 * time.Second, true, false},
		{[]string{"max-age=5, s-maxage=60"}, time.Minute, true, true},
		{[]string{"public", "max-age=7"}, 7 * time.Second, true, true},
		{[]string{`max-age="9"`}, 9 * time.Second, true, false},
		{[]string{"MAX-AGE=3, Public"}, 3 * time.Second, true, true},
		{[]string{"max-age=0"}, 0, false, false},
		{[]string{"max-age=5, no-store"}, 0, false, false},
		{[]string{"max-age=5, no-cache"}, 0, false, false},
		{[]string{"max-age=5, private"}, 0, false, false},
		{[]string{"max-age=5", "max-age=10"}, 0, false, false}, // conflicting: stale
		{[]string{"max-age=soon"}, 0, false, false},
		{[]string{"max-age=-1"}, 0, false, false},
		{[]string{"public"}, 0, false, true}, // no lifetime: not stored (no heuristics)
		{nil, 0, false, false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.cacheControl, " | "), func(t *testing.T) {
			d := parseCacheControl(http.Header{"Cache-Control": tt.cacheControl})
			got, store := d.freshFor()
			if got != tt.want || store != tt.store {
				t.Errorf("freshFor = %v, %v; want %v, %v", got, store, tt.want, tt.store)
			}
			if d.sharable() != tt.sharable {
				t.Errorf("sharable = %v, want %v", d.sharable(), tt.sharable)
			}
		})
	}
}

func TestStoreEvictsLeastRecentlyUsed(t *testing.T) {
	now := time.Now()
	s := newStore(2, 1<<20)
	put := func(key string) { s.put(&entry{key: key, expires: now.Add(time.Minute)}) }
	put("/a")
	put("/b")
	if _, ok := s.get("/a", now); !ok { // /a is now the most recently used
		t.Fatal("/a missing")
	}
	put("/c")
	if _, ok := s.get("/b", now); ok {
		t.Error("/b kept; it was the least recently used and should have been evicted")
	}
	for _, k := range []string{"/a", "/c"} {
		if _, ok := s.get(k, now); !ok {
			t.Errorf("%s evicted, want it kept", k)
		}
	}
}

func TestStoreBoundsBytesAndDropsExpired(t *testing.T) {
	now := time.Now()
	s := newStore(100, 10)
	s.put(&entry{key: "/a", body: []byte("1234"), expires: now.Add(time.Minute)}) // 6 bytes with key
	s.put(&entry{key: "/b", body: []byte("1234"), expires: now.Add(time.Second)}) // 12 in all: /a goes
	if _, ok := s.get("/a", now); ok {
		t.Error("/a kept past the byte bound")
	}
	if _, ok := s.get("/b", now.Add(time.Second)); ok {
		t.Error("/b served at its expiry time")
	}
	if n := s.len(); n != 0 {
		t.Errorf("%d entries left, want the expired one dropped", n)
	}
}

// origin counts calls and answers with a body naming the call, so a test can tell a stored
// answer from a fresh one.
type origin struct {
	calls        atomic.Int64
	cacheControl string
	status       int
	extra        http.Header
}

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := o.calls.Add(1)
	for k, vv := range o.extra {
		w.Header()[k] = vv
	}
	if o.cacheControl != "" {
		w.Header().Set("Cache-Control", o.cacheControl)
	}
	w.Header().Set("X-Request-ID", fmt.Sprint("req-", n))
	w.WriteHeader(max(o.status, http.StatusOK))
	fmt.Fprintf(w, "answer %d for %s", n, r.URL.RequestURI())
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestMiddleware(t *testing.T) {
	type call struct {
		path      string
		header    http.Header
		advance   time.Duration
		wantBody  int // which origin answer is expected
		wantCache string
		wantAge   string
	}
	auth := http.Header{"Authorization": {"Bearer x"}}
	tests := []struct {
		name   string
		origin *origin
		calls  []call
	}{
		{
			name:   "hit while fresh, miss once expired",
			origin: &origin{cacheControl: "public, max-age=5"},
			calls: []call{
				{"/products/1", nil, 0, 1, "MISS", ""},
				{"/products/1", nil, 2 * time.Second, 1, "HIT", "2"},
				{"/products/2", nil, 0, 2, "MISS", ""},
				{"/products/1", nil, 3 * time.Second, 3, "MISS", ""},
				{"/products/1", nil, time.Second, 3, "HIT", "1"},
			},
		},
		{
			name:   "query parameters are keyed in sorted order",
			origin: &origin{cacheControl: "public, max-age=5"},
			calls: []call{
				{"/products?limit=5&category=desk", nil, 0, 1, "MISS", ""},
				{"/products?category=desk&limit=5", nil, 0, 1, "HIT", "0"},
				{"/products?category=kitchen&limit=5", nil, 0, 2, "MISS", ""},
			},
		},
		{
			name:   "no-store answers are never stored",
			origin: &origin{cacheControl: "no-store"},
			calls: []call{
				{"/products/1", nil, 0, 1, "MISS", ""},
				{"/products/1", nil, 0, 2, "MISS", ""},
			},
		},
		{
			name:   "answers without a lifetime are not stored",
			origin: &origin{},
			calls: []call{
				{"/products/1", nil, 0, 1, "MISS", ""},
				{"/products/1", nil, 0, 2, "MISS", ""},
			},
		},
		{
			name:   "errors are not stored",
			origin: &origin{cacheControl: "public, max-age=5", status: http.StatusNotFound},
			calls: []call{
				{"/products/1", nil, 0, 1, "MISS", ""},
				{"/products/1", nil, 0, 2, "MISS", ""},
			},
		},
		{
			name:   "answers with Vary are not stored",
			origin: &origin{cacheControl: "public, max-age=5", extra: http.Header{"Vary": {"Accept-Language"}}},
			calls: []call{
				{"/products/1", nil, 0, 1, "MISS", ""},
				{"/products/1", nil, 0, 2, "MISS", ""},
			},
		},
		{
			name:   "the client's no-cache refreshes the entry, no-store bypasses it",
			origin: &origin{cacheControl: "public, max-age=5"},
			calls: []call{
				{"/products/1", nil, 0, 1, "MISS", ""},
				{"/products/1", http.Header{"Cache-Control": {"no-cache"}}, 0, 2, "MISS", ""},
				{"/products/1", nil, 0, 2, "HIT", "0"},
				{"/products/1", http.Header{"Cache-Control": {"max-age=0"}}, 0, 3, "MISS", ""},
				{"/products/1", http.Header{"Cache-Control": {"no-store"}}, 0, 4, "BYPASS", ""},
				{"/products/1", nil, 0, 3, "HIT", "0"},
			},
		},
		{
			name:   "a public answer is shared with requests that carry a token",
			origin: &origin{cacheControl: "public, max-age=5"},
			calls: []call{
				{"/products/1", auth, 0, 1, "MISS", ""},
				{"/products/1", nil, 0, 1, "HIT", "0"},
				{"/products/1", auth, 0, 1, "HIT", "0"},
			},
		},
		{
			name:   "an answer not marked public is not used for requests with a token",
			origin: &origin{cacheControl: "max-age=5"},
			calls: []call{
				{"/products/1", auth, 0, 1, "MISS", ""},
				{"/products/1", nil, 0, 2, "MISS", ""},
				{"/products/1", nil, 0, 2, "HIT", "0"},
				{"/products/1", auth, 0, 3, "MISS", ""},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
			c, err := New(Options{Now: clk.now, PerResponse: []string{"X-Request-ID"}})
			if err != nil {
				t.Fatal(err)
			}
			h := c.Middleware(tt.origin)
			for i, call := range tt.calls {
				clk.t = clk.t.Add(call.advance)
				req := httptest.NewRequest(http.MethodGet, call.path, nil)
				for k, vv := range call.header {
					req.Header[k] = vv
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				body, _ := io.ReadAll(rec.Body)
				want := fmt.Sprintf("answer %d ", call.wantBody)
				if !strings.HasPrefix(string(body), want) {
					t.Fatalf("call %d %s: body %q, want %q...", i+1, call.path, body, want)
				}
				if got := rec.Header().Get(HeaderCache); got != call.wantCache {
					t.Errorf("call %d: X-Cache %q, want %q", i+1, got, call.wantCache)
				}
				if got := rec.Header().Get("Age"); got != call.wantAge {
					t.Errorf("call %d: Age %q, want %q", i+1, got, call.wantAge)
				}
				if call.wantCache == "HIT" && rec.Header().Get("X-Request-ID") != "" {
					t.Errorf("call %d: a hit repeated the stored answer's X-Request-ID", i+1)
				}
			}
		})
	}
}

func TestMiddlewareDoesNotStoreOversizedBodies(t *testing.T) {
	c, err := New(Options{MaxEntryBytes: 8})
	if err != nil {
		t.Fatal(err)
	}
	o := &origin{cacheControl: "public, max-age=60"} // its bodies are longer than 8 bytes
	h := c.Middleware(o)
	for range 2 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/products", nil))
		if !strings.HasPrefix(rec.Body.String(), "answer ") {
			t.Fatalf("body %q: an oversized answer must still reach the client whole", rec.Body)
		}
	}
	if n := o.calls.Load(); n != 2 {
		t.Errorf("origin called %d times, want 2: the answer was too large to keep", n)
	}
}

func TestMiddlewarePassesOtherMethods(t *testing.T) {
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := &origin{cacheControl: "public, max-age=60"}
	h := c.Middleware(o)
	for range 2 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/products", nil))
		if rec.Header().Get(HeaderCache) != "" {
			t.Errorf("HEAD got X-Cache %q, want none", rec.Header().Get(HeaderCache))
		}
	}
	if n := o.calls.Load(); n != 2 {
		t.Errorf("origin called %d times, want 2", n)
	}
}
