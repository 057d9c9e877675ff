package saga

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/tracecart/tracecart/e2e/internal/shoptest"
	"github.com/tracecart/tracecart/shared/kafka"
)

// assertReplayHasOneEffect replays a dead-lettered event twice through the real tool path
// (kafka.ReadDeadLetters, Producer.Replay) and checks that its effect happened once.
//
// The dead letter is the order.cancelled of an order its owner cancelled after confirmation,
// written to user-service.dlq exactly as the consumer writes one, as if a bug had made
// user-service give up on a copy of it. user-service and product-service already applied the
// original (refund and restock), so both replays must be recognised by their inboxes and change
// nothing, and the replays must appear in the order's own trace.
func assertReplayHasOneEffect(t *testing.T, s *shop, token string) {
	t.Helper()
	socks := s.product(t, spanSocks)
	before := s.balance(t, token)
	o := s.placeOrder(t, token, []shoptest.OrderLine{{ProductID: spanSocks, Quantity: 1}})
	if got := shoptest.WaitTerminal(t, s.orders.As(token), o.ID, sagaDeadline); got.Status != "CONFIRMED" {
		t.Fatalf("order ended %s, want CONFIRMED", got.Status)
	}
	s.orders.As(token).Must(t, 200, "POST", "/orders/"+o.ID+"/cancel", nil, nil)
	shoptest.Eventually(t, 10*time.Second, "refund and restock", func() error {
		if b, p := s.balance(t, token), s.product(t, spanSocks); b != before || p.Stock != socks.Stock || p.Sold != socks.Sold {
			return fmt.Errorf("balance %d stock %d sold %d, want %d %d %d", b, p.Stock, p.Sold, before, socks.Stock, socks.Sold)
		}
		return nil
	})

	k := shoptest.DirectKafka(s.brokers)
	cancelled := k.FindEvent(t, "orders", o.ID, "order.cancelled")
	writeDeadLetter(t, s.brokers, "user-service", cancelled)

	letters, err := kafka.ReadDeadLetters(t.Context(), []string{s.brokers}, "user-service.dlq")
	if err != nil {
		t.Fatalf("ReadDeadLetters: %v", err)
	}
	var dl kafka.DeadLetter
	for _, l := range letters {
		if l.Record.Key == o.ID && l.Record.Headers["event-type"] == "order.cancelled" {
			dl = l
		}
	}
	if dl.OriginalTopic != "orders" {
		t.Fatalf("the dead letter of order %s is not listed on user-service.dlq (%d letters)", o.ID, len(letters))
	}
	producer := kafka.NewProducer([]string{s.brokers}, kafka.ProducerOptions{})
	defer producer.Close()
	for range 2 {
		if err := producer.Replay(t.Context(), dl); err != nil {
			t.Fatalf("Replay: %v", err)
		}
	}

	// Both consumers of the orders topic get the replays, in the order's trace (the replay keeps
	// the trace context stored with the dead letter), and their inboxes mark them duplicates.
	// (That the replay's own span joins the trace is shown by shared/kafka's TestDeadLetterReplay;
	// this test process exports no spans.)
	traceID := shoptest.TraceIDOf(t, cancelled)
	for _, group := range []string{"user-service", "product-service"} {
		shoptest.WaitForSpanTag(t, s.jaeger.QueryURL(), traceID, group, "tracecart.inbox.duplicate", "true")
	}
	// One more plain copy behind the replays (same key, so same partition): once both groups
	// have consumed it, both replays have been handled.
	end := k.Republish(t, cancelled)
	for _, group := range []string{"user-service", "product-service"} {
		k.WaitConsumed(t, group, "orders", cancelled.Partition, end)
	}
	if b := s.balance(t, token); b != before {
		t.Errorf("balance %d after the replays, want %d: a replay refunded again", b, before)
	}
	if p := s.product(t, spanSocks); p.Stock != socks.Stock || p.Sold != socks.Sold {
		t.Errorf("stock %d sold %d after the replays, want %d %d: a replay restocked again", p.Stock, p.Sold, socks.Stock, socks.Sold)
	}
}

// writeDeadLetter writes m to group's dead-letter topic with the headers the consumer adds when
// it gives up on a message.
func writeDeadLetter(t *testing.T, brokers, group string, m kafkago.Message) {
	t.Helper()
	headers := append([]kafkago.Header(nil), m.Headers...)
	for key, value := range map[string]string{
		kafka.HeaderDLQError:             "simulated: a handler bug made user-service give up on this copy",
		kafka.HeaderDLQOriginalTopic:     m.Topic,
		kafka.HeaderDLQOriginalPartition: strconv.Itoa(m.Partition),
		kafka.HeaderDLQOriginalOffset:    strconv.FormatInt(m.Offset, 10),
		kafka.HeaderDLQConsumerGroup:     group,
		kafka.HeaderDLQAttempts:          "1",
	} {
		headers = append(headers, kafkago.Header{Key: key, Value: []byte(value)})
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	w := &kafkago.Writer{Addr: kafkago.TCP(brokers), Topic: group + ".dlq", BatchTimeout: time.Millisecond}
	defer w.Close()
	if err := w.WriteMessages(ctx, kafkago.Message{Key: m.Key, Value: m.Value, Headers: headers}); err != nil {
		t.Fatalf("write dead letter: %v", err)
	}
}
