// Package httpcache is the gateway's shared response cache for catalogue reads: middleware that
// answers a GET from memory while the upstream's last answer to it is still fresh by the
// upstream's own Cache-Control, and otherwise lets the request through and keeps the answer.
//
// It implements the part of RFC 9111 a shared cache in front of tracecart's services needs:
//
//   - only GET answers with status 200 are stored, and only with an explicit lifetime
//     (s-maxage, else max-age, minus any Age the upstream reported); no-store, no-cache and
//     private answers are never stored, nor are answers that carry Vary or Set-Cookie;
//   - a request with Authorization uses and fills the cache only where the answer is marked
//     public (or s-maxage, or must-revalidate), as §3.5 requires of a shared cache;
//   - a request with Cache-Control no-cache or max-age=0 skips the lookup and refreshes the
//     entry; one with no-store skips the cache altogether;
//   - answers from the cache carry Age, and every answer says X-Cache: HIT, MISS or BYPASS.
//
// There is no revalidation (ETag, If-None-Match): a stale entry is simply fetched again. The
// cache is bounded by entry count and by bytes, least recently used out first.
package httpcache

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Names of the cache's telemetry. In Prometheus they appear as gateway_cache_requests_total
// (with result="hit", "miss" or "bypass") and gateway_cache_entries.
const (
	// RequestsMetric counts the requests the cache saw, by result.
	RequestsMetric = "gateway.cache.requests"
	// EntriesMetric is a gauge of the entries held.
	EntriesMetric = "gateway.cache.entries"
	// ResultAttribute is the span and metric attribute holding the result.
	ResultAttribute = "gateway.cache.result"
)

// HeaderCache tells the client how the cache handled its request: HIT, MISS or BYPASS.
const HeaderCache = "X-Cache"

// Results of a lookup, as reported in X-Cache (upper case) and in metrics (lower case).
const (
	resultHit    = "hit"
	resultMiss   = "miss"
	resultBypass = "bypass"
)

const instrumentationScope = "github.com/tracecart/tracecart/gateway/internal/httpcache"

// Options configures New. Zero sizes take the defaults in parentheses.
type Options struct {
	MaxEntries    int // entries held at most (1024)
	MaxBytes      int // total body bytes held at most (16 MiB)
	MaxEntryBytes int // larger bodies are passed through but not stored (256 KiB)
	// PerResponse names header fields that describe one exchange only, such as a request or
	// trace ID; they are not stored, so a hit never repeats another request's values.
	PerResponse []string
	// MeterProvider records the metrics; nil means the OpenTelemetry global.
	MeterProvider metric.MeterProvider
	// Now is the clock; nil means time.Now. Tests move it instead of sleeping.
	Now func() time.Time
}

// Cache is the response cache. It is safe for concurrent use.
type Cache struct {
	store         *store
	maxEntryBytes int
	perResponse   []string
	now           func() time.Time
	requests      metric.Int64Counter
	results       map[string]metric.MeasurementOption
}

// New returns an empty cache.
func New(opts Options) (*Cache, error) {
	if opts.MaxEntries < 0 || opts.MaxBytes < 0 || opts.MaxEntryBytes < 0 {
		return nil, fmt.Errorf("new cache: sizes must not be negative")
	}
	meterProvider := opts.MeterProvider
	if meterProvider == nil {
		meterProvider = otel.GetMeterProvider()
	}
	c := &Cache{
		store:         newStore(cmp.Or(opts.MaxEntries, 1024), cmp.Or(opts.MaxBytes, 16<<20)),
		maxEntryBytes: cmp.Or(opts.MaxEntryBytes, 256<<10),
		now:           opts.Now,
		results:       make(map[string]metric.MeasurementOption),
	}
	if c.now == nil {
		c.now = time.Now
	}
	for _, name := range opts.PerResponse {
		c.perResponse = append(c.perResponse, http.CanonicalHeaderKey(name))
	}
	for _, r := range []string{resultHit, resultMiss, resultBypass} {
		c.results[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("result", r)))
	}
	meter := meterProvider.Meter(instrumentationScope)
	var err error
	c.requests, err = meter.Int64Counter(RequestsMetric,
		metric.WithDescription("Cacheable requests seen by the gateway's response cache, by result: hit, miss or bypass."),
		metric.WithUnit("{request}"))
	if err != nil {
		return nil, fmt.Errorf("new cache: create %s: %w", RequestsMetric, err)
	}
	_, err = meter.Int64ObservableGauge(EntriesMetric,
		metric.WithDescription("Responses held by the gateway's response cache."),
		metric.WithUnit("{entry}"),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(int64(c.store.len()))
			return nil
		}))
	if err != nil {
		return nil, fmt.Errorf("new cache: create %s: %w", EntriesMetric, err)
	}
	return c, nil
}

// Middleware serves GET requests from the cache when it can and stores next's cacheable
// answers. Other methods pass straight through.
func (c *Cache) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			next.ServeHTTP(w, r)
			return
		}
		req := parseCacheControl(r.Header)
		if req.noStore {
			c.count(w, r, resultBypass)
			next.ServeHTTP(w, r)
			return
		}
		key := cacheKey(r)
		authorized := r.Header.Get("Authorization") != ""
		refresh := req.noCache || (req.hasMaxAge && req.maxAge == 0)
		if !refresh {
			if e, ok := c.store.get(key, c.now()); ok && (!authorized || e.sharable) {
				c.count(w, r, resultHit)
				c.serve(w, e)
				return
			}
		}
		c.count(w, r, resultMiss)
		rec := &recorder{ResponseWriter: w, header: make(http.Header), limit: c.maxEntryBytes, now: c.now}
		next.ServeHTTP(rec, r)
		if e, ok := c.entryFrom(key, rec, authorized); ok {
			c.store.put(e)
		}
	})
}

// count records the result in the X-Cache header, the metrics and the request's span.
func (c *Cache) count(w http.ResponseWriter, r *http.Request, result string) {
	w.Header().Set(HeaderCache, upper(result))
	c.requests.Add(r.Context(), 1, c.results[result])
	trace.SpanFromContext(r.Context()).SetAttributes(attribute.String(ResultAttribute, result))
}

// serve writes a stored answer, with its age.
func (c *Cache) serve(w http.ResponseWriter, e *entry) {
	h := w.Header()
	for k, vv := range e.header {
		h[k] = slices.Clone(vv)
	}
	age := max(0, c.now().Sub(e.stored))
	h.Set("Age", strconv.FormatInt(int64(age/time.Second), 10))
	w.WriteHeader(e.status)
	_, _ = w.Write(e.body) // the client has gone if this fails
}

// entryFrom turns a recorded answer into an entry, if the answer may be stored.
func (c *Cache) entryFrom(key string, rec *recorder, authorized bool) (*entry, bool) {
	if !rec.wroteHeader || !rec.keep || rec.overflow {
		return nil, false
	}
	h := rec.stored
	if h.Get("Vary") != "" || h.Get("Set-Cookie") != "" || h.Get("Trailer") != "" {
		return nil, false
	}
	if cl := h.Get("Content-Length"); cl != "" && cl != strconv.Itoa(rec.body.Len()) {
		return nil, false // the body was cut short
	}
	d := parseCacheControl(h)
	lifetime, ok := d.freshFor()
	if !ok || (authorized && !d.sharable()) {
		return nil, false
	}
	if age, err := strconv.ParseUint(h.Get("Age"), 10, 31); err == nil {
		lifetime -= time.Duration(age) * time.Second
	}
	if lifetime <= 0 {
		return nil, false
	}
	h.Del("Age")
	for _, name := range c.perResponse {
		h.Del(name)
	}
	return &entry{
		key:      key,
		status:   rec.status,
		header:   h,
		body:     bytes.Clone(rec.body.Bytes()),
		stored:   rec.at,
		expires:  rec.at.Add(lifetime),
		sharable: d.sharable(),
	}, true
}

// cacheKey identifies a GET by path and query, with the query's parameters sorted so that
// ?a=1&b=2 and ?b=2&a=1 share an entry.
func cacheKey(r *http.Request) string {
	if r.URL.RawQuery == "" {
		return r.URL.EscapedPath()
	}
	return r.URL.EscapedPath() + "?" + r.URL.Query().Encode()
}

func upper(result string) string {
	switch result {
	case resultHit:
		return "HIT"
	case resultMiss:
		return "MISS"
	default:
		return "BYPASS"
	}
}

// recorder passes an answer through to the client while keeping a copy of it, if the answer
// could be stored at all (200 with a freshness lifetime): an answer marked no-store, an error
// or one without max-age passes through without a copy of its header fields or body, which
// would cost allocations on every such request for nothing (the handler-chain benchmark's
// catalogue read is answered no-store). entryFrom makes the remaining checks.
//
// The handler writes its header fields into a map of its own, copied to the client's at
// WriteHeader: that way the stored copy holds what the upstream said and nothing the
// middleware outside the cache added for this one request.
type recorder struct {
	http.ResponseWriter
	header      http.Header
	limit       int
	now         func() time.Time
	wroteHeader bool
	keep        bool // the answer may be stored: copy its header fields and body
	status      int
	at          time.Time
	stored      http.Header
	body        bytes.Buffer
	overflow    bool
}

func (rec *recorder) Header() http.Header { return rec.header }

func (rec *recorder) WriteHeader(status int) {
	if rec.wroteHeader {
		return
	}
	if status < http.StatusOK && status != http.StatusSwitchingProtocols {
		rec.ResponseWriter.WriteHeader(status) // an interim answer; the real one follows
		return
	}
	rec.wroteHeader, rec.status, rec.at = true, status, rec.now()
	if _, fresh := parseCacheControl(rec.header).freshFor(); status == http.StatusOK && fresh {
		rec.keep = true
		rec.stored = rec.header.Clone()
	}
	out := rec.ResponseWriter.Header()
	for k, vv := range rec.header {
		out[k] = vv
	}
	rec.ResponseWriter.WriteHeader(status)
}

func (rec *recorder) Write(b []byte) (int, error) {
	if !rec.wroteHeader {
		rec.WriteHeader(http.StatusOK)
	}
	if rec.keep && !rec.overflow {
		if rec.body.Len()+len(b) > rec.limit {
			rec.overflow = true
			rec.body = bytes.Buffer{}
		} else {
			rec.body.Write(b)
		}
	}
	return rec.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the writer underneath, for Flush.
func (rec *recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }
