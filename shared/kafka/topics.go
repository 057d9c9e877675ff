package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// TopicConfig describes a topic a service needs. Services declare their topics in code and create
// them at start-up with [EnsureTopics] rather than relying on the broker's auto-creation, which
// would silently pick the broker's default partition count.
type TopicConfig struct {
	Name string

	// Partitions bounds how many consumers of one group can work in parallel. Zero means 1.
	Partitions int

	// ReplicationFactor is how many brokers keep a copy. Zero means 1, which suits the single-broker
	// demo; a production cluster wants 3.
	ReplicationFactor int
}

// Defaults for EnsureTopics.
const (
	// ensureTopicsTimeout bounds EnsureTopics when the caller's context has no deadline, so that a
	// service whose broker never answers fails its start-up instead of hanging in it.
	ensureTopicsTimeout = 30 * time.Second

	// metadataPollInterval is how often EnsureTopics asks whether new topics are visible yet.
	metadataPollInterval = 50 * time.Millisecond
)

// ErrNoBrokers is returned when a function that must reach Kafka was given no broker address.
var ErrNoBrokers = errors.New("no kafka brokers given")

// EnsureTopics creates the topics that do not exist yet and waits until the cluster's metadata shows
// every topic with at least the partitions asked for, each with a leader. It is idempotent: topics
// that already exist are left as they are.
//
// Creation goes through the controller broker, the only one allowed to create topics. Waiting for
// the metadata matters because creation is asynchronous: a producer that writes right after
// CreateTopics returns can still be told the topic does not exist.
func EnsureTopics(ctx context.Context, brokers []string, topics ...TopicConfig) error {
	if len(topics) == 0 {
		return nil
	}
	if len(brokers) == 0 {
		return ErrNoBrokers
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, ensureTopicsTimeout)
		defer cancel()
	}

	configs := make([]kafka.TopicConfig, 0, len(topics))
	want := make(map[string]int, len(topics))
	for _, t := range topics {
		if t.Name == "" {
			return errors.New("ensure topics: a topic has no name")
		}
		partitions, replicas := max(t.Partitions, 1), max(t.ReplicationFactor, 1)
		configs = append(configs, kafka.TopicConfig{
			Topic:             t.Name,
			NumPartitions:     partitions,
			ReplicationFactor: replicas,
		})
		want[t.Name] = partitions
	}

	conn, err := dialAny(ctx, brokers)
	if err != nil {
		return fmt.Errorf("ensure topics: %w", err)
	}
	defer conn.Close()

	if err := createTopics(ctx, conn, configs); err != nil {
		return fmt.Errorf("ensure topics: %w", err)
	}
	if err := waitForTopics(ctx, conn, want); err != nil {
		return fmt.Errorf("ensure topics: %w", err)
	}
	return nil
}

// dialAny connects to the first broker that answers; any broker can tell where the controller is.
func dialAny(ctx context.Context, brokers []string) (*kafka.Conn, error) {
	var errs []error
	for _, addr := range brokers {
		conn, err := kafka.DialContext(ctx, "tcp", addr)
		if err == nil {
			return conn, nil
		}
		errs = append(errs, fmt.Errorf("dial %s: %w", addr, err))
	}
	return nil, errors.Join(errs...)
}

// createTopics asks the controller to create the topics. kafka-go already treats "topic already
// exists" as success, which is what makes EnsureTopics idempotent.
func createTopics(ctx context.Context, conn *kafka.Conn, configs []kafka.TopicConfig) error {
	if err := setDeadline(ctx, conn); err != nil {
		return err
	}
	controller, err := conn.Controller()
	if err != nil {
		return fmt.Errorf("find controller: %w", err)
	}
	addr := net.JoinHostPort(controller.Host, strconv.Itoa(controller.Port))
	ctrl, err := kafka.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("dial controller %s: %w", addr, err)
	}
	defer ctrl.Close()
	if err := setDeadline(ctx, ctrl); err != nil {
		return err
	}
	if err := ctrl.CreateTopics(configs...); err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	return nil
}

// waitForTopics polls the metadata until every topic has at least its wanted partitions, each with
// a leader, or ctx ends.
func waitForTopics(ctx context.Context, conn *kafka.Conn, want map[string]int) error {
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	ticker := time.NewTicker(metadataPollInterval)
	defer ticker.Stop()
	for {
		missing, err := missingTopics(ctx, conn, names, want)
		if err == nil && len(missing) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("wait for topic metadata: %w", errors.Join(ctx.Err(), err))
			}
			return fmt.Errorf("wait for topic metadata of %v: %w", missing, ctx.Err())
		case <-ticker.C:
		}
	}
}

// missingTopics returns the topics whose metadata does not yet show their wanted partitions led by
// a broker.
func missingTopics(ctx context.Context, conn *kafka.Conn, names []string, want map[string]int) ([]string, error) {
	if err := setDeadline(ctx, conn); err != nil {
		return nil, err
	}
	partitions, err := conn.ReadPartitions(names...)
	if err != nil {
		return nil, fmt.Errorf("read partitions: %w", err)
	}
	led := make(map[string]int, len(names))
	for _, p := range partitions {
		if p.Error == nil && p.Leader.Host != "" {
			led[p.Topic]++
		}
	}
	var missing []string
	for _, name := range names {
		if led[name] < want[name] {
			missing = append(missing, name)
		}
	}
	return missing, nil
}

// setDeadline makes a kafka-go connection, which does not take contexts, honour ctx's deadline.
func setDeadline(ctx context.Context, conn *kafka.Conn) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	deadline, _ := ctx.Deadline()
	return conn.SetDeadline(deadline)
}
