package observability

import (
	"path/filepath"
	"testing"

	"github.com/tracecart/tracecart/shared/testinfra"
)

// TestDemoConsulTokens checks that the compose demo hands out the Consul tokens that
// infra/consul/start.sh creates: each service reads its own token file, and Prometheus's
// Consul discovery uses the read-only token. A token that drifted from the bootstrap would
// leave a service unable to register, or Prometheus with no targets.
func TestDemoConsulTokens(t *testing.T) {
	root, err := testinfra.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			EnvFile any `yaml:"env_file"`
		} `yaml:"services"`
	}
	readYAML(t, filepath.Join(root, "infra", "compose.yaml"), &compose)
	for _, svc := range append([]string{"consul"}, shopServices...) {
		want := "./consul/tokens/" + svc + ".env"
		if svc == "consul" {
			want = "./consul/management.env"
		}
		if got := compose.Services[svc].EnvFile; got != want {
			t.Errorf("compose service %s: env_file %v, want %s", svc, got, want)
		}
	}

	var prometheus struct {
		ScrapeConfigs []struct {
			ConsulSD []struct {
				Token string `yaml:"token"`
			} `yaml:"consul_sd_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, filepath.Join(root, "infra", "prometheus", "prometheus.yml"), &prometheus)
	want, err := testinfra.ConsulDemoToken("prometheus")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, sc := range prometheus.ScrapeConfigs {
		for _, sd := range sc.ConsulSD {
			n++
			if sd.Token != want {
				t.Errorf("prometheus.yml: a consul_sd_config uses a token other than infra/consul/tokens/prometheus.env's")
			}
		}
	}
	if n == 0 {
		t.Error("prometheus.yml has no consul_sd_configs")
	}
}
