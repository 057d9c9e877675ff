package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// deployment is a minimal valid workload whose pods carry app=shop.
const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: shop}
spec:
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      containers: [{name: shop, image: shop}]
`

func TestCheckConsistency(t *testing.T) {
	tests := []struct {
		name   string
		render string
		want   string // a substring of the one expected problem; empty: no problem
	}{
		{name: "consistent", render: deployment + `---
apiVersion: v1
kind: Service
metadata: {name: shop}
spec: {selector: {app: shop}, ports: [{port: 80}]}
`},
		{name: "selector misses its own pods", render: strings.Replace(deployment, "matchLabels: {app: shop}", "matchLabels: {app: shoop}", 1),
			want: "does not select the pod template"},
		{name: "service selects nothing", render: deployment + `---
apiVersion: v1
kind: Service
metadata: {name: shop}
spec: {selector: {app: shoop}, ports: [{port: 80}]}
`, want: "selects no pod"},
		{name: "network policy peer selects nothing", render: deployment + `---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: shop}
spec:
  podSelector: {matchLabels: {app: shop}}
  ingress: [{from: [{podSelector: {matchLabels: {app: gatewya, app.kubernetes.io/instance: shop}}}]}]
`, want: "peer app=gatewya,app.kubernetes.io/instance=shop selects no pod"},
		{name: "peer outside the release is not checked", render: deployment + `---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: shop}
spec:
  podSelector: {matchLabels: {app: shop}}
  egress: [{to: [{podSelector: {matchLabels: {cnpg.io/cluster: shop-db}}}]}]
`},
		{name: "peer in another namespace is not checked", render: deployment + `---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: shop}
spec:
  podSelector: {matchLabels: {app: shop}}
  ingress: [{from: [{namespaceSelector: {}, podSelector: {matchLabels: {app: prometheus}}}]}]
`},
		{name: "autoscaler target missing", render: deployment + `---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: shop}
spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: shop2}, maxReplicas: 2}
`, want: "scaleTargetRef Deployment/shop2"},
		{name: "invalid service name", render: deployment + `---
apiVersion: v1
kind: Service
metadata: {name: 1shop}
spec: {selector: {app: shop}, ports: [{port: 80}]}
`, want: "name:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "render.yaml")
			if err := os.WriteFile(path, []byte(tt.render), 0o600); err != nil {
				t.Fatal(err)
			}
			objects, err := readObjects(path)
			if err != nil {
				t.Fatal(err)
			}
			problems := checkConsistency(objects)
			switch {
			case tt.want == "" && len(problems) > 0:
				t.Errorf("problems = %q, want none", problems)
			case tt.want != "" && (len(problems) != 1 || !strings.Contains(problems[0], tt.want)):
				t.Errorf("problems = %q, want one containing %q", problems, tt.want)
			}
		})
	}
}
