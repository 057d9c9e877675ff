// Package observability proves that what the compose demo shows is true: the Grafana dashboards
// and Prometheus alert rules only name metrics the services really export, they point at data
// sources that exist, the rules pass promtool, and the compose stack itself comes up, runs a saga
// to CONFIRMED, lets Prometheus find every service through Consul and Jaeger show the order's
// whole trace.
//
// Dashboards are easy to break silently: a renamed metric leaves a panel that says "No data"
// forever. The tests here fail instead.
package observability

import (
	"os"
	"testing"

	"github.com/tracecart/tracecart/shared/testinfra"
)

func TestMain(m *testing.M) { os.Exit(testinfra.Main(m)) }
