// Package testinfra starts the real infrastructure tracecart's integration tests run against:
// Postgres, a Kafka-protocol broker and Consul, as containers through testcontainers-go, with
// image references from infra/images.env (see Images).
//
// Postgres and Kafka are shared by all tests of one test binary and started on first use;
// TestMain must call Main so they are removed at the end (Ryuk, testcontainers' reaper, cannot be
// pulled on air-gapped machines and is disabled there). Each test gets its own database, and uses
// UniqueName for topics, consumer groups and service names, so tests never see each other's data.
// Consul is started per test (NewConsul) because tests stop and restart it.
//
// Kafka and Consul run with host networking on free loopback ports: Consul must reach HTTP health
// endpoints that tests serve on 127.0.0.1, and Kafka must advertise an address the test process
// can dial, which a randomly mapped port cannot be known before the broker starts. Everything a
// test dials is on 127.0.0.1.
package testinfra

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/moby/moby/api/types/container"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/testcontainers/testcontainers-go"
)

// startTimeout bounds how long any piece of infrastructure may take to become ready.
const startTimeout = 90 * time.Second

// shared holds the containers one test binary shares. It is package state on purpose: a test
// binary is one process, and starting Postgres once per binary rather than per test is what
// keeps the suite fast.
var shared = struct{ postgres, kafka *lazy }{postgres: &lazy{}, kafka: &lazy{}}

// Main runs the tests and then removes the shared containers. Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testinfra.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, l := range []*lazy{shared.postgres, shared.kafka} {
		if l.c != nil {
			if err := l.c.Terminate(ctx); err != nil {
				fmt.Fprintln(os.Stderr, "testinfra: terminate:", err)
			}
		}
	}
	return code
}

// lazy is a container started once, on first use, remembering its start error.
type lazy struct {
	once sync.Once
	c    *testcontainers.DockerContainer
	addr string
	err  error
}

func (l *lazy) get(t testing.TB, start func(ctx context.Context) (*testcontainers.DockerContainer, string, error)) string {
	t.Helper()
	l.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		l.c, l.addr, l.err = start(ctx)
	})
	if l.err != nil {
		t.Fatalf("testinfra: %v", l.err)
	}
	return l.addr
}

// image returns the image reference for one entry of infra/images.env.
func image(name string) (string, error) {
	images, err := Images(os.Getenv)
	if err != nil {
		return "", err
	}
	ref, ok := images[name]
	if !ok {
		return "", fmt.Errorf("no %s in the image defaults", name)
	}
	return ref, nil
}

// Postgres returns the URL of a new, empty database on the shared Postgres server. The database is
// dropped when the test ends.
func Postgres(t testing.TB) string {
	t.Helper()
	admin := shared.postgres.get(t, startPostgres)
	name := strings.ToLower(UniqueName(t, "db"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("testinfra: connect to postgres: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("testinfra: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		_, _ = conn.Exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
	return strings.Replace(admin, "/postgres?", "/"+name+"?", 1)
}

func startPostgres(ctx context.Context) (*testcontainers.DockerContainer, string, error) {
	ref, err := image("POSTGRES_IMAGE")
	if err != nil {
		return nil, "", err
	}
	c, err := testcontainers.Run(ctx, ref,
		testcontainers.WithEnv(map[string]string{"POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "postgres"}),
		testcontainers.WithExposedPorts("5432/tcp"),
		// Durability is not what these tests are about; speed is.
		testcontainers.WithCmd("postgres", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "max_connections=300"),
	)
	if err != nil {
		return c, "", fmt.Errorf("start postgres (%s): %w", ref, err)
	}
	host, port, err := hostPort(ctx, c, "5432/tcp")
	if err != nil {
		return c, "", err
	}
	url := fmt.Sprintf("postgres://postgres:postgres@%s/postgres?sslmode=disable", net.JoinHostPort(host, port))
	err = poll(ctx, c, func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	})
	if err != nil {
		return c, "", fmt.Errorf("postgres not ready: %w\n%s", err, logs(c))
	}
	return c, url, nil
}

// Kafka returns the bootstrap address ("127.0.0.1:port") of the shared Kafka-protocol broker.
// Topics are auto-created, with three partitions, unless a test creates them itself.
func Kafka(t testing.TB) string {
	t.Helper()
	return shared.kafka.get(t, startKafka)
}

func startKafka(ctx context.Context) (*testcontainers.DockerContainer, string, error) {
	ref, err := image("KAFKA_IMAGE")
	if err != nil {
		return nil, "", err
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, "", err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	controller := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))
	// The same variables configure apache/kafka in KRaft mode and the kfake stand-in.
	c, err := testcontainers.Run(ctx, ref,
		testcontainers.WithEnv(map[string]string{
			"KAFKA_NODE_ID":                                  "1",
			"KAFKA_PROCESS_ROLES":                            "broker,controller",
			"KAFKA_LISTENERS":                                "PLAINTEXT://" + addr + ",CONTROLLER://" + controller,
			"KAFKA_ADVERTISED_LISTENERS":                     "PLAINTEXT://" + addr,
			"KAFKA_CONTROLLER_LISTENER_NAMES":                "CONTROLLER",
			"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP":           "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
			"KAFKA_CONTROLLER_QUORUM_VOTERS":                 "1@" + controller,
			"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":         "1",
			"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
			"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR":            "1",
			"KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS":         "0",
			"KAFKA_NUM_PARTITIONS":                           "3",
		}),
		hostNetwork(),
	)
	if err != nil {
		return c, "", fmt.Errorf("start kafka (%s): %w", ref, err)
	}
	err = poll(ctx, c, func(ctx context.Context) error {
		conn, err := (&kafkago.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		defer conn.Close()
		_, err = conn.Brokers()
		return err
	})
	if err != nil {
		return c, "", fmt.Errorf("kafka not ready: %w\n%s", err, logs(c))
	}
	return c, addr, nil
}

// Consul is a Consul agent in development mode that belongs to one test. It runs as the
// compose file runs it (infra/consul/start.sh): ACLs on, default deny, and the demo's tokens.
type Consul struct {
	c     *testcontainers.DockerContainer
	addr  string
	token string
}

// NewConsul starts a Consul dev agent for this test and removes it when the test ends. It uses
// host networking, so its HTTP health checks reach services the test serves on 127.0.0.1.
// Everything is denied without a token: give a service its own (ConsulDemoToken) or, for a
// test that registers made-up names, Token.
func NewConsul(t testing.TB) *Consul {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	ref, err := image("CONSUL_IMAGE")
	if err != nil {
		t.Fatalf("testinfra: %v", err)
	}
	token, err := ConsulDemoToken("management")
	if err != nil {
		t.Fatalf("testinfra: %v", err)
	}
	p, err := freePorts(4)
	if err != nil {
		t.Fatalf("testinfra: %v", err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p[0]))
	bootstrap, err := ConsulBootstrap("-node", "tracecart-test",
		"-bind", "127.0.0.1", "-client", "127.0.0.1",
		"-http-port", strconv.Itoa(p[0]), "-serf-lan-port", strconv.Itoa(p[1]),
		"-serf-wan-port", strconv.Itoa(p[2]), "-server-port", strconv.Itoa(p[3]),
		"-dns-port", "-1", "-grpc-port", "-1", "-hcl", "ports { grpc_tls = -1 }")
	if err != nil {
		t.Fatalf("testinfra: %v", err)
	}
	c, err := testcontainers.Run(ctx, ref, append(bootstrap,
		// start.sh's own consul commands must find the agent on its test port.
		testcontainers.WithEnv(map[string]string{"CONSUL_HTTP_ADDR": addr}),
		hostNetwork(),
	)...)
	consul := &Consul{c: c, addr: addr, token: token}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("consul logs:\n%s", logs(c))
		}
		if c != nil {
			_ = c.Terminate(context.Background())
		}
	})
	if err != nil {
		t.Fatalf("testinfra: start consul (%s): %v", ref, err)
	}
	if err := consul.waitReady(ctx); err != nil {
		t.Fatalf("testinfra: %v", err)
	}
	return consul
}

// Addr is the "127.0.0.1:port" address of the agent's HTTP API.
func (c *Consul) Addr() string { return c.addr }

// ServiceEnv is what a tracecart service needs to use this agent as service: its address and
// the service's own demo token (ConsulDemoToken), which lets it register under its name only.
func (c *Consul) ServiceEnv(t testing.TB, service string) map[string]string {
	t.Helper()
	token, err := ConsulDemoToken(service)
	if err != nil {
		t.Fatalf("testinfra: %v", err)
	}
	return map[string]string{"CONSUL_HTTP_ADDR": c.addr, "CONSUL_HTTP_TOKEN": token}
}

// Token is the agent's management token (every right): for tests that register services under
// made-up names or look at the whole catalogue. A service under test should get its own token.
func (c *Consul) Token() string { return c.token }

// Stop stops the agent, keeping its container so Start can bring it back. Whether registrations
// survive the restart depends on the image (the stand-in keeps the agent's data directory, so it
// restores them); tests must not rely on either.
func (c *Consul) Stop(t testing.TB) {
	t.Helper()
	timeout := 5 * time.Second
	if err := c.c.Stop(context.Background(), &timeout); err != nil {
		t.Fatalf("testinfra: stop consul: %v", err)
	}
}

// Start starts a stopped agent again and waits until it has a leader.
func (c *Consul) Start(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := c.c.Start(ctx); err != nil {
		t.Fatalf("testinfra: start consul: %v", err)
	}
	if err := c.waitReady(ctx); err != nil {
		t.Fatalf("testinfra: %v", err)
	}
}

// waitReady waits until start.sh has created the tokens, which it does once the agent has
// elected itself leader.
func (c *Consul) waitReady(ctx context.Context) error {
	err := poll(ctx, c.c, func(ctx context.Context) error {
		code, _, err := c.c.Exec(ctx, []string{"test", "-f", "/tmp/tracecart-acl-ready"})
		if err != nil {
			return err
		}
		if code != 0 {
			return errors.New("ACL tokens not created yet")
		}
		// After a Stop and Start the marker left by the previous run is still there until
		// start.sh removes it, which it does before starting the agent: an agent that answers
		// with a leader proves the marker is this run's.
		return ConsulHasLeader(ctx, "http://"+c.addr)
	})
	if err != nil {
		return fmt.Errorf("consul not ready: %w\n%s", err, logs(c.c))
	}
	return nil
}

var (
	uniqueSeq   atomic.Int64
	notNameChar = regexp.MustCompile(`[^a-zA-Z0-9]+`)
)

// UniqueName returns a name for a topic, consumer group, database or service that no other test
// in this run uses: the prefix, the test's name and a sequence number.
func UniqueName(t testing.TB, prefix string) string {
	name := strings.Trim(notNameChar.ReplaceAllString(t.Name(), "-"), "-")
	if len(name) > 30 {
		name = name[len(name)-30:]
	}
	return fmt.Sprintf("%s-%s-%d-%d", prefix, strings.Trim(name, "-"), os.Getpid()%100000, uniqueSeq.Add(1))
}

// hostNetwork puts a container in the host's network namespace.
func hostNetwork() testcontainers.CustomizeRequestOption {
	return testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
		hc.NetworkMode = "host"
	})
}

// hostPort returns where a container port is published on the host.
func hostPort(ctx context.Context, c *testcontainers.DockerContainer, port string) (host, mapped string, err error) {
	if host, err = c.Host(ctx); err != nil {
		return "", "", err
	}
	p, err := c.MappedPort(ctx, port)
	if err != nil {
		return "", "", err
	}
	return host, p.Port(), nil
}

// freePorts asks the kernel for n distinct free loopback ports.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// poll calls check until it succeeds or ctx ends, returning the last error. It gives up at once
// when the container has exited: no amount of waiting brings it back.
func poll(ctx context.Context, c *testcontainers.DockerContainer, check func(context.Context) error) error {
	var last error
	for {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		last = check(attempt)
		cancel()
		if last == nil {
			return nil
		}
		if state, err := c.State(ctx); err == nil && !state.Running {
			return fmt.Errorf("container exited (code %d): %w", state.ExitCode, last)
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// logs returns a container's output for failure messages.
func logs(c *testcontainers.DockerContainer) string {
	if c == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := c.Logs(ctx)
	if err != nil {
		return "(no logs: " + err.Error() + ")"
	}
	defer r.Close()
	b, _ := io.ReadAll(r)
	return string(b)
}

// ConsulHasLeader asks the Consul agent at baseURL whether its cluster has elected a leader
// (the status endpoints need no ACL token). It returns nil once it has.
func ConsulHasLeader(ctx context.Context, baseURL string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/v1/status/leader", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || len(strings.Trim(string(body), "\" \n")) == 0 {
		return fmt.Errorf("consul has no leader yet (%d %s)", resp.StatusCode, body)
	}
	return nil
}
