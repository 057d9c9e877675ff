package testinfra

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/testcontainers/testcontainers-go"
)

// consulDir is where the Consul bootstrap lives in the repository: start.sh, which runs a dev
// agent with ACLs (default deny) and creates the demo's tokens, and the token files it reads.
const consulDir = "infra/consul"

// consulStartScript is where ConsulBootstrapFiles puts start.sh in a container.
const consulStartScript = "/tracecart/consul/start.sh"

// ConsulDemoToken returns the demo ACL token named name from infra/consul: "management" for the
// initial management token, or the name of a service (or "prometheus") for its own token. The
// compose file hands the same files to the same parties, so tests and the demo use one
// bootstrap.
func ConsulDemoToken(name string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	path := filepath.Join(root, consulDir, "tokens", name+".env")
	if name == "management" {
		path = filepath.Join(root, consulDir, "management.env")
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("consul demo token %s: %w", name, err)
	}
	defer f.Close()
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		if token, ok := strings.CutPrefix(lines.Text(), "CONSUL_HTTP_TOKEN="); ok {
			return token, nil
		}
	}
	return "", fmt.Errorf("consul demo token %s: no CONSUL_HTTP_TOKEN line in %s", name, path)
}

// ConsulBootstrap returns the options that make a Consul container start the way the compose
// file starts it: infra/consul copied in and start.sh as its entrypoint, with agentFlags
// added to the agent's command line.
func ConsulBootstrap(agentFlags ...string) ([]testcontainers.ContainerCustomizer, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	paths, err := filepath.Glob(filepath.Join(root, consulDir, "*"))
	if err != nil {
		return nil, err
	}
	tokens, err := filepath.Glob(filepath.Join(root, consulDir, "tokens", "*.env"))
	if err != nil {
		return nil, err
	}
	var files []testcontainers.ContainerFile
	for _, p := range append(paths, tokens...) {
		if info, err := os.Stat(p); err != nil || info.IsDir() {
			continue
		}
		rel, err := filepath.Rel(filepath.Join(root, consulDir), p)
		if err != nil {
			return nil, err
		}
		files = append(files, testcontainers.ContainerFile{
			HostFilePath: p, ContainerFilePath: filepath.Join(filepath.Dir(consulStartScript), rel), FileMode: 0o755,
		})
	}
	return []testcontainers.ContainerCustomizer{
		testcontainers.WithFiles(files...),
		testcontainers.WithEntrypoint(append([]string{"/bin/sh", consulStartScript}, agentFlags...)...),
	}, nil
}
