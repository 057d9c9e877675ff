package testinfra

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"

	"github.com/testcontainers/testcontainers-go"
)

// Jaeger is a Jaeger all-in-one (v2) that belongs to one test: services send it spans over OTLP
// and the test reads whole traces back through its query API, as a person would in the UI.
type Jaeger struct {
	otlp, query string
}

// NewJaeger starts Jaeger for this test and removes it when the test ends.
func NewJaeger(t testing.TB) *Jaeger {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	ref, err := image("JAEGER_IMAGE")
	if err != nil {
		t.Fatalf("testinfra: %v", err)
	}
	c, err := testcontainers.Run(ctx, ref, testcontainers.WithExposedPorts("4318/tcp", "16686/tcp"))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("jaeger logs (tail):\n%s", tail(logs(c), 3000))
		}
		if c != nil {
			_ = c.Terminate(context.Background())
		}
	})
	if err != nil {
		t.Fatalf("testinfra: start jaeger (%s): %v", ref, err)
	}
	j := &Jaeger{}
	for port, dst := range map[string]*string{"4318/tcp": &j.otlp, "16686/tcp": &j.query} {
		host, mapped, err := hostPort(ctx, c, port)
		if err != nil {
			t.Fatalf("testinfra: jaeger port %s: %v", port, err)
		}
		*dst = "http://" + net.JoinHostPort(host, mapped)
	}
	err = poll(ctx, c, func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, j.query+"/api/services", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("query API answered %d", resp.StatusCode)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("testinfra: jaeger not ready: %v", err)
	}
	return j
}

// OTLPEndpoint is the OTLP/HTTP base URL, the value for OTEL_EXPORTER_OTLP_ENDPOINT.
func (j *Jaeger) OTLPEndpoint() string { return j.otlp }

// QueryURL is the base URL of the query API (/api/traces/{id}, /api/services, ...).
func (j *Jaeger) QueryURL() string { return j.query }

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
