// Package ratelimit is the gateway's per-client token bucket: each client (a key such as a
// user ID or an IP address) has a bucket of Burst tokens that refills at Rate tokens per second,
// and every request takes one. A client that keeps under the rate is never refused; one that
// bursts may spend the whole bucket at once, then gets one request per 1/Rate seconds.
//
// The package knows nothing about HTTP: it answers "allowed or not, and what to tell the
// client" (Decision), and the gateway's middleware turns that into 429 and RateLimit headers.
// Time is passed in, so the tests move a clock instead of sleeping.
//
// The bucket itself is golang.org/x/time/rate's Limiter, the Go team's token bucket: a token
// bucket is not what tracecart teaches, and a well-kept one is better than a home-made copy.
// What this package adds is what rate.Limiter does not do: one bucket per client, forgetting
// the buckets of clients that went quiet, and the numbers the RateLimit header fields need.
package ratelimit

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ErrInvalidLimit is returned by New for a rate or burst that would refuse every request.
var ErrInvalidLimit = errors.New("invalid rate limit")

// Limit is the allowance of one client: Burst requests at once, Rate requests per second
// sustained.
type Limit struct {
	Rate  float64 // tokens added per second
	Burst int     // bucket size, and the most requests one client can make at once
}

// window is how long an empty bucket takes to fill up again: the period the policy's quota
// refers to.
func (l Limit) window() time.Duration {
	return time.Duration(float64(l.Burst) / l.Rate * float64(time.Second))
}

// Decision is the limiter's answer for one request, with what the client should be told.
type Decision struct {
	// Allowed is false when the client has no token left: the request must be refused.
	Allowed bool
	// Limit is the bucket size (the quota of RateLimit-Limit).
	Limit int
	// Remaining is the number of whole tokens left after this request.
	Remaining int
	// Reset is how long until the bucket is full again, when the client's quota is whole.
	Reset time.Duration
	// RetryAfter is how long until the next token, for a refused request; 0 if allowed.
	RetryAfter time.Duration
}

// Limiter keeps one token bucket per key. It is safe for concurrent use.
//
// A full bucket behaves exactly like a missing one, so buckets that have refilled are dropped
// in a sweep every Window: memory grows with the clients active in the last few seconds, not
// with every client ever seen.
type Limiter struct {
	limit Limit

	mu        sync.Mutex // guards buckets and lastSweep; each bucket locks itself
	buckets   map[string]*rate.Limiter
	lastSweep time.Time
}

// New returns a Limiter giving every key the same limit.
func New(limit Limit) (*Limiter, error) {
	if !(limit.Rate > 0) || math.IsInf(limit.Rate, 0) || limit.Burst < 1 {
		return nil, fmt.Errorf("%w: rate %v/s with burst %d; both must be positive", ErrInvalidLimit, limit.Rate, limit.Burst)
	}
	return &Limiter{limit: limit, buckets: make(map[string]*rate.Limiter)}, nil
}

// Limit returns the limit every key gets.
func (l *Limiter) Limit() Limit { return l.limit }

// Window is how long an empty bucket takes to refill: the window of the quota Burst.
func (l *Limiter) Window() time.Duration { return l.limit.window() }

// Allow takes a token from key's bucket if there is one, as of now.
//
// Remaining, Reset and RetryAfter are read from the bucket just after the decision; another
// request of the same client at the same moment may already have moved them by a token. They
// are advice for the client's headers, and the decision itself is exact.
func (l *Limiter) Allow(key string, now time.Time) Decision {
	b := l.bucket(key, now)
	allowed := b.AllowN(now, 1)
	tokens := b.TokensAt(now)

	d := Decision{Allowed: allowed, Limit: l.limit.Burst, Remaining: max(0, int(tokens))}
	if !allowed {
		d.RetryAfter = seconds((1 - tokens) / l.limit.Rate)
	}
	d.Reset = seconds((float64(l.limit.Burst) - tokens) / l.limit.Rate)
	return d
}

// bucket returns key's bucket, a full one for a key not seen (or swept) before.
func (l *Limiter) bucket(key string, now time.Time) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b, ok := l.buckets[key]
	if !ok {
		b = rate.NewLimiter(rate.Limit(l.limit.Rate), l.limit.Burst)
		l.buckets[key] = b
	}
	return b
}

// sweep drops the buckets that have refilled since their last use, once per window.
func (l *Limiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < l.limit.window() {
		return
	}
	l.lastSweep = now
	full := float64(l.limit.Burst)
	for key, b := range l.buckets {
		if b.TokensAt(now) >= full {
			delete(l.buckets, key)
		}
	}
}

// Clients returns the number of buckets held, for metrics and tests.
func (l *Limiter) Clients() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

func seconds(s float64) time.Duration {
	return time.Duration(s * float64(time.Second))
}
