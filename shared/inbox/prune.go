package inbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultRetention is how long a processed event is remembered: Kafka's default log retention
// (seven days) plus one day.
const DefaultRetention = 8 * 24 * time.Hour

// pruneBatch bounds one DELETE, so pruning never holds many locks or a long transaction.
const pruneBatch = 10_000

// Pruner deletes processed_events rows older than a retention, so the table stops growing.
//
// Forgetting an event is safe once no copy of it can arrive again. A copy comes from three places:
// Kafka redelivering it (impossible once the topic's retention has deleted it), the outbox relay
// publishing it again (only for a row that was not yet marked published, minutes at most), and a
// replay from a dead-letter topic (of a message this consumer never applied, since a dead-lettered
// message's transaction rolled back). So the retention must exceed the consumed topics'
// retention; the default assumes Kafka's seven days. The handlers' state machines also ignore
// repeated events, as a second line of defence.
type Pruner struct {
	pool      *pgxpool.Pool
	retention time.Duration
	interval  time.Duration
	logger    *slog.Logger
}

// NewPruner returns a pruner of pool's processed_events that runs every interval. A zero
// retention means DefaultRetention; a zero interval means one hour.
func NewPruner(pool *pgxpool.Pool, retention, interval time.Duration, logger *slog.Logger) (*Pruner, error) {
	if pool == nil || logger == nil {
		return nil, errors.New("new inbox pruner: pool and logger are required")
	}
	if retention <= 0 {
		retention = DefaultRetention
	}
	if interval <= 0 {
		interval = time.Hour
	}
	return &Pruner{pool: pool, retention: retention, interval: interval, logger: logger}, nil
}

// Run prunes every interval until ctx ends, then returns nil. A failed prune is logged and tried
// again at the next tick: nothing depends on it being prompt.
func (p *Pruner) Run(ctx context.Context) error {
	ticker := time.NewTicker(p.interval)
	defer ticker.Stop()
	for {
		if _, err := p.Prune(ctx); err != nil && ctx.Err() == nil {
			p.logger.WarnContext(ctx, "prune processed events", slog.Any("error", err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// Prune deletes every row older than the retention, in batches, and returns how many it deleted.
func (p *Pruner) Prune(ctx context.Context) (int64, error) {
	var total int64
	for {
		tag, err := p.pool.Exec(ctx, `
			DELETE FROM processed_events
			WHERE ctid IN (
			    SELECT ctid FROM processed_events
			    WHERE processed_at < now() - make_interval(secs => $1)
			    LIMIT $2)`,
			p.retention.Seconds(), pruneBatch)
		if err != nil {
			return total, fmt.Errorf("delete processed events older than %s: %w", p.retention, err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < pruneBatch {
			return total, nil
		}
	}
}
