package system

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// jaegerTrace is the part of Jaeger's query API answer (GET /api/traces/{id}) the suite reads.
type jaegerTrace struct {
	Spans []struct {
		SpanID        string `json:"spanID"`
		OperationName string `json:"operationName"`
		ProcessID     string `json:"processID"`
		References    []struct {
			SpanID string `json:"spanID"`
		} `json:"references"`
		Tags []struct {
			Key   string `json:"key"`
			Value any    `json:"value"`
		} `json:"tags"`
	} `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

// fetchTrace reads one trace from Jaeger's query API.
func fetchTrace(ctx context.Context, jaegerURL, traceID string) (jaegerTrace, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, jaegerURL+"/api/traces/"+traceID, nil)
	if err != nil {
		return jaegerTrace{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return jaegerTrace{}, err
	}
	defer resp.Body.Close()
	var body struct {
		Data []jaegerTrace `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || len(body.Data) != 1 {
		return jaegerTrace{}, fmt.Errorf("trace %s not found yet (%d, %v)", traceID, resp.StatusCode, err)
	}
	return body.Data[0], nil
}

// assertOneTrace fetches the trace the gateway named in X-Trace-Id and checks that it is the
// whole saga: the gateway, HTTP, SQL, publish and consume spans in all three services, forming
// one tree whose root is the gateway's span for the customer's request.
func assertOneTrace(t *testing.T, jaegerURL, traceID string) {
	t.Helper()
	var tr jaegerTrace
	eventually(t, 30*time.Second, "the whole saga in one trace", func() (err error) {
		if tr, err = fetchTrace(t.Context(), jaegerURL, traceID); err != nil {
			return err
		}
		// What each service must have contributed: the gateway the request; order-service the
		// order, its event and the payment's outcome; product-service the pricing call and the
		// reservation; user-service the payment.
		want := map[string][]string{
			"gateway":         {""},
			"order-service":   {"POST /orders", "send orders", "process payments", "db"},
			"product-service": {"GET /products/{id}", "process orders", "send inventory", "db"},
			"user-service":    {"process inventory", "send payments", "db"},
		}
		have := map[string][]string{}
		for _, s := range tr.Spans {
			svc := tr.Processes[s.ProcessID].ServiceName
			have[svc] = append(have[svc], s.OperationName)
			for _, tag := range s.Tags {
				if tag.Key == "db.system.name" || tag.Key == "db.system" {
					have[svc] = append(have[svc], "db")
				}
			}
		}
		var missing []string
		for svc, ops := range want {
			for _, op := range ops {
				if !anyHasPrefix(have[svc], op) {
					missing = append(missing, svc+": "+op)
				}
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%d spans so far, missing %v", len(tr.Spans), missing)
		}
		return nil
	})

	// One tree: every span's parent is in the trace except the root's, and the root is the
	// gateway's span for the customer's request (the customer sent no trace context).
	ids := map[string]bool{}
	for _, s := range tr.Spans {
		ids[s.SpanID] = true
	}
	var roots []string
	for _, s := range tr.Spans {
		if len(s.References) == 0 || !ids[s.References[0].SpanID] {
			roots = append(roots, tr.Processes[s.ProcessID].ServiceName+": "+s.OperationName)
		}
	}
	if len(roots) != 1 || !strings.HasPrefix(roots[0], "gateway: ") {
		t.Errorf("the trace of %d spans has %d roots %v, want one: the gateway's", len(tr.Spans), len(roots), roots)
	}
}

func anyHasPrefix(ops []string, prefix string) bool {
	for _, op := range ops {
		if strings.HasPrefix(op, prefix) {
			return true
		}
	}
	return false
}

// kafkaClient reaches the stack's broker from the host. The broker advertises kafka:9092, the
// name the services know it by; every connection the client opens, whatever address the
// metadata names, goes to where that listener is published on the host.
type kafkaClient struct {
	dialer *kafkago.Dialer
	client *kafkago.Client
}

func newKafkaClient(hostAddr string) kafkaClient {
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, hostAddr)
	}
	return kafkaClient{
		dialer: &kafkago.Dialer{Timeout: 5 * time.Second, DialFunc: dial},
		client: &kafkago.Client{Addr: kafkago.TCP(hostAddr), Timeout: 5 * time.Second, Transport: &kafkago.Transport{Dial: dial}},
	}
}

// findEvent reads a topic from the start and returns the event of one type for one order.
func (k kafkaClient) findEvent(t *testing.T, topic, orderID, eventType string) kafkago.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for partition := range 3 {
		leader, err := k.dialer.DialLeader(ctx, "tcp", "kafka:9092", topic, partition)
		if err != nil {
			t.Fatalf("dial %s/%d: %v", topic, partition, err)
		}
		first, last, err := leader.ReadOffsets()
		leader.Close()
		if err != nil {
			t.Fatal(err)
		}
		if first >= last {
			continue
		}
		r := kafkago.NewReader(kafkago.ReaderConfig{
			Brokers: []string{"kafka:9092"}, Dialer: k.dialer, Topic: topic, Partition: partition, MaxWait: 100 * time.Millisecond,
		})
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("read %s/%d: %v", topic, partition, err)
			}
			if string(m.Key) == orderID && header(m, "event-type") == eventType {
				r.Close()
				return m
			}
			if m.Offset+1 >= last {
				break
			}
		}
		r.Close()
	}
	t.Fatalf("no %s event for order %s on %s", eventType, orderID, topic)
	return kafkago.Message{}
}

// republish writes an exact copy of m to its own partition, as a redelivery would, and returns
// the partition's end offset after the write.
func (k kafkaClient) republish(t *testing.T, m kafkago.Message) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := k.dialer.DialLeader(ctx, "tcp", "kafka:9092", m.Topic, m.Partition)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.WriteMessages(kafkago.Message{Key: m.Key, Value: m.Value, Headers: m.Headers}); err != nil {
		t.Fatalf("republish: %v", err)
	}
	end, err := conn.ReadLastOffset()
	if err != nil {
		t.Fatal(err)
	}
	return end
}

// waitConsumed waits until a consumer group has committed a partition up to offset end.
func (k kafkaClient) waitConsumed(t *testing.T, group, topic string, partition int, end int64) {
	t.Helper()
	eventually(t, 20*time.Second, group+" to consume "+topic, func() error {
		resp, err := k.client.OffsetFetch(t.Context(), &kafkago.OffsetFetchRequest{
			GroupID: group, Topics: map[string][]int{topic: {partition}},
		})
		if err != nil {
			return err
		}
		for _, p := range resp.Topics[topic] {
			if p.Partition != partition {
				continue
			}
			if p.CommittedOffset >= end {
				return nil
			}
			return fmt.Errorf("committed %d of %d", p.CommittedOffset, end)
		}
		return errors.New("no committed offset yet")
	})
}

func header(m kafkago.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// assertReplayHasOneEffect delivers a confirmed order's order.created and inventory.reserved a
// second time, byte for byte, and checks that neither stock nor money moves again, and that it
// was the inbox that stopped them: each service's state machine would also ignore these two
// events, so the test looks in the order's trace for the inbox's mark on the copy's span.
func assertReplayHasOneEffect(t *testing.T, s *shop) {
	t.Helper()
	p := s.newProduct(t, 700, 5)
	token := s.newUser(t, 700)
	o, _ := s.placeOrder(t, token, orderLine{p.ID, 1})
	if got := s.waitTerminal(t, token, o.ID); got.Status != "CONFIRMED" {
		t.Fatalf("order ended %s, want CONFIRMED", got.Status)
	}
	eventually(t, 10*time.Second, "the sale", func() error {
		if now := s.product(t, p.ID); now.Stock != 4 || now.Sold != 1 {
			return fmt.Errorf("stock %d sold %d, want 4 and 1", now.Stock, now.Sold)
		}
		return nil
	})

	k := newKafkaClient(s.KafkaAddr(t))
	for _, dup := range []struct{ topic, eventType, group string }{
		{"orders", "order.created", "product-service"},
		{"inventory", "inventory.reserved", "user-service"},
	} {
		msg := k.findEvent(t, dup.topic, o.ID, dup.eventType)
		end := k.republish(t, msg)
		k.waitConsumed(t, dup.group, msg.Topic, msg.Partition, end)
		// The copy carries the original's traceparent, so its consumer span joins the order's
		// trace.
		parts := strings.Split(header(msg, "traceparent"), "-")
		if len(parts) != 4 {
			t.Fatalf("%s has no traceparent header: %v", dup.eventType, msg.Headers)
		}
		eventually(t, 15*time.Second, dup.group+" to mark the replayed "+dup.eventType+" as a duplicate", func() error {
			tr, err := fetchTrace(t.Context(), s.JaegerURL(t), parts[1])
			if err != nil {
				return err
			}
			for _, span := range tr.Spans {
				if tr.Processes[span.ProcessID].ServiceName != dup.group {
					continue
				}
				for _, tag := range span.Tags {
					if tag.Key == "tracecart.inbox.duplicate" && fmt.Sprint(tag.Value) == "true" {
						return nil
					}
				}
			}
			return errors.New("no span of the service carries tracecart.inbox.duplicate=true")
		})
	}
	if now := s.product(t, p.ID); now.Stock != 4 || now.Sold != 1 {
		t.Errorf("stock moved on a replay: stock %d sold %d, want 4 and 1", now.Stock, now.Sold)
	}
	if b := s.balance(t, token); b != 0 {
		t.Errorf("balance moved on a replay: %d, want 0", b)
	}
}

// assertInvariantsUnderContention places 120 orders at once from eight new users (wallets that
// start empty) on two products with little stock, waits until every order is terminal, then
// checks the books exactly: per product, initial stock = stock + sold and sold = what CONFIRMED
// orders bought; per user, top-ups = balance + what CONFIRMED orders cost.
func assertInvariantsUnderContention(t *testing.T, s *shop) {
	t.Helper()
	hot, side := s.newProduct(t, 500, 30), s.newProduct(t, 300, 15)
	products := []product{hot, side}

	const users, orders = 8, 120
	tokens := make([]string, users)
	topUps := make([]int64, users)
	for i := range users {
		topUps[i] = int64(900 * i) // from nothing to 12 items' worth: some run out of money
		tokens[i] = s.newUser(t, topUps[i])
	}

	type placed struct {
		order
		user  int
		lines []orderLine
	}
	all := make([]placed, orders)
	var mu sync.Mutex
	var failed []string
	parallel(orders, 8, func(i int) {
		lines := []orderLine{{hot.ID, 1 + i%3}}
		if i%4 == 0 {
			lines = append(lines, orderLine{side.ID, 1 + i%2})
		}
		var o order
		ans, err := s.api.as(tokens[i%users]).do(context.Background(), http.MethodPost, "/orders", map[string]any{"lines": lines}, &o)
		mu.Lock()
		defer mu.Unlock()
		if err != nil || ans.status != http.StatusAccepted {
			failed = append(failed, fmt.Sprintf("order %d: %v %d %s", i, err, ans.status, ans.body))
			return
		}
		all[i] = placed{order: o, user: i % users, lines: lines}
	})
	if len(failed) > 0 {
		t.Fatalf("%d of %d orders were not accepted: %v", len(failed), orders, failed)
	}

	sold := map[string]int{}
	paid := make([]int64, users)
	outcomes := map[string]int{}
	for _, p := range all {
		o := s.waitTerminal(t, tokens[p.user], p.ID)
		outcomes[o.Status]++
		if o.Status == "CONFIRMED" {
			paid[p.user] += o.TotalCents
			for _, l := range p.lines {
				sold[l.ProductID] += l.Quantity
			}
		}
	}
	t.Logf("outcomes of %d concurrent orders: %v", orders, outcomes)
	if outcomes["CONFIRMED"] == 0 || outcomes["REJECTED"] == 0 || outcomes["CANCELLED"] == 0 {
		t.Errorf("outcomes %v: the burst is meant to confirm some orders, run out of stock on some and of money on others", outcomes)
	}
	for _, p := range products {
		eventually(t, 15*time.Second, "the books of product "+p.ID+" to settle", func() error {
			now := s.product(t, p.ID)
			switch {
			case now.Stock < 0:
				return fmt.Errorf("stock below zero: %d", now.Stock)
			case now.Stock+now.Sold != p.Stock:
				return fmt.Errorf("stock %d + sold %d != initial %d", now.Stock, now.Sold, p.Stock)
			case now.Sold != sold[p.ID]:
				return fmt.Errorf("sold %d, but CONFIRMED orders bought %d", now.Sold, sold[p.ID])
			}
			return nil
		})
	}
	for i := range users {
		eventually(t, 15*time.Second, fmt.Sprintf("the wallet of user %d to settle", i), func() error {
			if b := s.balance(t, tokens[i]); b+paid[i] != topUps[i] {
				return fmt.Errorf("balance %d + CONFIRMED totals %d != top-ups %d", b, paid[i], topUps[i])
			}
			return nil
		})
	}
}
