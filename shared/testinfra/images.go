package testinfra

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Images returns the container image references tracecart uses, keyed by variable name
// (POSTGRES_IMAGE, KAFKA_IMAGE, ...), resolved the same way the compose file resolves them:
//
//  1. infra/images.env in the repository holds the upstream defaults;
//  2. the file named by TRACECART_IMAGES_FILE, when set, overrides them (CI points it at
//     infra/offline/images.env, the locally built stand-ins);
//  3. an environment variable of the same name overrides both.
func Images(getenv func(string) string) (map[string]string, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	images, err := readEnvFile(filepath.Join(root, "infra", "images.env"))
	if err != nil {
		return nil, err
	}
	if file := getenv("TRACECART_IMAGES_FILE"); file != "" {
		if !filepath.IsAbs(file) {
			file = filepath.Join(root, file)
		}
		overrides, err := readEnvFile(file)
		if err != nil {
			return nil, err
		}
		for k, v := range overrides {
			images[k] = v
		}
	}
	for k := range images {
		if v := getenv(k); v != "" {
			images[k] = v
		}
	}
	return images, nil
}

// RepoRoot finds the repository root by walking up from the working directory to the folder that
// holds go.work. Tests run in their package's folder, so this works from any module.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testinfra: no go.work above the working directory")
		}
		dir = parent
	}
}

// readEnvFile parses KEY=VALUE lines, ignoring blank lines and # comments.
func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read image defaults: %w", err)
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want KEY=VALUE, got %q", path, n, line)
		}
		vars[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return vars, sc.Err()
}
