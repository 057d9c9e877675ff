// Command tracecart-dlq lists, shows and replays the messages of tracecart's dead-letter topics.
//
// A consumer group dead-letters only what retrying cannot fix: a malformed or unknown-version
// event, a handler's explicit permanent error, a panic. Once the cause is fixed (a new release
// that understands the event, say), replay sends the message back to its original topic; the
// consumer's inbox makes its effect happen once however often it is replayed, and the replay
// joins the message's trace in Jaeger.
//
//	tracecart-dlq list   <group>            every dead-lettered message of the group
//	tracecart-dlq show   <group> <offset>   one message in full, payload included
//	tracecart-dlq replay <group> <offset>   send one message back to its original topic
//	tracecart-dlq replay <group> all        send every message back, oldest first
//
// KAFKA_BROKERS names the brokers (default 127.0.0.1:9092); the standard OTEL_* variables
// configure where the replay spans go. In the compose demo, run it on the demo's network:
//
//	docker compose --env-file infra/images.env -f infra/compose.yaml --profile tools run --rm dlq list product-service
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	if err != nil {
		os.Stderr.WriteString("tracecart-dlq: " + err.Error() + "\n")
		os.Exit(1)
	}
}
