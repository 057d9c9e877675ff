package outbox

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/tracecart/tracecart/shared/kafka"
	"github.com/tracecart/tracecart/shared/postgres"
)

// instrumentationName names this package as the source of its metrics.
const instrumentationName = "github.com/tracecart/tracecart/shared/outbox"

// Metric names. The Prometheus exporter turns them into tracecart_outbox_backlog,
// tracecart_outbox_oldest_age_seconds and tracecart_outbox_published_total.
const (
	// MetricBacklog is a gauge of the rows not yet published. It should hover near zero; a
	// backlog that keeps growing means Kafka is unreachable or the relay is not running.
	MetricBacklog = "tracecart.outbox.backlog"
	// MetricOldestAge is a gauge of the age in seconds of the oldest unpublished row: how late
	// the most delayed event is. Alert on it rather than on the backlog, which is large and
	// harmless during a burst of orders.
	MetricOldestAge = "tracecart.outbox.oldest_age"
	// MetricPublished counts the events the relay published, per topic
	// (messaging.destination.name). Republished events count again.
	MetricPublished = "tracecart.outbox.published"
	// MetricParked is a gauge of the rows Kafka refused on their own (not because it was
	// unreachable), waiting for a later retry. Anything above zero needs a person: see
	// docs/architecture.md, "Healing".
	MetricParked = "tracecart.outbox.parked"
)

// Defaults for RelayOptions.
const (
	DefaultBatchSize    = 100
	DefaultPollInterval = time.Second
	DefaultRetention    = time.Hour
	// DefaultPublishTimeout bounds one publish to Kafka, and with it how long the batch's
	// transaction holds its row locks.
	DefaultPublishTimeout = 10 * time.Second
)

const (
	// purgeInterval is how often, at most, the relay deletes expired rows: deleting is a scan of
	// the table, so it is not done on every wake-up.
	purgeInterval = time.Minute

	// isolateAfter is how many times in a row a batch may fail as a whole before the relay
	// publishes its rows one at a time, to find a row Kafka refuses on its own.
	isolateAfter = 3
	// Parked rows are retried after a delay that doubles from minParkDelay up to maxParkDelay.
	minParkDelay = time.Second
	maxParkDelay = 5 * time.Minute
)

// Publisher sends records to Kafka and returns only once the broker has acknowledged all of them.
// The relay marks rows published only after Publish returns nil.
type Publisher interface {
	Publish(ctx context.Context, recs ...kafka.Record) error
}

var _ Publisher = (*kafka.Producer)(nil)

// RelayOptions configures a Relay. The zero value gives the defaults.
type RelayOptions struct {
	// BatchSize is the most rows published in one transaction. Default 100.
	BatchSize int
	// PollInterval is how often the relay looks at the table without being woken: the safety net
	// for rows no commit in this process announced (see wakeups), and the pause before retrying
	// after a failed publish. Default one second.
	PollInterval time.Duration
	// Retention is how long published rows are kept, for inspection, before the relay deletes them.
	// Default one hour.
	Retention time.Duration
	// PublishTimeout bounds one publish to Kafka. Default ten seconds.
	PublishTimeout time.Duration
	// Paused, when set, is asked before every drain; while it answers true the relay publishes
	// nothing and only polls. It exists for a demo fault, the relay-paused scenario
	// (docs/walkthroughs/06-relay-paused.md): order-service wires it to its outboxRelayPaused
	// flag, so a learner can watch the backlog and its alert grow and then drain. Nil never pauses.
	Paused func(ctx context.Context) bool

	// MeterProvider receives the relay's metrics; default the global one. Logger receives the
	// errors the relay recovers from; default slog.Default().
	MeterProvider metric.MeterProvider
	Logger        *slog.Logger
}

// Relay publishes the outbox table's rows to Kafka, in the order they were written, and marks them
// published.
//
// It is woken after each commit of a transaction that added rows in this process, so events are
// normally on their way within milliseconds of the commit, and it also polls every PollInterval
// for rows written elsewhere. Any number of relays may work on one table, one per replica of a service: each claims its
// batch with FOR UPDATE SKIP LOCKED, so they never publish the same row at the same time. Events
// of one key keep their order with a single relay; with several, events written close together in
// separate transactions may overtake each other, as may a republished event after a crash.
type Relay struct {
	pool      *pgxpool.Pool
	publisher Publisher
	opts      RelayOptions
	meter     metric.Meter
	published metric.Int64Counter
}

// NewRelay returns a relay that publishes the outbox rows in pool's database through publisher.
// It does nothing until Run.
func NewRelay(pool *pgxpool.Pool, publisher Publisher, opts RelayOptions) *Relay {
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.PublishTimeout <= 0 {
		opts.PublishTimeout = DefaultPublishTimeout
	}
	if opts.MeterProvider == nil {
		opts.MeterProvider = otel.GetMeterProvider()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}

	meter := opts.MeterProvider.Meter(instrumentationName)
	published, err := meter.Int64Counter(MetricPublished,
		metric.WithUnit("{event}"),
		metric.WithDescription("Outbox events published to Kafka."))
	if err != nil {
		otel.Handle(err) // the counter is then a no-op: telemetry must not stop the relay
	}

	return &Relay{pool: pool, publisher: publisher, opts: opts, meter: meter, published: published}
}

// Run publishes outbox rows until ctx is done, then returns nil. Errors on the way (Kafka or
// Postgres unreachable) are logged and retried at the next poll; Run returns an error only if it
// cannot start.
//
// When ctx ends in the middle of a batch, the batch is rolled back and published again by the next
// relay to run: possibly a second time, never not at all.
func (r *Relay) Run(ctx context.Context) error {
	gauges, err := r.registerGauges()
	if err != nil {
		return fmt.Errorf("register outbox metrics: %w", err)
	}
	defer func() { _ = gauges.Unregister() }()

	wake, unsubscribe := wakeups.Watch(struct{}{})
	defer unsubscribe()

	poll := time.NewTicker(r.opts.PollInterval)
	defer poll.Stop()
	nextPurge := time.Now()
	failures := 0
	paused := false
	for {
		if r.pausedNow(ctx, &paused) {
			select {
			case <-ctx.Done():
				return nil
			case <-poll.C:
			}
			continue
		}
		forgetWakeups(wake)
		if err := r.drain(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			failures++
			r.opts.Logger.WarnContext(ctx, "outbox relay: publishing failed, retrying at the next poll",
				slog.Any("error", err), slog.Int("failures_in_a_row", failures))
			if failures >= isolateAfter {
				// The same batch keeps failing: perhaps Kafka is down, perhaps one row in it is
				// refused. Publishing the rows one by one tells which, and parks the refused.
				r.isolate(ctx)
			}
			// Commits do not bring Kafka back, so only the poll ends this wait.
			select {
			case <-ctx.Done():
				return nil
			case <-poll.C:
			}
			continue
		}
		failures = 0
		if now := time.Now(); !now.Before(nextPurge) {
			r.purge(ctx)
			nextPurge = now.Add(min(purgeInterval, r.opts.Retention))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-poll.C:
		}
	}
}

// forgetWakeups empties wake before a drain. Every row whose wake-up has arrived by now is
// committed, so the drain's first claim sees it; kept, each wake-up would cause an empty claim
// afterwards (one per outbox write under load, half of the relay's transactions).
func forgetWakeups(wake <-chan struct{}) {
	select {
	case <-wake:
	default:
	}
}

// pausedNow asks opts.Paused whether to publish and logs when the answer changes (was is the
// previous answer), so the service's log says when its events stopped and started flowing.
func (r *Relay) pausedNow(ctx context.Context, was *bool) bool {
	if r.opts.Paused == nil {
		return false
	}
	now := r.opts.Paused(ctx)
	if now != *was {
		if now {
			r.opts.Logger.WarnContext(ctx, "outbox relay paused by a scenario flag: events wait in the outbox")
		} else {
			r.opts.Logger.InfoContext(ctx, "outbox relay resumed: publishing the backlog")
		}
		*was = now
	}
	return now
}

// drain publishes batches until the backlog is empty.
func (r *Relay) drain(ctx context.Context) error {
	for {
		n, err := r.publishBatch(ctx)
		if err != nil {
			return err
		}
		// A short batch means no unpublished row was left that another relay had not claimed.
		if n < r.opts.BatchSize {
			return nil
		}
	}
}

// claimQuery selects the oldest rows that are due: not published, not parked, and with no parked
// row of the same key before them (so a key's events keep their order). SKIP LOCKED: rows another
// relay is publishing right now are not ours to wait for.
const claimQuery = `
	SELECT seq, topic, key, payload, headers
	FROM outbox o
	WHERE published_at IS NULL AND seq > $2
	  AND (retry_at IS NULL OR retry_at <= now())
	  AND NOT EXISTS (
	      SELECT 1 FROM outbox p
	      WHERE p.key = o.key AND p.published_at IS NULL AND p.seq < o.seq AND p.retry_at > now())
	ORDER BY seq
	LIMIT $1
	FOR UPDATE SKIP LOCKED`

// markPublished marks the rows with the given sequence numbers published. "published_at IS NULL"
// changes no result (claimed rows are unpublished) but lets Postgres find the rows through the
// partial index of unpublished rows; without it, every mark scanned the whole table, published
// rows of the retention period included (14-32 ms a batch at 13,000 rows, and growing).
const markPublished = `UPDATE outbox SET published_at = now() WHERE seq = ANY($1) AND published_at IS NULL`

// claim locks up to limit due rows after sequence number after in tx and returns them with their
// sequence numbers.
func claim(ctx context.Context, tx pgx.Tx, limit int, after int64) (seqs []int64, recs []kafka.Record, err error) {
	rows, err := tx.Query(ctx, claimQuery, limit, after)
	if err != nil {
		return nil, nil, fmt.Errorf("claim outbox rows: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var rec kafka.Record
		if err := rows.Scan(&seq, &rec.Topic, &rec.Key, &rec.Value, &rec.Headers); err != nil {
			return nil, nil, fmt.Errorf("read outbox row: %w", err)
		}
		seqs = append(seqs, seq)
		recs = append(recs, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("claim outbox rows: %w", err)
	}
	return seqs, recs, nil
}

// publish sends recs to Kafka within the publish timeout.
func (r *Relay) publish(ctx context.Context, recs []kafka.Record) error {
	ctx, cancel := context.WithTimeout(ctx, r.opts.PublishTimeout)
	defer cancel()
	return r.publisher.Publish(ctx, recs...)
}

// publishBatch claims the oldest due rows, publishes them and marks them published, all in one
// transaction, and returns how many it published.
func (r *Relay) publishBatch(ctx context.Context) (int, error) {
	// The transaction holds its rows' locks until it ends: bound it, publish included, so that a
	// hung connection cannot hold them for ever.
	ctx, cancel := context.WithTimeout(ctx, 2*r.opts.PublishTimeout)
	defer cancel()
	var recs []kafka.Record
	// Atomic sends BEGIN with the claim and the mark below with COMMIT: two round trips a batch.
	err := postgres.Atomic(ctx, r.pool, func(ctx context.Context, tx pgx.Tx) error {
		var seqs []int64
		var err error
		seqs, recs, err = claim(ctx, tx, r.opts.BatchSize, 0)
		if err != nil || len(recs) == 0 {
			return err
		}
		if err := r.publish(ctx, recs); err != nil {
			return fmt.Errorf("publish %d outbox rows: %w", len(recs), err)
		}
		// The events are in Kafka now. Should the process die before the commit, the rows stay
		// unpublished and are published again: at-least-once, never lost.
		//
		// The commit does not wait for the disk (synchronous_commit off). Were Postgres to crash
		// in the moment after it, the mark would be lost and the rows published again, which
		// consumers' inboxes absorb; the rows themselves were written by durable commits. Under
		// load, commits queue for the WAL flush (docs/performance-saga.md, "After, part 3"), and
		// nearly half of them were the relay's.
		if err := postgres.WriteLater(ctx, tx, `SET LOCAL synchronous_commit = off`); err != nil {
			return fmt.Errorf("mark %d outbox rows published: %w", len(seqs), err)
		}
		if err := postgres.WriteLater(ctx, tx, markPublished, seqs); err != nil {
			return fmt.Errorf("mark %d outbox rows published: %w", len(seqs), err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, rec := range recs {
		r.published.Add(ctx, 1, metric.WithAttributes(semconv.MessagingDestinationName(rec.Topic)))
	}
	return len(recs), nil
}

// isolate publishes the due rows one at a time, each in its own transaction, to find the rows
// Kafka refuses on their own, and parks them. A failed row's key is skipped for the rest of the
// round, so no later event of that key overtakes it. Failures are parked only when some other row
// went through, which shows that Kafka is up and refuses those rows in particular; when nothing
// went through, Kafka itself is likely down, and every row waits, unparked, for the next poll.
func (r *Relay) isolate(ctx context.Context) {
	type failure struct {
		seq int64
		err error
	}
	var (
		failures   []failure
		failedKeys = make(map[string]bool)
		after      int64
		published  bool
	)
	for range r.opts.BatchSize {
		found := false
		err := postgres.InTx(ctx, r.pool, func(tx pgx.Tx) error {
			seqs, recs, err := claim(ctx, tx, 1, after)
			if err != nil || len(recs) == 0 {
				return err
			}
			found, after = true, seqs[0]
			if failedKeys[recs[0].Key] {
				return nil
			}
			if err := r.publish(ctx, recs); err != nil {
				failures = append(failures, failure{seqs[0], err})
				failedKeys[recs[0].Key] = true
				return nil
			}
			published = true
			_, err = tx.Exec(ctx, markPublished, seqs[:1])
			return err
		})
		if err != nil || !found {
			break
		}
	}
	if !published {
		return
	}
	for _, f := range failures {
		_, err := r.pool.Exec(ctx, `
			UPDATE outbox
			SET attempts = attempts + 1, last_error = $2,
			    retry_at = now() + make_interval(secs => least($3 * power(2, attempts), $4))
			WHERE seq = $1 AND published_at IS NULL`,
			f.seq, f.err.Error(), minParkDelay.Seconds(), maxParkDelay.Seconds())
		if err != nil {
			r.opts.Logger.WarnContext(ctx, "outbox relay: parking a refused event failed", slog.Any("error", err))
			return
		}
		r.opts.Logger.ErrorContext(ctx, "outbox relay: Kafka refused an event; parked it for a later retry",
			slog.Int64("seq", f.seq), slog.Any("error", f.err))
	}
}

// purge deletes published rows older than the retention. A failure only delays the deletion, so
// it is logged, not returned.
func (r *Relay) purge(ctx context.Context) {
	_, err := r.pool.Exec(ctx,
		`DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1)`,
		r.opts.Retention.Seconds())
	if err != nil && ctx.Err() == nil {
		r.opts.Logger.WarnContext(ctx, "outbox relay: deleting old published rows failed", slog.Any("error", err))
	}
}

// registerGauges reports the backlog gauges, measured by a query whenever metrics are collected.
func (r *Relay) registerGauges() (metric.Registration, error) {
	backlog, err := r.meter.Int64ObservableGauge(MetricBacklog,
		metric.WithUnit("{event}"),
		metric.WithDescription("Outbox rows not yet published to Kafka."))
	if err != nil {
		return nil, err
	}
	oldestAge, err := r.meter.Float64ObservableGauge(MetricOldestAge,
		metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest outbox row not yet published to Kafka."))
	if err != nil {
		return nil, err
	}
	parked, err := r.meter.Int64ObservableGauge(MetricParked,
		metric.WithUnit("{event}"),
		metric.WithDescription("Outbox rows Kafka refused on their own, waiting for a later retry."))
	if err != nil {
		return nil, err
	}
	return r.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		var rows, parkedRows int64
		var age float64
		err := r.pool.QueryRow(ctx, `
			SELECT count(*), count(*) FILTER (WHERE attempts > 0),
			       coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
			FROM outbox
			WHERE published_at IS NULL`).Scan(&rows, &parkedRows, &age)
		if err != nil {
			return fmt.Errorf("measure outbox backlog: %w", err)
		}
		o.ObserveInt64(backlog, rows)
		o.ObserveInt64(parked, parkedRows)
		o.ObserveFloat64(oldestAge, age)
		return nil
	}, backlog, oldestAge, parked)
}
