// Package stack starts the whole of tracecart in containers for the end-to-end suite: Postgres,
// a Kafka broker, Consul and Jaeger from the image defaults (infra/images.env, resolved by
// testinfra.Images), and the four services built from their own Dockerfiles, all on one Docker
// network of their own and wired exactly as infra/compose.yaml wires the demo.
//
// Only what a person would look at is published on the host: the gateway (the one door into the
// shop), Jaeger's query API, Consul's HTTP API, and the Kafka listener, which tests use only to
// replay an event the way a broken network would. Everything else talks over the network by
// name (postgres, kafka, consul, jaeger, and each service's alias), so a stopped container
// restarted with a new address is found again by DNS.
//
// Ryuk, testcontainers' reaper, is not used (it cannot be pulled where no registry is
// reachable): the test that starts a Stack removes its containers and network in t.Cleanup,
// after printing the tail of every container's log if the test failed.
package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"

	"github.com/tracecart/tracecart/shared/auth"
	"github.com/tracecart/tracecart/shared/testinfra"
)

// The names containers have on the stack's network, the same as the compose file's services.
const (
	Postgres       = "postgres"
	Kafka          = "kafka"
	Consul         = "consul"
	Jaeger         = "jaeger"
	Gateway        = "gateway"
	UserService    = "user-service"
	ProductService = "product-service"
	OrderService   = "order-service"
)

// services are tracecart's own services.
func services() []string { return []string{UserService, ProductService, OrderService, Gateway} }

// startTimeout bounds how long one container may take to become ready.
const startTimeout = 90 * time.Second

// dbPasswords are the passwords init.sh gives the services' database roles: the compose
// file's demo defaults, keyed by the variable that carries them.
func dbPasswords() map[string]string {
	return map[string]string{
		"USERS_DB_PASSWORD":    "users-demo",
		"PRODUCTS_DB_PASSWORD": "products-demo",
		"ORDERS_DB_PASSWORD":   "orders-demo",
	}
}

// Options tune a Stack. The zero value is the stack the shop scenarios need.
type Options struct {
	// SagaTimeout is order-service's SAGA_TIMEOUT: how long a saga may take before it is
	// cancelled with compensations. Zero means 20s, long enough that a healthy saga under a
	// burst never hits it and short enough that a test waiting for it stays quick.
	SagaTimeout time.Duration
}

// Stack is one running tracecart. Its methods fail the test on error.
type Stack struct {
	t      testing.TB
	opts   Options
	root   string
	images map[string]string
	net    *testcontainers.DockerNetwork
	// keysPEM is user-service's JWT_PRIVATE_KEYS_PEM: one key made for this stack, as the
	// compose file ships one, so tokens survive restarts and every instance accepts them.
	keysPEM string

	mu         sync.Mutex
	containers map[string]*testcontainers.DockerContainer // by network alias
	order      []string                                   // aliases in start order, for logs
}

// Start builds the service images (once per test binary), starts everything and waits until
// every service is healthy in Consul and the gateway is ready. Everything is removed when the
// test ends.
func Start(t testing.TB, opts Options) *Stack {
	t.Helper()
	if opts.SagaTimeout == 0 {
		opts.SagaTimeout = 20 * time.Second
	}
	root, err := testinfra.RepoRoot()
	if err != nil {
		t.Fatalf("stack: %v", err)
	}
	images, err := testinfra.Images(os.Getenv)
	if err != nil {
		t.Fatalf("stack: %v", err)
	}
	for _, svc := range services() {
		if err := buildImage(root, images, svc); err != nil {
			t.Fatalf("stack: %v", err)
		}
	}
	key, err := auth.GenerateKey()
	if err != nil {
		t.Fatalf("stack: %v", err)
	}
	keysPEM, err := key.MarshalPEM()
	if err != nil {
		t.Fatalf("stack: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*startTimeout)
	defer cancel()
	nw, err := network.New(ctx)
	if err != nil {
		t.Fatalf("stack: create network: %v", err)
	}
	s := &Stack{
		t: t, opts: opts, root: root, images: images, net: nw, keysPEM: string(keysPEM),
		containers: map[string]*testcontainers.DockerContainer{},
	}
	t.Cleanup(s.cleanup)

	// The infrastructure first, in parallel: nothing in it depends on anything else.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i, start := range []func(context.Context) error{s.startPostgres, s.startKafka, s.startConsul, s.startJaeger} {
		wg.Go(func() { errs[i] = start(ctx) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("stack: %v", err)
	}
	// Then the services; they find each other through Consul, so their order does not matter.
	errs = make([]error, len(services()))
	for i, svc := range services() {
		wg.Go(func() { errs[i] = s.startService(ctx, svc, svc, nil) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("stack: %v", err)
	}
	return s
}

// cleanup prints the logs of a failed test and removes every container and the network.
func (s *Stack) cleanup() {
	if s.t.Failed() {
		s.t.Log(s.Logs())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, alias := range s.order {
		timeout := time.Duration(0)
		c := s.containers[alias]
		_ = c.Stop(ctx, &timeout)
		if err := c.Terminate(ctx); err != nil {
			s.t.Logf("stack: terminate %s: %v", alias, err)
		}
	}
	if err := s.net.Remove(ctx); err != nil {
		s.t.Logf("stack: remove network: %v", err)
	}
}

// run starts one container on the stack's network under alias and remembers it.
func (s *Stack) run(ctx context.Context, alias, image string, opts ...testcontainers.ContainerCustomizer) (*testcontainers.DockerContainer, error) {
	opts = append(opts, network.WithNetwork([]string{alias}, s.net))
	c, err := testcontainers.Run(ctx, image, opts...)
	if c != nil {
		s.mu.Lock()
		s.containers[alias] = c
		s.order = append(s.order, alias)
		s.mu.Unlock()
	}
	if err != nil {
		return c, fmt.Errorf("start %s (%s): %w", alias, image, err)
	}
	return c, nil
}

func (s *Stack) startPostgres(ctx context.Context) error {
	env := map[string]string{"POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "postgres-demo"}
	maps.Copy(env, dbPasswords())
	c, err := s.run(ctx, Postgres, s.images["POSTGRES_IMAGE"],
		testcontainers.WithEnv(env),
		// The compose file mounts init.sh into the same folder; it creates one database and
		// one role per service.
		testcontainers.WithFiles(testcontainers.ContainerFile{
			HostFilePath:      filepath.Join(s.root, "infra", "postgres", "init.sh"),
			ContainerFilePath: "/docker-entrypoint-initdb.d/init.sh",
			FileMode:          0o755,
		}),
		// Durability is not what these tests are about; speed is.
		testcontainers.WithCmd("postgres", "-c", "fsync=off", "-c", "synchronous_commit=off"),
	)
	if err != nil {
		return err
	}
	return s.waitPostgres(ctx, c)
}

// waitPostgres waits until the server accepts connections over TCP, as compose's health check
// does: during initialisation the server listens on its socket only, so a TCP answer means the
// init scripts are done.
func (s *Stack) waitPostgres(ctx context.Context, c *testcontainers.DockerContainer) error {
	return poll(ctx, c, "postgres", func(ctx context.Context) error {
		code, out, err := c.Exec(ctx, []string{"pg_isready", "--host=127.0.0.1", "--username=postgres"})
		if err != nil {
			return err
		}
		if code != 0 {
			b, _ := io.ReadAll(out)
			return fmt.Errorf("pg_isready: %d %s", code, b)
		}
		return nil
	})
}

func (s *Stack) startKafka(ctx context.Context) error {
	// The compose file's KRaft settings: the same variables configure apache/kafka and the
	// kfake stand-in.
	c, err := s.run(ctx, Kafka, s.images["KAFKA_IMAGE"],
		testcontainers.WithEnv(map[string]string{
			"KAFKA_NODE_ID":                                  "1",
			"KAFKA_PROCESS_ROLES":                            "broker,controller",
			"KAFKA_LISTENERS":                                "PLAINTEXT://:9092,CONTROLLER://:9093",
			"KAFKA_ADVERTISED_LISTENERS":                     "PLAINTEXT://kafka:9092",
			"KAFKA_CONTROLLER_LISTENER_NAMES":                "CONTROLLER",
			"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP":           "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
			"KAFKA_CONTROLLER_QUORUM_VOTERS":                 "1@kafka:9093",
			"CLUSTER_ID":                                     "4L6g3nShT-eMCtK--X86sw",
			"KAFKA_LOG_DIRS":                                 "/var/lib/kafka/data",
			"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":         "1",
			"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
			"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR":            "1",
			"KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS":         "0",
			"KAFKA_NUM_PARTITIONS":                           "3",
			"KAFKA_AUTO_CREATE_TOPICS_ENABLE":                "false",
			"KAFKA_HEAP_OPTS":                                "-Xms256m -Xmx256m",
		}),
		testcontainers.WithExposedPorts("9092/tcp"),
	)
	if err != nil {
		return err
	}
	return s.waitKafka(ctx, c)
}

// waitKafka waits until the broker accepts connections, as compose's health check does.
func (s *Stack) waitKafka(ctx context.Context, c *testcontainers.DockerContainer) error {
	return poll(ctx, c, "kafka", func(ctx context.Context) error {
		code, _, err := c.Exec(ctx, []string{"bash", "-c", "</dev/tcp/127.0.0.1/9092"})
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("port 9092 closed (%d)", code)
		}
		return nil
	})
}

// startConsul starts Consul as the compose file does: infra/consul/start.sh runs a dev agent
// with ACLs on (default deny) and creates each service's token.
func (s *Stack) startConsul(ctx context.Context) error {
	bootstrap, err := testinfra.ConsulBootstrap()
	if err != nil {
		return err
	}
	c, err := s.run(ctx, Consul, s.images["CONSUL_IMAGE"], append(bootstrap, testcontainers.WithExposedPorts("8500/tcp"))...)
	if err != nil {
		return err
	}
	return s.waitConsul(ctx, c)
}

// waitConsul waits until start.sh has created the tokens, which it does once the agent has a
// leader: before that no service could register.
func (s *Stack) waitConsul(ctx context.Context, c *testcontainers.DockerContainer) error {
	return poll(ctx, c, "consul", func(ctx context.Context) error {
		code, _, err := c.Exec(ctx, []string{"test", "-f", "/tmp/tracecart-acl-ready"})
		if err != nil {
			return err
		}
		if code != 0 {
			return errors.New("ACL tokens not created yet")
		}
		// After a restart the previous run's marker is there until start.sh removes it, which
		// it does before starting the agent: an agent that answers with a leader proves the
		// marker is this run's.
		base, err := s.url(ctx, c, "8500/tcp")
		if err != nil {
			return err
		}
		return testinfra.ConsulHasLeader(ctx, base)
	})
}

func (s *Stack) startJaeger(ctx context.Context) error {
	c, err := s.run(ctx, Jaeger, s.images["JAEGER_IMAGE"],
		testcontainers.WithEnv(map[string]string{"JAEGER_LISTEN_HOST": "0.0.0.0"}),
		testcontainers.WithExposedPorts("16686/tcp"),
	)
	if err != nil {
		return err
	}
	return poll(ctx, c, "jaeger", func(ctx context.Context) error {
		base, err := s.url(ctx, c, "16686/tcp")
		if err != nil {
			return err
		}
		_, err = get(ctx, base+"/api/services")
		return err
	})
}

// serviceEnv is the environment the compose file gives service name, plus the settings that
// make a test quick: short drains, telemetry batches sent often, generous rate limits (every
// request of the suite comes from one address), and a saga timeout from Options. Like the
// compose file, it opts in to the demo data and gives user-service a configured signing key.
func (s *Stack) serviceEnv(name, alias string) map[string]string {
	token, err := testinfra.ConsulDemoToken(name)
	if err != nil {
		s.t.Fatalf("stack: %v", err)
	}
	env := map[string]string{
		"CONSUL_HTTP_ADDR":            "consul:8500",
		"CONSUL_HTTP_TOKEN":           token,
		"ADVERTISE_ADDRESS":           alias,
		"OTEL_TRACES_EXPORTER":        "otlp",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318",
		"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
		"OTEL_BSP_SCHEDULE_DELAY":     "200",
		"DRAIN_DELAY":                 "500ms",
		"SHUTDOWN_TIMEOUT":            "5s",
		"GOMEMLIMIT":                  "100MiB",
	}
	db := func(role, password string) string {
		return fmt.Sprintf("postgres://%s:%s@postgres:5432/%s?sslmode=disable", role, dbPasswords()[password], role)
	}
	switch name {
	case Gateway:
		env["RATE_LIMIT_RPS"] = "2000"
		env["RATE_LIMIT_BURST"] = "4000"
		env["BREAKER_OPEN_TIMEOUT"] = "2s"
	case UserService:
		env["DATABASE_URL"] = db("users", "USERS_DB_PASSWORD")
		env["KAFKA_BROKERS"] = "kafka:9092"
		env["JWT_PRIVATE_KEYS_PEM"] = s.keysPEM
		env["SEED_DEMO_DATA"] = "true"
	case ProductService:
		env["DATABASE_URL"] = db("products", "PRODUCTS_DB_PASSWORD")
		env["KAFKA_BROKERS"] = "kafka:9092"
		env["SEED_DEMO_DATA"] = "true"
		// As in production, a little longer than the saga timeout: an order still PENDING is
		// order-service's business, not the reservation reconciler's.
		env["RECONCILE_AFTER"] = (s.opts.SagaTimeout + 15*time.Second).String()
	case OrderService:
		env["DATABASE_URL"] = db("orders", "ORDERS_DB_PASSWORD")
		env["KAFKA_BROKERS"] = "kafka:9092"
		env["SAGA_TIMEOUT"] = s.opts.SagaTimeout.String()
	}
	return env
}

// startService starts one instance of a service under alias, which is also the address it
// advertises in Consul, and waits until it is ready. extra adds to, or overrides, serviceEnv.
func (s *Stack) startService(ctx context.Context, name, alias string, extra map[string]string) error {
	env := s.serviceEnv(name, alias)
	maps.Copy(env, extra)
	opts := []testcontainers.ContainerCustomizer{testcontainers.WithEnv(env)}
	if name == Gateway {
		opts = append(opts, testcontainers.WithExposedPorts("8080/tcp"))
	}
	c, err := s.run(ctx, alias, imageTag(s.root, name), opts...)
	if err != nil {
		return err
	}
	return s.waitService(ctx, c, name, alias)
}

// waitService waits until an instance is ready: the gateway answers its readiness endpoint on
// the host; the other services, which the host cannot reach, pass their Consul health check.
func (s *Stack) waitService(ctx context.Context, c *testcontainers.DockerContainer, name, alias string) error {
	return poll(ctx, c, alias, func(ctx context.Context) error {
		if name == Gateway {
			base, err := s.url(ctx, c, "8080/tcp")
			if err != nil {
				return err
			}
			_, err = get(ctx, base+"/health/ready")
			return err
		}
		addrs, err := s.passing(ctx, name)
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if a == alias {
				return nil
			}
		}
		return fmt.Errorf("%s not passing in consul (passing: %v)", alias, addrs)
	})
}

// AddInstance starts one more instance of a service under a new alias (for example a second
// product-service) and waits until Consul reports it healthy.
func (s *Stack) AddInstance(t testing.TB, name, alias string) {
	t.Helper()
	s.AddInstanceWithEnv(t, name, alias, nil)
}

// AddInstanceWithEnv is AddInstance with env added to the instance's usual environment, for an
// instance configured unlike its siblings (such as a user-service in the middle of a key
// rotation).
func (s *Stack) AddInstanceWithEnv(t testing.TB, name, alias string, env map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), startTimeout)
	defer cancel()
	if err := s.startService(ctx, name, alias, env); err != nil {
		t.Fatalf("stack: %v", err)
	}
}

// SigningKeysPEM is the JWT_PRIVATE_KEYS_PEM every user-service instance of the stack gets.
func (s *Stack) SigningKeysPEM() string { return s.keysPEM }

// Passing returns the advertised addresses of a service's instances whose Consul checks pass.
func (s *Stack) Passing(t testing.TB, name string) []string {
	t.Helper()
	addrs, err := s.passing(t.Context(), name)
	if err != nil {
		t.Fatalf("stack: %v", err)
	}
	return addrs
}

func (s *Stack) passing(ctx context.Context, name string) ([]string, error) {
	base, err := s.url(ctx, s.container(Consul), "8500/tcp")
	if err != nil {
		return nil, err
	}
	var entries []struct {
		Service struct{ Address string }
	}
	// Consul denies by default: the stack looks with the read-only token Prometheus uses.
	token, err := testinfra.ConsulDemoToken("prometheus")
	if err != nil {
		return nil, err
	}
	if err := getJSON(ctx, base+"/v1/health/service/"+name+"?passing=true", token, &entries); err != nil {
		return nil, err
	}
	addrs := make([]string, 0, len(entries))
	for _, e := range entries {
		addrs = append(addrs, e.Service.Address)
	}
	return addrs, nil
}

// GatewayURL is the gateway's base URL on the host, such as http://127.0.0.1:32768.
func (s *Stack) GatewayURL(t testing.TB) string { return s.mustURL(t, Gateway, "8080/tcp") }

// JaegerURL is the base URL of Jaeger's query API on the host.
func (s *Stack) JaegerURL(t testing.TB) string { return s.mustURL(t, Jaeger, "16686/tcp") }

// ConsulURL is the base URL of Consul's HTTP API on the host.
func (s *Stack) ConsulURL(t testing.TB) string { return s.mustURL(t, Consul, "8500/tcp") }

// KafkaAddr is where the broker's listener is published on the host. The broker advertises
// kafka:9092, so a client on the host must dial this address whatever the metadata says (see
// shoptest.PublishedKafka).
func (s *Stack) KafkaAddr(t testing.TB) string {
	t.Helper()
	return strings.TrimPrefix(s.mustURL(t, Kafka, "9092/tcp"), "http://")
}

func (s *Stack) mustURL(t testing.TB, alias, port string) string {
	t.Helper()
	// The published port changes when a container restarts, so it is looked up every time.
	u, err := s.url(t.Context(), s.container(alias), port)
	if err != nil {
		t.Fatalf("stack: %s: %v", alias, err)
	}
	return u
}

func (s *Stack) url(ctx context.Context, c *testcontainers.DockerContainer, port string) (string, error) {
	if c == nil {
		return "", errors.New("no such container")
	}
	host, err := c.Host(ctx)
	if err != nil {
		return "", err
	}
	p, err := c.MappedPort(ctx, port)
	if err != nil {
		return "", err
	}
	return "http://" + net.JoinHostPort(host, p.Port()), nil
}

func (s *Stack) container(alias string) *testcontainers.DockerContainer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.containers[alias]
}

// Stop stops a container gracefully (SIGTERM, then SIGKILL after 10 s), keeping it so that
// Restart can bring it back.
func (s *Stack) Stop(t testing.TB, alias string) {
	t.Helper()
	timeout := 10 * time.Second
	if err := s.container(alias).Stop(t.Context(), &timeout); err != nil {
		t.Fatalf("stack: stop %s: %v", alias, err)
	}
}

// Kill sends SIGKILL to a container: the process gets no chance to finish anything.
func (s *Stack) Kill(t testing.TB, alias string) {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "docker", "kill", "--signal=KILL", s.container(alias).GetContainerID()).CombinedOutput()
	if err != nil {
		t.Fatalf("stack: kill %s: %v: %s", alias, err, out)
	}
}

// Restart starts a stopped or killed container again and waits until it is ready, as Start
// waited for it the first time.
func (s *Stack) Restart(t testing.TB, alias string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), startTimeout)
	defer cancel()
	c := s.container(alias)
	if err := c.Start(ctx); err != nil {
		t.Fatalf("stack: start %s: %v", alias, err)
	}
	var err error
	switch alias {
	case Kafka:
		err = s.waitKafka(ctx, c)
	case Consul:
		err = s.waitConsul(ctx, c)
	case Postgres:
		err = s.waitPostgres(ctx, c)
	case Jaeger:
		t.Fatalf("stack: restarting %s is not supported", alias)
	default:
		name := alias
		for _, svc := range services() {
			if strings.HasPrefix(alias, svc) {
				name = svc
			}
		}
		err = s.waitService(ctx, c, name, alias)
	}
	if err != nil {
		t.Fatalf("stack: %v", err)
	}
}

// Logs returns the tail of every container's output, in start order: what a failed test prints.
func (s *Stack) Logs() string {
	s.mu.Lock()
	aliases := append([]string(nil), s.order...)
	s.mu.Unlock()
	var b strings.Builder
	for _, alias := range aliases {
		fmt.Fprintf(&b, "\n----- %s (last %d lines) -----\n%s", alias, logLines, tail(logs(s.container(alias)), logLines))
	}
	return b.String()
}

// logLines is how much of each container's log a failure prints.
const logLines = 40

// poll calls check until it succeeds or ctx ends, returning the last error and the
// container's log. It gives up at once when the container has exited.
func poll(ctx context.Context, c *testcontainers.DockerContainer, what string, check func(context.Context) error) error {
	var last error
	for {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		last = check(attempt)
		cancel()
		if last == nil {
			return nil
		}
		if state, err := c.State(ctx); err == nil && !state.Running {
			return fmt.Errorf("%s exited (code %d): %w\n%s", what, state.ExitCode, last, tail(logs(c), logLines))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w\n%s", what, errors.Join(ctx.Err(), last), tail(logs(c), logLines))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func get(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s = %d %s", url, resp.StatusCode, body)
	}
	return string(body), nil
}

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

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
