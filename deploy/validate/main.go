// Command validate checks rendered Kubernetes manifests (the output of `helm template`) against
// the API of one pinned Kubernetes version, without a cluster. Each object must pass three
// checks, the first two being what an API server does before it stores an object:
//
//  1. strict decoding into the typed Go structs of k8s.io/api (the same structs the API server
//     uses): an unknown field, a duplicate field or a value of the wrong type is an error;
//  2. validation against that Kubernetes version's OpenAPI schema (api/openapi-spec/swagger.json
//     of the k8s.io/kubernetes module, the schema the API server publishes): types, required
//     fields, formats, enums, and no property the schema does not name;
//  3. a few consistency checks no schema can express: names are valid DNS names, a workload's
//     selector matches its own pod template, and every selector (Service, PodDisruptionBudget,
//     NetworkPolicy peer, HorizontalPodAutoscaler target) finds something in the same render, so
//     a mistyped label cannot leave a policy quietly selecting nothing.
//
// With -traffic it also writes, for each render, the connections its NetworkPolicies allow
// (traffic.go), for review next to the render.
//
// Usage: validate -schema swagger.json [-kubernetes version] [-traffic dir] render.yaml...
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "validate:", err)
		os.Exit(1)
	}
}

// run validates every file named in args and reports one line per file.
func run(args []string, stdout io.Writer) (err error) {
	opts, err := parseArgs(args)
	if err != nil {
		return err
	}
	schemas, err := loadSchemas(opts.schemaPath)
	if err != nil {
		return err
	}
	if opts.version != "" {
		schemas.version = opts.version
	}
	decoder, err := newStrictDecoder()
	if err != nil {
		return err
	}

	failed := 0
	for _, path := range opts.files {
		objects, err := readObjects(path)
		if err != nil {
			return err
		}
		var problems []string
		for _, obj := range objects {
			for _, p := range decoder.check(obj) {
				problems = append(problems, obj.String()+": "+p)
			}
			for _, p := range schemas.check(obj) {
				problems = append(problems, obj.String()+": "+p)
			}
		}
		problems = append(problems, checkConsistency(objects)...)
		if opts.trafficDir != "" {
			name := strings.TrimSuffix(filepath.Base(path), ".yaml") + ".traffic.txt"
			lines := strings.Join(trafficMatrix(objects), "\n") + "\n"
			if err := os.WriteFile(filepath.Join(opts.trafficDir, name), []byte(lines), 0o644); err != nil {
				return err
			}
		}
		if len(problems) > 0 {
			failed++
			fmt.Fprintf(stdout, "FAIL %s (%d objects)\n", path, len(objects))
			for _, p := range problems {
				fmt.Fprintf(stdout, "  %s\n", p)
			}
			continue
		}
		fmt.Fprintf(stdout, "ok   %s (%d objects: %s)\n", path, len(objects), kindSummary(objects))
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d renders are not valid Kubernetes %s objects", failed, len(opts.files), schemas.version)
	}
	return nil
}
