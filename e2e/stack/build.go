package stack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// buildTimeout bounds one image build. The first build of a clean machine downloads every
// module and compiles shared/; the next three reuse those layers.
const buildTimeout = 15 * time.Minute

// builds remembers which service images this test binary has built. It is package state on
// purpose: a test binary is one process, and building each image once per binary rather than
// once per test is what keeps a suite of several stacks fast.
var builds = struct {
	sync.Mutex
	done map[string]error
}{done: map[string]error{}}

// imageTag is the tag the suite gives a service's image built from the checkout at root:
// distinct from the compose demo's, and from other checkouts' on the same machine (git
// worktrees), so that a suite never runs containers of code another checkout just built.
func imageTag(root, service string) string {
	sum := sha256.Sum256([]byte(root))
	return "tracecart-e2e/" + service + ":test-" + hex.EncodeToString(sum[:4])
}

// buildImage builds a service's image from its own Dockerfile, exactly as the compose file
// does (context the repository root, base images as build arguments), once per test binary.
// It runs the docker CLI rather than testcontainers' FromDockerfile: the CLI streams the legacy
// builder's errors verbatim and uses the same layer cache as `docker compose build`.
func buildImage(root string, images map[string]string, service string) error {
	builds.Lock()
	defer builds.Unlock()
	if err, ok := builds.done[service]; ok {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "build", "--quiet",
		"--file", filepath.Join(root, service, "Dockerfile"),
		"--build-arg", "GO_BUILDER_IMAGE="+images["GO_BUILDER_IMAGE"],
		"--build-arg", "RUNTIME_IMAGE="+images["RUNTIME_IMAGE"],
		"--tag", imageTag(root, service),
		root)
	var err error
	if out, runErr := cmd.CombinedOutput(); runErr != nil {
		err = fmt.Errorf("build %s image: %w\n%s", service, runErr, tail(string(out), 60))
	}
	builds.done[service] = err
	return err
}

// getJSON decodes the JSON answer of a GET that must succeed, sent with consulToken (if any) in
// the header Consul reads it from.
func getJSON(ctx context.Context, url, consulToken string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if consulToken != "" {
		req.Header.Set("X-Consul-Token", consulToken)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("GET %s = %d %s", url, resp.StatusCode, body)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
