// Command sagabench measures tracecart's order saga from outside, the way a customer sees it:
// it places orders through the gateway of a running stack (the compose demo), follows each
// order until its saga has decided, checks the books afterwards, and reads what every container
// of the stack spent in CPU and memory meanwhile.
//
// Two kinds of load:
//
//   - closed loop (-clients N): N customers in parallel, each placing an order, waiting until it
//     is CONFIRMED, REJECTED or CANCELLED, then placing the next. Throughput is whatever the
//     system gives; latency stays honest because nobody queues behind a slow saga.
//   - open loop (-rate R): R orders per second on a fixed schedule, whatever the system does.
//     This is the one that shows whether the system keeps up: when it does not, sagas queue
//     and their latency grows for as long as the run lasts.
//
// It prints one plain table (and, with -json, the same figures as JSON) so that two commits
// can be compared run against run. Run it with `make bench-saga`; docs/performance-saga.md
// explains the method and holds the figures measured so far.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sagabench:", err)
		os.Exit(1)
	}
}

// run parses the flags, prepares the shop (products, customers), drives the load, waits for
// the sagas to finish, checks the books and prints the report.
func run(ctx context.Context, args []string, stdout io.Writer) (err error) {
	cfg, err := parseConfig(args)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	shop := newShop(cfg.Gateway, os.Stderr)
	if err := shop.waitReady(ctx, cfg.ReadyTimeout); err != nil {
		return err
	}
	fixture, err := prepare(ctx, shop, cfg)
	if err != nil {
		return fmt.Errorf("prepare the shop: %w", err)
	}

	var stats *statsSampler
	if cfg.Project != "" {
		stats, err = startStats(ctx, cfg.DockerSocket, cfg.Project)
		if err != nil {
			return fmt.Errorf("read container stats (use -project '' to skip): %w", err)
		}
	}

	res := drive(ctx, shop, fixture, cfg)

	var usage []containerUsage
	if stats != nil {
		usage, err = stats.stop(ctx)
		if err != nil {
			return fmt.Errorf("read container stats: %w", err)
		}
	}
	books := checkBooks(ctx, shop, fixture, cfg.BooksTimeout)

	rep := newReport(cfg, res, books, usage)
	rep.writeTable(stdout)
	if cfg.JSONPath != "" {
		if err := rep.writeJSON(cfg.JSONPath); err != nil {
			return err
		}
	}
	if len(books.Errors) > 0 {
		return fmt.Errorf("the books do not balance (%d problems)", len(books.Errors))
	}
	return nil
}
