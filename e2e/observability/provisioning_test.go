package observability

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"go.yaml.in/yaml/v3"

	"github.com/tracecart/tracecart/shared/testinfra"
)

// query is one PromQL expression found in the observability config, and where it was found, so
// a failure names the panel or rule to fix.
type query struct {
	where string
	expr  string
}

// config is what the demo provisions: Grafana's data sources and dashboards, and Prometheus's
// alert rules, read from infra/.
type config struct {
	datasourceUIDs map[string]bool
	dashboards     map[string]dashboard // file name → dashboard
	queries        []query              // from dashboards and alert rules alike
}

// dashboard is the part of a Grafana dashboard JSON this test reads.
type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string     `json:"name"`
			Datasource datasource `json:"datasource"`
			// A Prometheus variable's query is a string or {"query": "…"}, depending on the
			// Grafana version that saved it.
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Title      string      `json:"title"`
	Type       string      `json:"type"`
	Datasource *datasource `json:"datasource"`
	Targets    []struct {
		RefID      string      `json:"refId"`
		Datasource *datasource `json:"datasource"`
		Expr       string      `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row keeps its panels here
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// loadConfig reads and checks the provisioning files and dashboards: each must parse, each data
// source must have a UID, the exemplar links must point at a provisioned data source, and every
// panel must query a provisioned data source.
func loadConfig(t *testing.T) config {
	t.Helper()
	root, err := testinfra.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	infra := filepath.Join(root, "infra")
	c := config{datasourceUIDs: map[string]bool{}, dashboards: map[string]dashboard{}}

	var datasources struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name     string `yaml:"name"`
			UID      string `yaml:"uid"`
			Type     string `yaml:"type"`
			URL      string `yaml:"url"`
			JSONData struct {
				ExemplarTraceIDDestinations []struct {
					Name          string `yaml:"name"`
					DatasourceUID string `yaml:"datasourceUid"`
				} `yaml:"exemplarTraceIdDestinations"`
			} `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	readYAML(t, filepath.Join(infra, "grafana/provisioning/datasources/datasources.yaml"), &datasources)
	for _, ds := range datasources.Datasources {
		if ds.UID == "" || ds.Type == "" || ds.URL == "" {
			t.Errorf("data source %q needs a uid, a type and a url", ds.Name)
		}
		c.datasourceUIDs[ds.UID] = true
	}
	exemplarLinks := 0
	for _, ds := range datasources.Datasources {
		for _, dest := range ds.JSONData.ExemplarTraceIDDestinations {
			exemplarLinks++
			if dest.Name != "trace_id" || !c.datasourceUIDs[dest.DatasourceUID] {
				t.Errorf("data source %q: exemplar link %q → %q, want trace_id → a provisioned data source", ds.Name, dest.Name, dest.DatasourceUID)
			}
		}
	}
	if !c.datasourceUIDs["prometheus"] || !c.datasourceUIDs["jaeger"] || exemplarLinks == 0 {
		t.Errorf("want data sources prometheus and jaeger with exemplars linked to traces; have %v, %d links", c.datasourceUIDs, exemplarLinks)
	}

	var providers struct {
		Providers []struct {
			Type    string `yaml:"type"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, filepath.Join(infra, "grafana/provisioning/dashboards/dashboards.yaml"), &providers)
	if len(providers.Providers) != 1 || providers.Providers[0].Type != "file" || providers.Providers[0].Options.Path == "" {
		t.Errorf("want one file provider with a path, have %+v", providers.Providers)
	}

	files, err := filepath.Glob(filepath.Join(infra, "grafana/dashboards/*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in infra/grafana/dashboards (%v)", err)
	}
	uids := map[string]string{}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Errorf("%s: %v", filepath.Base(file), err)
			continue
		}
		name := filepath.Base(file)
		if d.UID == "" || d.Title == "" {
			t.Errorf("%s: a dashboard needs a uid and a title (links and bookmarks use the uid)", name)
		}
		if other, dup := uids[d.UID]; dup {
			t.Errorf("%s and %s share the uid %q", other, name, d.UID)
		}
		uids[d.UID] = name
		c.dashboards[name] = d
		c.queries = append(c.queries, dashboardQueries(t, name, d, c.datasourceUIDs)...)
	}

	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	ruleFiles, err := filepath.Glob(filepath.Join(infra, "prometheus/rules/*.yml"))
	if err != nil || len(ruleFiles) == 0 {
		t.Fatalf("no alert rules in infra/prometheus/rules (%v)", err)
	}
	for _, file := range ruleFiles {
		readYAML(t, file, &rules)
		for _, g := range rules.Groups {
			for _, r := range g.Rules {
				c.queries = append(c.queries, query{where: fmt.Sprintf("%s: alert %s", filepath.Base(file), r.Alert), expr: r.Expr})
			}
		}
	}
	return c
}

// labelValues matches a Grafana variable query label_values(metric, label).
var labelValues = regexp.MustCompile(`^\s*label_values\(\s*([^,]+?)\s*,\s*\w+\s*\)\s*$`)

// dashboardQueries checks that every panel and variable of d uses a provisioned data source and
// returns their PromQL.
func dashboardQueries(t *testing.T, name string, d dashboard, uids map[string]bool) []query {
	t.Helper()
	var queries []query
	checkSource := func(where string, ds *datasource) {
		if ds == nil {
			t.Errorf("%s names no data source", where)
		} else if !uids[ds.UID] {
			t.Errorf("%s uses data source uid %q, which is not provisioned", where, ds.UID)
		}
	}
	var walk func(panels []panel)
	walk = func(panels []panel) {
		for _, p := range panels {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			where := fmt.Sprintf("%s: panel %q", name, p.Title)
			checkSource(where, p.Datasource)
			if len(p.Targets) == 0 {
				t.Errorf("%s has no query", where)
			}
			for _, target := range p.Targets {
				checkSource(where+" query "+target.RefID, target.Datasource)
				if strings.TrimSpace(target.Expr) == "" {
					t.Errorf("%s query %s is empty", where, target.RefID)
				}
				queries = append(queries, query{where: where, expr: target.Expr})
			}
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		where := fmt.Sprintf("%s: variable %q", name, v.Name)
		checkSource(where, &v.Datasource)
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q.Query); err != nil {
			if err := json.Unmarshal(v.Query, &q); err != nil {
				t.Errorf("%s: query %s: %v", where, v.Query, err)
			}
		}
		expr := q.Query
		if m := labelValues.FindStringSubmatch(expr); m != nil {
			expr = m[1]
		}
		queries = append(queries, query{where: where, expr: expr})
	}
	return queries
}

func readYAML(t *testing.T, path string, out any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(out); err != nil {
		t.Errorf("%s: %v", path, err)
	}
}

// TestProvisioning checks the files alone: they parse, data source UIDs exist, every panel has
// a query, and every query names at least one metric (a query the tokenizer finds nothing in is
// one the metric check below could not vouch for).
func TestProvisioning(t *testing.T) {
	c := loadConfig(t)
	for _, want := range []string{"saga.json", "services.json", "messaging.json"} {
		if _, ok := c.dashboards[want]; !ok {
			t.Errorf("dashboard %s is missing", want)
		}
	}
	for _, q := range c.queries {
		if len(metricNames(q.expr)) == 0 {
			t.Errorf("%s: no metric name found in %q", q.where, q.expr)
		}
	}
}

// TestAlertRulesPassPromtool runs promtool, from the Prometheus image the demo uses, over the
// Prometheus configuration, which loads and checks the alert rules too.
func TestAlertRulesPassPromtool(t *testing.T) {
	root, err := testinfra.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	images, err := testinfra.Images(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "run", "--rm", "--network=none", "--entrypoint=/bin/promtool",
		"-v", filepath.Join(root, "infra/prometheus")+":/etc/prometheus:ro",
		images["PROMETHEUS_IMAGE"], "check", "config", "/etc/prometheus/prometheus.yml")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "rules found") {
		t.Errorf("promtool checked no rules: is rule_files set in prometheus.yml?\n%s", out)
	}
}

// prometheusOnly are series Prometheus makes itself for each target; no service exports them.
var prometheusOnly = map[string]bool{"up": true}

// TestQueriesNameExportedMetrics runs the four services, drives them through every path a
// dashboard or alert shows (a confirmed order, its cancellation with restock and refund, cached
// and rate-limited catalogue reads, a dead-lettered message), and then checks that every metric
// named by every dashboard panel and alert rule is in some service's /metrics.
func TestQueriesNameExportedMetrics(t *testing.T) {
	c := loadConfig(t)
	shop := startLocalShop(t, map[string]string{
		// Small enough that the burst below is refused, large enough for the order's requests.
		"RATE_LIMIT_RPS":   "5",
		"RATE_LIMIT_BURST": "20",
	})
	token := login(t, shop.gateway)
	placed := placeOrderAndConfirm(t, shop.gateway, token)

	// Cancel it: product-service restocks (a release) and user-service refunds.
	var cancelled struct {
		Status string `json:"status"`
	}
	mustJSON(t, http.MethodPost, shop.gateway+"/api/orders/"+placed.ID+"/cancel", token, nil, http.StatusOK, &cancelled, nil)

	// Anonymous catalogue reads: cache misses and hits, then 429s once the burst is spent.
	testinfra.WaitFor(t, 10*time.Second, "the gateway to rate-limit catalogue reads", func() error {
		for range 30 {
			if status, _, err := do(t.Context(), http.MethodGet, shop.gateway+"/api/products", "", nil, nil); err != nil || status == http.StatusTooManyRequests {
				return err
			}
		}
		return fmt.Errorf("30 reads, none refused")
	})

	// A malformed event: the consumers of "orders" dead-letter it.
	w := &kafkago.Writer{Addr: kafkago.TCP(shop.brokers), Topic: "orders", BatchTimeout: time.Millisecond}
	if err := w.WriteMessages(t.Context(), kafkago.Message{Key: []byte("poison"), Value: []byte("{not an event")}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	// Wait until the last effects (refund, release, dead letter) show, then take the union.
	want := map[string][]string{} // metric → where it is used
	for _, q := range c.queries {
		for _, name := range metricNames(q.expr) {
			if !prometheusOnly[name] {
				want[name] = append(want[name], q.where)
			}
		}
	}
	var missing []string
	testinfra.WaitFor(t, 15*time.Second, "every metric the dashboards and alerts use to be exported", func() error {
		exported := map[string]bool{}
		for name, base := range shop.metrics {
			status, body, err := do(t.Context(), http.MethodGet, base+"/metrics", "", nil, nil)
			if err != nil || status != http.StatusOK {
				return fmt.Errorf("%s /metrics: %d %v", name, status, err)
			}
			for _, line := range strings.Split(string(body), "\n") {
				if line == "" || line[0] == '#' {
					continue
				}
				if end := strings.IndexAny(line, "{ "); end > 0 {
					exported[line[:end]] = true
				}
			}
		}
		missing = missing[:0]
		for name, where := range want {
			if !exported[name] {
				slices.Sort(where)
				missing = append(missing, fmt.Sprintf("%s (used by %s)", name, strings.Join(slices.Compact(where), "; ")))
			}
		}
		slices.Sort(missing)
		if len(missing) > 0 {
			return fmt.Errorf("not exported by any service:\n  %s", strings.Join(missing, "\n  "))
		}
		return nil
	})
	if len(want) < 15 {
		t.Errorf("only %d metrics checked: did the dashboards lose their queries?", len(want))
	}
}
