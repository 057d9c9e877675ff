package main

import (
	"errors"
	"flag"
	"fmt"
	"time"
)

// config is everything a run depends on, from the command line. The report prints it, so a
// table can be read without the command that produced it.
type config struct {
	Gateway      string        // the gateway's base URL, without /api
	Clients      int           // closed loop: customers ordering one after another; 0 for open loop
	Rate         float64       // open loop: orders per second; 0 for closed loop
	Duration     time.Duration // how long orders are placed
	Drain        time.Duration // how long unfinished sagas are awaited after the last order
	Products     int           // products the orders are spread over
	PerCustomer  int           // orders one customer places at most
	PollMax      time.Duration // the longest wait between two reads of a pending order
	Project      string        // docker compose project whose containers are measured; "" for none
	DockerSocket string        // the Docker engine's socket
	ReadyTimeout time.Duration // how long to wait for the shop to answer before giving up
	BooksTimeout time.Duration // how long the books may take to settle once sagas have finished
	JSONPath     string        // where to write the report as JSON as well; "" for no file
	Label        string        // a free-form label printed with the report (a commit, say)
}

// mode names the kind of load, for the report.
func (c config) mode() string {
	if c.Rate > 0 {
		return fmt.Sprintf("open loop, %g orders/s for %s", c.Rate, c.Duration)
	}
	return fmt.Sprintf("closed loop, %d clients for %s", c.Clients, c.Duration)
}

func parseConfig(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("sagabench", flag.ContinueOnError)
	fs.StringVar(&c.Gateway, "gateway", "http://127.0.0.1:8080", "the gateway's base URL")
	fs.IntVar(&c.Clients, "clients", 0, "closed loop: this many customers order one after another")
	fs.Float64Var(&c.Rate, "rate", 0, "open loop: orders per second on a fixed schedule")
	fs.DurationVar(&c.Duration, "duration", 20*time.Second, "how long to place orders")
	fs.DurationVar(&c.Drain, "drain", 60*time.Second, "how long to wait for unfinished sagas after the last order")
	fs.IntVar(&c.Products, "products", 8, "products the orders are spread over")
	fs.IntVar(&c.PerCustomer, "per-customer", 40, "orders one customer places at most (a wallet page lists 100 transactions; the gateway limits each customer's request rate)")
	fs.DurationVar(&c.PollMax, "poll-max", 250*time.Millisecond, "the longest wait between two reads of a pending order")
	fs.StringVar(&c.Project, "project", "tracecart-bench", "docker compose project whose containers are measured ('' to skip)")
	fs.StringVar(&c.DockerSocket, "docker-socket", "/var/run/docker.sock", "the Docker engine's socket")
	fs.DurationVar(&c.ReadyTimeout, "ready-timeout", 90*time.Second, "how long to wait for the shop to take orders")
	fs.DurationVar(&c.BooksTimeout, "books-timeout", 30*time.Second, "how long the books may take to settle after the sagas")
	fs.StringVar(&c.JSONPath, "json", "", "also write the report as JSON to this file")
	fs.StringVar(&c.Label, "label", "", "a label printed with the report, such as a commit")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var errs []error
	switch {
	case c.Clients > 0 && c.Rate > 0:
		errs = append(errs, errors.New("-clients (closed loop) and -rate (open loop) exclude each other"))
	case c.Clients <= 0 && c.Rate <= 0:
		errs = append(errs, errors.New("give -clients N (closed loop) or -rate R (open loop)"))
	}
	if c.Duration <= 0 {
		errs = append(errs, errors.New("-duration must be positive"))
	}
	if c.Products < 1 {
		errs = append(errs, errors.New("-products must be at least 1"))
	}
	if c.PerCustomer < 1 || c.PerCustomer > 90 {
		errs = append(errs, errors.New("-per-customer must be from 1 to 90, so that a wallet's ledger fits one page"))
	}
	if c.PollMax < 10*time.Millisecond {
		errs = append(errs, errors.New("-poll-max must be at least 10ms"))
	}
	return c, errors.Join(errs...)
}
