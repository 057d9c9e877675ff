package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/tracecart/tracecart/e2e/internal/shoptest"
)

// orderRun is one order's life as the benchmark saw it: when it was sent, what the POST
// answered, and when a read first found it terminal, next to the order's own timestamps.
type orderRun struct {
	ID      string
	TraceID string // the gateway's X-Trace-Id, to look the order up in Jaeger

	Sent     time.Time     // when the POST was sent
	PostTook time.Duration // the POST's round trip
	PostCode int           // the POST's status; 0 when the request failed
	PostErr  string        // why the request failed, if it did

	Final     string    // the terminal status, "" if none was seen before the drain ended
	Seen      time.Time // when a read first found the order terminal
	CreatedAt time.Time // order-service's created_at
	UpdatedAt time.Time // order-service's updated_at: when the saga decided, once terminal
	Polls     int       // GET /orders/{id} sent for this order
}

// accepted reports whether the shop took the order (202).
func (o *orderRun) accepted() bool { return o.PostCode == http.StatusAccepted }

// clientSaga is POST sent → terminal seen, as the customer lives it. It is longer than the
// saga by up to one poll interval.
func (o *orderRun) clientSaga() time.Duration { return o.Seen.Sub(o.Sent) }

// ownSaga is created_at → updated_at: the saga as order-service recorded it, without the
// client's polling in it.
func (o *orderRun) ownSaga() time.Duration { return o.UpdatedAt.Sub(o.CreatedAt) }

// orderJSON is the part of order-service's order that the benchmark reads.
type orderJSON struct {
	shoptest.Order
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// result is what the load phase produced.
type result struct {
	Orders []*orderRun

	Start   time.Time // the first order's scheduled time
	LoadEnd time.Time // when orders stopped being placed
	End     time.Time // when the last saga finished or the drain gave up

	// ScheduleLag is, for the open loop, the most an order was sent after its scheduled time:
	// large values mean the load generator itself could not keep the rate.
	ScheduleLag time.Duration

	Requests     int64         // every request sent during the load, polls included
	RateLimited  int64         // how many of them the gateway refused with 429
	LateCustomer int           // customers registered during the load (the prepared ones ran out)
	BenchCPU     time.Duration // CPU time the benchmark process itself used during the load
}

// drive places the orders (closed or open loop) and follows each to its end, then returns once
// every order is terminal or the drain time is over.
func drive(ctx context.Context, s *shop, f *fixture, cfg config) result {
	res := result{Start: time.Now()}
	res.LoadEnd = res.Start.Add(cfg.Duration)
	followCtx, cancel := context.WithDeadline(ctx, res.LoadEnd.Add(cfg.Drain))
	defer cancel()
	cpuBefore := processCPU()
	requestsBefore, limitedBefore := s.requests.Load(), s.rateLimited.Load()

	var (
		mu        sync.Mutex
		wg        sync.WaitGroup // one per order (open loop) or per client (closed loop)
		refilling sync.WaitGroup // the closed loop's customer registration
	)
	one := func() {
		o := placeAndFollow(ctx, followCtx, s, f, cfg)
		mu.Lock()
		defer mu.Unlock()
		res.Orders = append(res.Orders, o)
	}

	if cfg.Rate > 0 {
		// Open loop: order i is due at Start + i/Rate, whatever happened to the earlier ones;
		// each order has its own goroutine so that a slow one delays nothing.
		interval := time.Duration(float64(time.Second) / cfg.Rate)
		for i := 0; ; i++ {
			due := res.Start.Add(time.Duration(i) * interval)
			if !due.Before(res.LoadEnd) || sleep(ctx, time.Until(due)) != nil {
				break
			}
			res.ScheduleLag = max(res.ScheduleLag, time.Since(due))
			wg.Go(one)
		}
	} else {
		// Customers are registered in the background until the load ends.
		refillCtx, stopRefill := context.WithDeadline(ctx, res.LoadEnd)
		defer stopRefill()
		refilling.Go(func() { f.refill(refillCtx, s, cfg.Clients) })
		// Closed loop: each client places its next order once the previous one has finished.
		for range cfg.Clients {
			wg.Go(func() {
				for time.Now().Before(res.LoadEnd) && ctx.Err() == nil {
					one()
				}
			})
		}
	}
	wg.Wait()
	refilling.Wait()

	res.End = time.Now()
	res.BenchCPU = processCPU() - cpuBefore
	res.Requests = s.requests.Load() - requestsBefore
	res.RateLimited = s.rateLimited.Load() - limitedBefore
	f.mu.Lock()
	res.LateCustomer = f.late
	f.mu.Unlock()
	return res
}

// placeAndFollow places one order of one unit of a random benchmark product for the next
// customer, then reads it until it is terminal or followCtx ends.
func placeAndFollow(ctx, followCtx context.Context, s *shop, f *fixture, cfg config) *orderRun {
	o := &orderRun{}
	c, err := f.take(ctx, s)
	if err != nil {
		o.Sent = time.Now()
		o.PostErr = fmt.Sprintf("register a customer: %v", err)
		return o
	}
	p := f.products[rand.IntN(len(f.products))]
	body := map[string]any{"lines": []shoptest.OrderLine{{ProductID: p.ID, Quantity: 1}}}

	var placed orderJSON
	o.Sent = time.Now()
	ans, err := s.do(ctx, c.token, http.MethodPost, "/orders", body, &placed)
	o.PostTook = time.Since(o.Sent)
	if err != nil {
		o.PostErr = err.Error()
		return o
	}
	o.PostCode = ans.status
	o.TraceID = ans.header.Get("X-Trace-Id")
	if !o.accepted() {
		o.PostErr = fmt.Sprintf("%.200s", ans.body)
		return o
	}
	o.ID = placed.ID
	o.CreatedAt = placed.CreatedAt

	follow(followCtx, s, c.token, o, ans.header.Get("ETag"), cfg)
	return o
}

// follow reads order o until it is terminal or followCtx ends, and records what it saw in o.
// etag is the version the POST answered with; "" when no long poll is on offer.
func follow(followCtx context.Context, s *shop, token string, o *orderRun, etag string, cfg config) {
	// Follow the order with long polls (order-service's GET /orders/{id} with If-None-Match and
	// Prefer: wait): each read is answered when the order changes, or with 304 after the wait.
	// A build that does not offer them (no ETag, no Preference-Applied) is polled instead: often
	// at first (a fast saga takes tens of milliseconds), then less and less, so that a backlog of
	// slow sagas does not turn into a flood of reads.
	wait := 10 * time.Millisecond
	pauseFirst := etag == ""
	for {
		if pauseFirst {
			if sleep(followCtx, wait) != nil {
				return
			}
			wait = min(wait*5/4, cfg.PollMax)
		}
		pauseFirst = etag == ""
		var headers []string
		if etag != "" {
			headers = []string{"If-None-Match", etag, "Prefer", longPollWait}
		}
		var now orderJSON
		o.Polls++
		ans, err := s.do(followCtx, token, http.MethodGet, "/orders/"+o.ID, nil, &now, headers...)
		switch {
		case followCtx.Err() != nil:
			return
		case err != nil:
			pauseFirst = true
		case ans.status == http.StatusNotModified:
			// The wait ended with no change: ask again at once.
		case ans.status == http.StatusTooManyRequests:
			wait = max(wait, retryAfter(ans.header))
			pauseFirst = true
		case ans.status == http.StatusOK && shoptest.Terminal(now.Status):
			o.Seen = time.Now()
			o.Final = now.Status
			o.CreatedAt, o.UpdatedAt = now.CreatedAt, now.UpdatedAt
			return
		case ans.status == http.StatusOK && ans.header.Get("Preference-Applied") != "":
			etag = ans.header.Get("ETag") // a new version, not final yet: wait for the next
		default:
			pauseFirst = true // a refusal, or a build that ignored the preference
		}
	}
}

// longPollWait is the Prefer header of the benchmark's reads: below the gateway's timeout for
// order-service (5 s) and order-service's own cap (4 s).
const longPollWait = "wait=4"

// processCPU is the CPU time (user and system) this process has used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
