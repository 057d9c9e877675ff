package testinfra

import (
	"context"
	"net/http"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	kafkago "github.com/segmentio/kafka-go"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestImagesOverride(t *testing.T) {
	env := map[string]string{
		"TRACECART_IMAGES_FILE": "infra/offline/images.env",
		"CONSUL_IMAGE":          "example/consul:override",
	}
	images, err := Images(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if got := images["CONSUL_IMAGE"]; got != "example/consul:override" {
		t.Errorf("CONSUL_IMAGE = %q, want the environment's value", got)
	}
	if got := images["POSTGRES_IMAGE"]; got != "tracecart-offline/postgres:15" {
		t.Errorf("POSTGRES_IMAGE = %q, want the offline file's value", got)
	}
	if got := images["GRAFANA_IMAGE"]; got != "grafana/grafana:12.2.0" {
		t.Errorf("GRAFANA_IMAGE = %q, want the default (the offline file has no Grafana)", got)
	}
}

func TestPostgresDatabasesAreSeparate(t *testing.T) {
	ctx := t.Context()
	a, b := Postgres(t), Postgres(t)
	if a == b {
		t.Fatalf("two calls returned the same database %q", a)
	}
	for _, url := range []string{a, b} {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("new database has %d tables, want 0", n)
		}
		if _, err := conn.Exec(ctx, "CREATE TABLE t (id int)"); err != nil {
			t.Fatal(err)
		}
		conn.Close(ctx)
	}
}

func TestKafkaRoundTrip(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30e9)
	defer cancel()
	topic := UniqueName(t, "topic")
	// RequireAll: with kafka-go's default (no acknowledgement) WriteMessages can return before the
	// broker stored the message, and the reads below then find it on no partition (seen in CI).
	w := &kafkago.Writer{Addr: kafkago.TCP(Kafka(t)), Topic: topic, AllowAutoTopicCreation: true, BatchTimeout: 1e6, RequiredAcks: kafkago.RequireAll}
	defer w.Close()
	for {
		err := w.WriteMessages(ctx, kafkago.Message{Key: []byte("k"), Value: []byte("hello")})
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal(err)
		}
	}
	// The key decides the partition; read all three to find it.
	for p := range 3 {
		r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: []string{Kafka(t)}, Topic: topic, Partition: p, MaxWait: 1e7})
		defer r.Close()
		if err := r.SetOffset(kafkago.FirstOffset); err != nil {
			t.Fatal(err)
		}
		lag, err := r.ReadLag(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if lag == 0 {
			continue
		}
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Value) != "hello" {
			t.Fatalf("read %q, want hello", m.Value)
		}
		return
	}
	t.Fatal("the message is on no partition")
}

func TestConsulStopStart(t *testing.T) {
	c := NewConsul(t)
	get := func() error {
		resp, err := http.Get("http://" + c.Addr() + "/v1/status/leader")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(); err != nil {
		t.Fatalf("consul not answering: %v", err)
	}
	c.Stop(t)
	if err := get(); err == nil {
		t.Fatal("consul still answers after Stop")
	}
	c.Start(t)
	if err := get(); err != nil {
		t.Fatalf("consul not answering after Start: %v", err)
	}
}
