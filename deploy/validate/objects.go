package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/yaml"
	sigsyaml "sigs.k8s.io/yaml"
)

// options are the command line, parsed.
type options struct {
	schemaPath string
	version    string
	trafficDir string
	files      []string
}

func parseArgs(args []string) (options, error) {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.schemaPath, "schema", "", "the Kubernetes OpenAPI v2 document (api/openapi-spec/swagger.json)")
	fs.StringVar(&o.version, "kubernetes", "", "the Kubernetes version the schema is from, for messages")
	fs.StringVar(&o.trafficDir, "traffic", "", "write NAME.traffic.txt here for each NAME.yaml: the connections its NetworkPolicies allow")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.files = fs.Args()
	if o.schemaPath == "" || len(o.files) == 0 {
		return o, errors.New("usage: validate -schema swagger.json [-kubernetes version] [-traffic dir] render.yaml...")
	}
	return o, nil
}

// object is one document of a render: its raw JSON and what identifies it.
type object struct {
	file       string
	index      int
	raw        []byte         // the document as JSON, exactly as rendered
	fields     map[string]any // raw, decoded generically
	apiVersion string
	kind       string
	name       string
}

// String names the object the way kubectl does, with where it came from.
func (o object) String() string {
	return fmt.Sprintf("%s %s/%s (%s, document %d)", o.apiVersion, o.kind, o.name, o.file, o.index)
}

// readObjects splits a multi-document YAML file into objects, skipping documents that hold
// only comments (Helm leaves one for every template that renders nothing).
func readObjects(path string) ([]object, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	reader := yaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objects []object
	for i := 1; ; i++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objects, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, i, err)
		}
		// Strict: a key written twice in one mapping is an error, not "the last one wins".
		raw, err := sigsyaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, i, err)
		}
		if string(bytes.TrimSpace(raw)) == "null" {
			continue
		}
		var fields map[string]any
		if err := json.Unmarshal(raw, &fields); err != nil {
			return nil, fmt.Errorf("%s: document %d is not an object: %w", path, i, err)
		}
		obj := object{file: path, index: i, raw: raw, fields: fields}
		obj.apiVersion, _ = fields["apiVersion"].(string)
		obj.kind, _ = fields["kind"].(string)
		if meta, ok := fields["metadata"].(map[string]any); ok {
			obj.name, _ = meta["name"].(string)
		}
		objects = append(objects, obj)
	}
}

// kindSummary counts objects by kind: "2 Deployment, 1 Service".
func kindSummary(objects []object) string {
	counts := map[string]int{}
	for _, o := range objects {
		counts[o.kind]++
	}
	kinds := make([]string, 0, len(counts))
	for k := range counts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%d %s", counts[k], k)
	}
	return strings.Join(parts, ", ")
}
