package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/tracecart/tracecart/shared/config"
	"github.com/tracecart/tracecart/shared/kafka"
	"github.com/tracecart/tracecart/shared/telemetry"
)

// Config is the command's environment.
type Config struct {
	config.Kafka
}

// errUsage is returned for arguments the command does not understand.
var errUsage = errors.New("usage: tracecart-dlq list <group> | show <group> <offset> | replay <group> <offset|all>")

// run carries out one command against the dead-letter topic of a consumer group.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) (err error) {
	if len(args) < 2 {
		return errUsage
	}
	verb, topic := args[0], args[1]+".dlq"
	cfg, err := config.Load[Config](getenv)
	if err != nil {
		return err
	}
	letters, err := kafka.ReadDeadLetters(ctx, cfg.Brokers, topic)
	if err != nil {
		return err
	}

	switch {
	case verb == "list" && len(args) == 2:
		return list(stdout, letters)
	case verb == "show" && len(args) == 3:
		dl, err := find(letters, args[2])
		if err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			kafka.DeadLetter
			Payload json.RawMessage `json:"Payload,omitempty"`
		}{dl, payload(dl.Record.Value)})
	case verb == "replay" && len(args) == 3:
		return replay(ctx, stdout, cfg, letters, args[2])
	}
	return errUsage
}

// list prints one line per dead letter.
func list(stdout io.Writer, letters []kafka.DeadLetter) error {
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "OFFSET\tTIME\tFROM\tKEY\tEVENT\tATTEMPTS\tERROR")
	for _, dl := range letters {
		fmt.Fprintf(w, "%d\t%s\t%s/%d@%d\t%s\t%s %s\t%d\t%s\n", dl.Offset, dl.Time.UTC().Format("2006-01-02T15:04:05Z"),
			dl.OriginalTopic, dl.OriginalPartition, dl.OriginalOffset, dl.Record.Key,
			dl.Record.Headers["event-type"], dl.Record.Headers[kafka.HeaderEventID], dl.Attempts, oneLine(dl.Error))
	}
	return w.Flush()
}

// replay sends the chosen dead letters back to their topics, tracing each replay.
func replay(ctx context.Context, stdout io.Writer, cfg Config, letters []kafka.DeadLetter, which string) (err error) {
	chosen := letters
	if which != "all" {
		dl, err := find(letters, which)
		if err != nil {
			return err
		}
		chosen = []kafka.DeadLetter{dl}
	}
	// The replay spans go where the OTEL_* variables say (OTLP by default), so that they appear
	// in the replayed messages' traces; the log lines go nowhere, the command prints its own.
	tel, err := telemetry.Setup(ctx, telemetry.Options{ServiceName: "tracecart-dlq", Stdout: io.Discard})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, tel.Shutdown(context.WithoutCancel(ctx))) }()
	producer := kafka.NewProducer(cfg.Brokers, kafka.ProducerOptions{
		Logger: tel.Logger, TracerProvider: tel.TracerProvider, MeterProvider: tel.MeterProvider, Propagator: tel.Propagator,
	})
	defer func() { err = errors.Join(err, producer.Close()) }()
	for _, dl := range chosen {
		if err := producer.Replay(ctx, dl); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "replayed offset %d to %s (key %s)\n", dl.Offset, dl.OriginalTopic, dl.Record.Key)
	}
	return nil
}

// find returns the dead letter at the given offset.
func find(letters []kafka.DeadLetter, offset string) (kafka.DeadLetter, error) {
	n, err := strconv.ParseInt(offset, 10, 64)
	if err != nil {
		return kafka.DeadLetter{}, fmt.Errorf("offset %q: %w", offset, errUsage)
	}
	for _, dl := range letters {
		if dl.Offset == n {
			return dl, nil
		}
	}
	return kafka.DeadLetter{}, fmt.Errorf("no dead letter at offset %d", n)
}

// payload returns value as JSON when it is JSON, so show prints it readably, else nil.
func payload(value []byte) json.RawMessage {
	if json.Valid(value) {
		return value
	}
	return nil
}

// oneLine keeps a multi-line error on its table row.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }
