package saga

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/tracecart/tracecart/shared/testinfra"
)

// jaegerTrace is the part of Jaeger's query API answer (GET /api/traces/{id}) the test reads.
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

// assertOneTrace fetches a trace from Jaeger and checks it is the whole saga: HTTP, SQL,
// publish and consume spans in all three services, forming one tree under the test's request.
func assertOneTrace(t *testing.T, jaeger *testinfra.Jaeger, traceID string) {
	t.Helper()
	var tr jaegerTrace
	eventually(t, 30*time.Second, "the whole saga in one trace", func() (err error) {
		if tr, err = fetchTrace(jaeger, traceID); err != nil {
			return err
		}
		// What each service must have contributed: its consumer handling an event and its
		// producer publishing one; order-service serves the request and product-service the
		// pricing call.
		want := map[string][]string{
			"order-service":   {"POST /orders", "send orders", "process payments", "db"},
			"product-service": {"GET /products/{id}", "process orders", "send inventory", "db"},
			"user-service":    {"process inventory", "send payments", "db"},
		}
		have := map[string]map[string]bool{}
		for _, s := range tr.Spans {
			svc := tr.Processes[s.ProcessID].ServiceName
			if have[svc] == nil {
				have[svc] = map[string]bool{}
			}
			have[svc][s.OperationName] = true
			for _, tag := range s.Tags {
				if tag.Key == "db.system.name" || tag.Key == "db.system" {
					have[svc]["db"] = true
				}
			}
		}
		var missing []string
		for svc, ops := range want {
			for _, op := range ops {
				if !have[svc][op] && !hasPrefix(have[svc], op) {
					missing = append(missing, svc+": "+op)
				}
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%d spans so far, missing %v", len(tr.Spans), missing)
		}
		return nil
	})

	// One tree: every span's parent is in the trace, except the root, whose parent is the span
	// the test made up for its request.
	ids := map[string]bool{}
	for _, s := range tr.Spans {
		ids[s.SpanID] = true
	}
	var roots []string
	for _, s := range tr.Spans {
		if len(s.References) == 0 || !ids[s.References[0].SpanID] {
			roots = append(roots, tr.Processes[s.ProcessID].ServiceName+" "+s.OperationName)
		}
	}
	if len(roots) != 1 || !strings.Contains(roots[0], "POST /orders") {
		t.Errorf("the trace has %d roots %v, want one: order-service's POST /orders", len(roots), roots)
	}
}

// fetchTrace reads one trace from Jaeger's query API.
func fetchTrace(jaeger *testinfra.Jaeger, traceID string) (jaegerTrace, error) {
	resp, err := http.Get(jaeger.QueryURL() + "/api/traces/" + traceID)
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

// hasPrefix reports whether any operation starts with prefix ("POST /orders" matches
// "POST /orders" exactly or a route-qualified variant).
func hasPrefix(ops map[string]bool, prefix string) bool {
	for op := range ops {
		if strings.HasPrefix(op, prefix) {
			return true
		}
	}
	return false
}

// assertDuplicateHasOneEffect delivers an order's order.created and inventory.reserved events a
// second time, exactly as they were, and checks neither stock nor money moves again, and that it
// was the inbox that stopped them: each service's state machine would also ignore these two
// events, so the test looks in the trace for the inbox's mark on the duplicate's span.
func assertDuplicateHasOneEffect(t *testing.T, s *shop, token string) {
	t.Helper()
	before := s.product(t, tracingMug)
	o := s.placeOrder(t, token, []orderLine{{tracingMug, 1}})
	if got := waitForStatus(t, s.orders.as(token), o.ID); got.Status != "CONFIRMED" {
		t.Fatalf("order ended %s, want CONFIRMED", got.Status)
	}
	// The order is CONFIRMED; the sale is recorded when order.confirmed reaches product-service.
	var mug product
	eventually(t, 10*time.Second, "the sale", func() error {
		if mug = s.product(t, tracingMug); mug.Sold != before.Sold+1 {
			return fmt.Errorf("sold %d, want %d", mug.Sold, before.Sold+1)
		}
		return nil
	})
	balance := s.balance(t, token)

	for _, dup := range []struct{ topic, eventType, group string }{
		{"orders", "order.created", "product-service"},
		{"inventory", "inventory.reserved", "user-service"},
	} {
		msg := findEvent(t, s.brokers, dup.topic, o.ID, dup.eventType)
		end := republish(t, s.brokers, msg)
		waitConsumed(t, s.brokers, dup.group, msg.Topic, msg.Partition, end)
		// The copy carries the original's traceparent, so its consumer span joins the order's trace.
		traceID := strings.Split(header(msg, "traceparent"), "-")[1]
		eventually(t, 15*time.Second, dup.group+" to mark the duplicate "+dup.eventType+" in the trace", func() error {
			tr, err := fetchTrace(s.jaeger, traceID)
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
	if after := s.product(t, tracingMug); after != mug {
		t.Errorf("stock moved on a duplicate: %+v, was %+v", after, mug)
	}
	if after := s.balance(t, token); after != balance {
		t.Errorf("balance moved on a duplicate: %d, was %d", after, balance)
	}
}

// findEvent reads a topic from the start and returns the event of one type for one order.
func findEvent(t *testing.T, brokers, topic, orderID, eventType string) kafkago.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	conn, err := kafkago.DialContext(ctx, "tcp", brokers)
	if err != nil {
		t.Fatal(err)
	}
	partitions, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range partitions {
		leader, err := kafkago.DialLeader(ctx, "tcp", brokers, topic, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		first, last, err := leader.ReadOffsets()
		leader.Close()
		if err != nil {
			t.Fatal(err)
		}
		if first >= last {
			continue // an empty partition
		}
		r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: []string{brokers}, Topic: topic, Partition: p.ID, MaxWait: 100 * time.Millisecond})
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("read %s/%d: %v", topic, p.ID, err)
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

// republish writes a copy of m to its own partition and returns the partition's end offset
// after the write, which the consumers must reach.
func republish(t *testing.T, brokers string, m kafkago.Message) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := kafkago.DialLeader(ctx, "tcp", brokers, m.Topic, m.Partition)
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
func waitConsumed(t *testing.T, brokers, group, topic string, partition int, end int64) {
	t.Helper()
	client := &kafkago.Client{Addr: kafkago.TCP(brokers), Timeout: 5 * time.Second}
	eventually(t, 20*time.Second, group+" to consume "+topic, func() error {
		resp, err := client.OffsetFetch(t.Context(), &kafkago.OffsetFetchRequest{
			GroupID: group, Topics: map[string][]int{topic: {partition}},
		})
		if err != nil {
			return err
		}
		for _, p := range resp.Topics[topic] {
			if p.Partition == partition && p.CommittedOffset >= end {
				return nil
			}
			if p.Partition == partition {
				return fmt.Errorf("committed %d of %d", p.CommittedOffset, end)
			}
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

// assertPoisonIsDeadLettered writes bytes that are no event onto the orders topic: both its
// consumers must move them to their dead-letter topics with the error, and keep going.
func assertPoisonIsDeadLettered(t *testing.T, s *shop, token string) {
	t.Helper()
	key := "poison-" + randomHex(4)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	w := &kafkago.Writer{Addr: kafkago.TCP(s.brokers), Topic: "orders", Balancer: &kafkago.Hash{}, BatchTimeout: time.Millisecond}
	if err := w.WriteMessages(ctx, kafkago.Message{Key: []byte(key), Value: []byte("{this is not an event")}); err != nil {
		t.Fatal(err)
	}
	w.Close()

	for _, group := range []string{"product-service", "user-service"} {
		r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: []string{s.brokers}, Topic: group + ".dlq", Partition: 0, MaxWait: 100 * time.Millisecond})
		found := false
		for !found {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("%s.dlq: no dead-lettered poison message: %v", group, err)
			}
			if string(m.Key) == key {
				found = true
				if header(m, "dlq-error") == "" || header(m, "dlq-original-topic") != "orders" {
					t.Errorf("%s.dlq message lacks its error headers: %v", group, m.Headers)
				}
			}
		}
		r.Close()
	}
	o := s.placeOrder(t, token, []orderLine{{tracingMug, 1}})
	if got := waitForStatus(t, s.orders.as(token), o.ID); got.Status != "CONFIRMED" {
		t.Fatalf("the order after the poison ended %s, want CONFIRMED", got.Status)
	}
}

// assertInvariantsUnderContention places 200 orders at once from ten new users on two products
// with little stock, then checks that every order finished and the books balance exactly:
// per product initial stock = stock + sold, sold = what CONFIRMED orders bought; per user top-ups
// = balance + what CONFIRMED orders cost.
func assertInvariantsUnderContention(t *testing.T, s *shop) {
	t.Helper()
	adminAPI := s.products.as(s.login(t, admin, demoPassword))
	newProduct := func(name string, stock int) product {
		var p product
		adminAPI.must(t, http.StatusCreated, http.MethodPost, "/products", map[string]any{
			"name": name, "description": "contended", "category": "desk", "price_cents": 500, "stock": stock,
		}, &p)
		return p
	}
	hot, side := newProduct("Hot Item "+randomHex(3), 40), newProduct("Side Item "+randomHex(3), 25)

	const users, orders = 10, 200
	type shopper struct {
		token string
		topUp int64
	}
	shoppers := make([]shopper, users)
	for i := range shoppers {
		email := fmt.Sprintf("buyer-%d-%s@example.com", i, randomHex(3))
		s.users.must(t, http.StatusCreated, http.MethodPost, "/auth/register",
			map[string]string{"email": email, "password": "correct horse battery", "name": "Buyer"}, nil)
		shoppers[i].token = s.login(t, email, "correct horse battery")
		shoppers[i].topUp = int64(1000 + 700*i) // from 2 to 15 items' worth: some run out of money
		s.users.as(shoppers[i].token).must(t, http.StatusOK, http.MethodPost, "/users/me/wallet/top-ups",
			map[string]int64{"amount_cents": shoppers[i].topUp}, nil)
	}

	placed := make([]struct {
		order
		user  int
		lines []orderLine
	}, orders)
	var mu sync.Mutex
	parallel(orders, 8, func(i int) {
		lines := []orderLine{{hot.ID, 1 + i%3}}
		if i%4 == 0 {
			lines = append(lines, orderLine{side.ID, 1})
		}
		o := s.placeOrder(t, shoppers[i%users].token, lines)
		mu.Lock()
		placed[i].order, placed[i].user, placed[i].lines = o, i%users, lines
		mu.Unlock()
	})

	sold := map[string]int{}
	paid := make([]int64, users)
	outcomes := map[string]int{}
	for i := range placed {
		o := waitForStatus(t, s.orders.as(shoppers[placed[i].user].token), placed[i].ID)
		outcomes[o.Status]++
		if o.Status == "CONFIRMED" {
			paid[placed[i].user] += o.TotalCents
			for _, l := range placed[i].lines {
				sold[l.ProductID] += l.Quantity
			}
		}
	}
	t.Logf("outcomes of %d concurrent orders: %v", orders, outcomes)
	if outcomes["CONFIRMED"] == 0 || outcomes["REJECTED"] == 0 {
		t.Errorf("outcomes %v: the test meant some orders to succeed and some to run out of stock", outcomes)
	}

	for _, p := range []product{hot, side} {
		eventually(t, 15*time.Second, "stock of "+p.ID+" to settle", func() error {
			now := s.product(t, p.ID)
			switch {
			case now.Stock < 0:
				return fmt.Errorf("stock below zero: %d", now.Stock)
			case now.Stock+now.Sold != p.Stock:
				return fmt.Errorf("stock %d + sold %d != initial %d", now.Stock, now.Sold, p.Stock)
			case now.Sold != sold[p.ID]:
				return fmt.Errorf("sold %d, but confirmed orders bought %d", now.Sold, sold[p.ID])
			}
			return nil
		})
	}
	for i, sh := range shoppers {
		if b := s.balance(t, sh.token); b+paid[i] != sh.topUp {
			t.Errorf("user %d: balance %d + paid %d != top-ups %d", i, b, paid[i], sh.topUp)
		}
	}
}
