package observability

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tracecart/tracecart/shared/testinfra"
)

// shopServices are the four tracecart services, by their service.name and Consul name.
var shopServices = []string{"gateway", "user-service", "product-service", "order-service"}

// publishedPorts are the host ports infra/compose.yaml publishes for the services started here.
var publishedPorts = []string{"8080", "8500", "9090", "16686"}

// TestComposeStack is the demo's promise, checked: `docker compose up` brings the shop up
// healthy, an order placed through the gateway is CONFIRMED, Prometheus scrapes every service
// it found through Consul, and Jaeger holds the order's trace with spans from all four services.
func TestComposeStack(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole compose stack")
	}
	if out, err := exec.CommandContext(t.Context(), "docker", "compose", "version").CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI needs the docker compose v2 plugin (infra/offline/build.sh installs it): %v\n%s", err, out)
		}
		t.Skipf("docker compose v2 is not installed: %v", err)
	}
	for _, port := range publishedPorts {
		l, err := net.Listen("tcp", "127.0.0.1:"+port)
		if err != nil {
			t.Fatalf("port %s is taken (%v): the compose file publishes fixed ports; stop whatever holds it", port, err)
		}
		l.Close()
	}
	stack := newComposeStack(t)

	started := time.Now()
	// Up includes building the four service images from the checkout: about a minute and a half
	// on a quiet two-core machine, but it shares the cores with the system suite's own builds
	// and has taken over ten minutes when other work ran beside them.
	// The README's command, literally (see newComposeStack for the environment).
	stack.run(t, 25*time.Minute, "up", "-d", "--build")
	upReturned := time.Since(started)

	const gateway = "http://127.0.0.1:8080"
	testinfra.WaitFor(t, 90*time.Second, "the gateway to be ready", func() error {
		return expectStatus(t, gateway+"/health/ready", http.StatusOK)
	})
	// Ready is the gateway's own state; logging in needs user-service registered in Consul too.
	var token string
	testinfra.WaitFor(t, 90*time.Second, "logging in through the gateway", func() error {
		var body struct {
			AccessToken string `json:"access_token"`
		}
		status, raw, err := do(t.Context(), http.MethodPost, gateway+"/api/auth/login", "",
			map[string]string{"email": alice, "password": demoPassword}, nil)
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			return fmt.Errorf("login = %d: %.200s", status, raw)
		}
		if err := json.Unmarshal(raw, &body); err != nil {
			return err
		}
		token = body.AccessToken
		return nil
	})
	t.Logf("up -d returned after %s; the shop answered a login %s after up started", upReturned.Round(100*time.Millisecond), time.Since(started).Round(100*time.Millisecond))
	// Each service registers and passes its first check on its own schedule: a login proves
	// user-service is there, not order-service or product-service, which an order needs too.
	testinfra.WaitFor(t, 90*time.Second, "order-service and product-service through the gateway", func() error {
		for _, path := range []string{"/api/orders", "/api/products"} {
			status, raw, err := do(t.Context(), http.MethodGet, gateway+path, token, nil, nil)
			if err != nil {
				return err
			}
			if status != http.StatusOK {
				return fmt.Errorf("GET %s = %d: %.200s", path, status, raw)
			}
		}
		return nil
	})

	placed := placeOrderAndConfirm(t, gateway, token)
	if placed.TraceID == "" {
		t.Fatal("the gateway's answer to POST /api/orders has no X-Trace-Id")
	}
	t.Logf("order %s confirmed, trace %s, %s after up started", placed.ID, placed.TraceID, time.Since(started).Round(100*time.Millisecond))

	t.Run("Prometheus scrapes every service found through Consul", func(t *testing.T) {
		testinfra.WaitFor(t, 60*time.Second, "every service's target to be up", func() error {
			return targetsUp("http://127.0.0.1:9090")
		})
	})
	t.Run("Jaeger holds the order's trace across all four services", func(t *testing.T) {
		testinfra.WaitFor(t, 60*time.Second, "the trace to reach Jaeger", func() error {
			return traceSpansServices("http://127.0.0.1:16686", placed.TraceID)
		})
	})
	// Last, because the pages change the demo's state (they switch scenarios on and off): the
	// checks above see the demo as `up` left it. See walkthroughs_test.go for why the pages run
	// on this stack.
	t.Run("walkthroughs", func(t *testing.T) { runWalkthroughs(t, stack) })
}

// composeStack is one `docker compose` project: its own name, so it shares nothing with other
// stacks on the machine, removed with its volumes when the test ends.
type composeStack struct {
	root    string   // the repository root, where compose runs
	project string   // the compose project name
	env     []string // what every compose command adds to the environment
}

// newComposeStack prepares the demo as the README starts it: `docker compose` from the
// repository root, which reads the root compose.yaml. The environment adds the project name and,
// when TRACECART_IMAGES_FILE names the stand-ins' images (CI), the README's one override for
// them: COMPOSE_FILE naming the compose.yaml that sits beside that images file
// (infra/offline/compose.yaml).
func newComposeStack(t *testing.T) *composeStack {
	t.Helper()
	root, err := testinfra.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	suffix := make([]byte, 4)
	rand.Read(suffix)
	s := &composeStack{root: root, project: "tracecart-obs-" + hex.EncodeToString(suffix)}
	s.env = []string{"COMPOSE_PROJECT_NAME=" + s.project}
	if file := os.Getenv("TRACECART_IMAGES_FILE"); file != "" {
		if !filepath.IsAbs(file) {
			file = filepath.Join(root, file)
		}
		composeFile := filepath.Join(filepath.Dir(file), "compose.yaml")
		if _, err := os.Stat(composeFile); err != nil {
			t.Fatalf("TRACECART_IMAGES_FILE=%s: the stand-in route needs its compose file beside it: %v", file, err)
		}
		s.env = append(s.env, "COMPOSE_FILE="+composeFile)
	}

	t.Cleanup(func() {
		if t.Failed() {
			out, _ := s.output(2*time.Minute, "logs", "--no-color", "--tail", "40")
			t.Logf("compose logs (tail):\n%s", out)
		}
		if out, err := s.output(2*time.Minute, "down", "--volumes", "--remove-orphans", "--timeout", "5"); err != nil {
			t.Errorf("compose down: %v\n%s", err, out)
		}
	})
	return s
}

// run runs a compose command and fails the test if it fails.
func (s *composeStack) run(t *testing.T, timeout time.Duration, args ...string) {
	t.Helper()
	if out, err := s.output(timeout, args...); err != nil {
		t.Fatalf("docker compose %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// output runs a compose command and returns its combined output. It takes no context from the
// test, because cleanup runs after the test's context is cancelled.
func (s *composeStack) output(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", append([]string{"compose"}, args...)...)
	cmd.Dir = s.root
	// The stack's own settings win over anything COMPOSE_* in the test's environment.
	cmd.Env = append(os.Environ(), s.env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// targetsUp reports an error unless Prometheus has an active target that is up for each of the
// four services (the job label is the Consul service name, see infra/prometheus/prometheus.yml).
func targetsUp(prometheus string) error {
	var body struct {
		Data struct {
			ActiveTargets []struct {
				Labels    map[string]string `json:"labels"`
				Health    string            `json:"health"`
				LastError string            `json:"lastError"`
			} `json:"activeTargets"`
		} `json:"data"`
	}
	if err := getJSON(prometheus+"/api/v1/targets?state=active", &body); err != nil {
		return err
	}
	health := map[string]string{}
	for _, target := range body.Data.ActiveTargets {
		health[target.Labels["job"]] = target.Health + " " + target.LastError
	}
	var notUp []string
	for _, service := range shopServices {
		if h := health[service]; !strings.HasPrefix(h, "up") {
			notUp = append(notUp, fmt.Sprintf("%s: %q", service, h))
		}
	}
	if len(notUp) > 0 {
		return fmt.Errorf("targets not up: %s", strings.Join(notUp, ", "))
	}
	return nil
}

// traceSpansServices reports an error unless Jaeger's trace traceID has spans from all four
// services.
func traceSpansServices(jaeger, traceID string) error {
	var body struct {
		Data []struct {
			Spans []struct {
				ProcessID string `json:"processID"`
			} `json:"spans"`
			Processes map[string]struct {
				ServiceName string `json:"serviceName"`
			} `json:"processes"`
		} `json:"data"`
	}
	if err := getJSON(jaeger+"/api/traces/"+traceID, &body); err != nil {
		return err
	}
	if len(body.Data) != 1 {
		return fmt.Errorf("%d traces for %s", len(body.Data), traceID)
	}
	seen := map[string]bool{}
	for _, span := range body.Data[0].Spans {
		seen[body.Data[0].Processes[span.ProcessID].ServiceName] = true
	}
	for _, service := range shopServices {
		if !seen[service] {
			return fmt.Errorf("trace %s has %d spans, none from %s (services: %v)", traceID, len(body.Data[0].Spans), service, seen)
		}
	}
	return nil
}

// getJSON GETs url and decodes a 200 answer into out.
func getJSON(url string, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	status, raw, err := do(ctx, http.MethodGet, url, "", nil, nil)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET %s = %d: %.200s", url, status, raw)
	}
	return json.Unmarshal(raw, out)
}
