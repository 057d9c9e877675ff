// Command kafka-standin runs a single-broker, Kafka-protocol server (franz-go's kfake) configured
// from the same environment variables as the apache/kafka image, so the compose file and the e2e
// suite can use it unchanged where the real image cannot be pulled.
//
// It is a stand-in for tests and demos on air-gapped machines, not a production broker. What it
// reads:
//
//	KAFKA_LISTENERS                    where to listen; the first listener that is not a controller
//	                                   listener is used (default PLAINTEXT://:9092)
//	KAFKA_ADVERTISED_LISTENERS         the address clients are told to use for that listener
//	KAFKA_CONTROLLER_LISTENER_NAMES    listener names to ignore (KRaft controllers have no stand-in)
//	KAFKA_LOG_DIRS                     where data is kept, so a restart loses nothing
//	KAFKA_NUM_PARTITIONS               default partitions of auto-created topics
//	KAFKA_AUTO_CREATE_TOPICS_ENABLE    "false" turns auto-creation off (default true, as in Kafka)
//	CLUSTER_ID / KAFKA_CLUSTER_ID      the cluster ID reported in metadata
//
// Kafka advertises one address per listener name; kfake advertises one per broker, so only one
// client-facing listener is supported.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	if err := run(context.Background(), os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kafka-standin:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	name, listen, err := pickListener(getenv("KAFKA_LISTENERS"), getenv("KAFKA_CONTROLLER_LISTENER_NAMES"))
	if err != nil {
		return err
	}
	advertise := listen
	if adv := listenerAddrs(getenv("KAFKA_ADVERTISED_LISTENERS"))[name]; adv != "" {
		advertise = adv
	}
	advertise, err = completeAdvertised(advertise)
	if err != nil {
		return err
	}

	dataDir := firstNonEmpty(strings.Split(getenv("KAFKA_LOG_DIRS"), ",")[0], "/var/lib/kafka/data")
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.DataDir(dataDir),
		kfake.ClusterID(firstNonEmpty(getenv("CLUSTER_ID"), getenv("KAFKA_CLUSTER_ID"), "tracecart-standin")),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			ln, err := net.Listen(network, listen)
			if err != nil {
				return nil, err
			}
			return advertisedListener{Listener: ln, addr: advertise}, nil
		}),
	}
	if getenv("KAFKA_AUTO_CREATE_TOPICS_ENABLE") != "false" {
		opts = append(opts, kfake.AllowAutoTopicCreation())
	}
	if n, err := strconv.Atoi(getenv("KAFKA_NUM_PARTITIONS")); err == nil && n > 0 {
		opts = append(opts, kfake.DefaultNumPartitions(n))
	}

	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("start broker: %w", err)
	}
	// The apache/kafka image prints this line once it serves requests; log-based wait strategies
	// look for it.
	fmt.Fprintf(stdout, "[KafkaRaftServer nodeId=1] Kafka Server started (kfake stand-in, listening on %s, advertising %s, data in %s)\n",
		listen, advertise, dataDir)
	<-ctx.Done()
	cluster.Close()
	fmt.Fprintln(stdout, "kafka stand-in stopped")
	return nil
}

// pickListener returns the name and host:port of the first listener that is not a controller.
func pickListener(listeners, controllerNames string) (name, addr string, err error) {
	if listeners == "" {
		listeners = "PLAINTEXT://:9092"
	}
	controllers := map[string]bool{}
	for _, n := range strings.Split(controllerNames, ",") {
		controllers[strings.TrimSpace(n)] = true
	}
	for _, l := range strings.Split(listeners, ",") {
		n, a, ok := strings.Cut(strings.TrimSpace(l), "://")
		if ok && !controllers[n] {
			return n, a, nil
		}
	}
	return "", "", errors.New("KAFKA_LISTENERS names no client listener")
}

// listenerAddrs parses "NAME://host:port,..." into a map from name to address.
func listenerAddrs(s string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(s, ",") {
		if n, a, ok := strings.Cut(strings.TrimSpace(l), "://"); ok {
			m[n] = a
		}
	}
	return m
}

// completeAdvertised fills in an empty host (":9092") with the container's hostname, as Kafka does.
func completeAdvertised(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("advertised listener %q: %w", addr, err)
	}
	if host == "" || host == "0.0.0.0" {
		if host, err = os.Hostname(); err != nil {
			return "", err
		}
	}
	return net.JoinHostPort(host, port), nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// advertisedListener is a listener that reports the advertised address as its own: kfake tells
// clients to connect to whatever its listener's Addr returns.
type advertisedListener struct {
	net.Listener
	addr string
}

func (l advertisedListener) Addr() net.Addr { return advertisedAddr(l.addr) }

type advertisedAddr string

func (a advertisedAddr) Network() string { return "tcp" }
func (a advertisedAddr) String() string  { return string(a) }
