package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestTrafficMatrix: a connection needs the caller's egress and the callee's ingress; a pod no
// policy governs in a direction is open in it.
func TestTrafficMatrix(t *testing.T) {
	pod := func(name string) string {
		return `apiVersion: apps/v1
kind: Deployment
metadata: {name: ` + name + `}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: ` + name + `}}
  template:
    metadata: {labels: {app.kubernetes.io/name: ` + name + `, app.kubernetes.io/instance: r}}
    spec:
      containers: [{name: c, image: i, ports: [{containerPort: 8080}]}]
---
`
	}
	render := pod("a") + pod("b") + pod("c") + `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b}
spec:
  podSelector: {matchLabels: {app.kubernetes.io/name: b}}
  policyTypes: [Ingress, Egress]
  ingress: [{ports: [{port: 8080}], from: [{podSelector: {matchLabels: {app.kubernetes.io/name: a, app.kubernetes.io/instance: r}}}]}]
  egress: []
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: c}
spec:
  podSelector: {matchLabels: {app.kubernetes.io/name: c}}
  policyTypes: [Ingress]
  ingress: [{ports: [{port: 8080}], from: [{namespaceSelector: {matchLabels: {team: ops}}}]}]
`
	path := filepath.Join(t.TempDir(), "render.yaml")
	if err := os.WriteFile(path, []byte(render), 0o600); err != nil {
		t.Fatal(err)
	}
	objects, err := readObjects(path)
	if err != nil {
		t.Fatal(err)
	}
	got := trafficMatrix(objects)
	want := []string{
		"a -> a:8080", // a has no policy: open both ways
		"a -> b:8080", // b admits a; b itself may open nothing
		"c -> a:8080", // c's policy governs only its ingress
		"{namespaces team=ops, pods <none>} -> c:8080",
	}
	if !slices.Equal(got, want) {
		t.Errorf("trafficMatrix =\n%q\nwant\n%q", got, want)
	}
}
