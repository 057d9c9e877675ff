package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
)

// schemaSet is the OpenAPI document of one Kubernetes version, with each top-level kind's
// schema expanded (references inlined) on first use, since the validator follows no $ref.
type schemaSet struct {
	version  string
	defs     spec.Definitions
	byGVK    map[string]string // "apps/v1, Kind=Deployment" -> definition name
	expanded map[string]*spec.Schema
}

// loadSchemas reads swagger.json, the API server's published OpenAPI v2 document.
func loadSchemas(path string) (*schemaSet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc spec.Swagger
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("read OpenAPI document %s: %w", path, err)
	}
	s := &schemaSet{defs: doc.Definitions, byGVK: map[string]string{}, expanded: map[string]*spec.Schema{}}
	if doc.Info != nil {
		s.version = doc.Info.Version
	}
	for name, def := range doc.Definitions {
		gvks, _ := def.Extensions["x-kubernetes-group-version-kind"].([]any)
		for _, g := range gvks {
			m, _ := g.(map[string]any)
			group, _ := m["group"].(string)
			version, _ := m["version"].(string)
			kind, _ := m["kind"].(string)
			s.byGVK[gvkKey(group, version, kind)] = name
		}
	}
	return s, nil
}

func gvkKey(group, version, kind string) string {
	if group == "" {
		return version + ", Kind=" + kind
	}
	return group + "/" + version + ", Kind=" + kind
}

// check validates obj against the schema of its kind.
func (s *schemaSet) check(obj object) []string {
	group, version, found := strings.Cut(obj.apiVersion, "/")
	if !found {
		group, version = "", obj.apiVersion
	}
	name, ok := s.byGVK[gvkKey(group, version, obj.kind)]
	if !ok {
		return []string{fmt.Sprintf("Kubernetes %s has no kind %s in %s", s.version, obj.kind, obj.apiVersion)}
	}
	schema := s.kind(name)
	result := validate.NewSchemaValidator(schema, nil, "", strfmt.Default).Validate(obj.fields)
	var problems []string
	for _, e := range result.Errors {
		problems = append(problems, "schema "+name+": "+e.Error())
	}
	return problems
}

// kind returns the fully expanded schema of one definition.
func (s *schemaSet) kind(name string) *spec.Schema {
	if sch, ok := s.expanded[name]; ok {
		return sch
	}
	sch := s.expand(spec.Schema{SchemaProps: spec.SchemaProps{Ref: spec.MustCreateRef("#/definitions/" + name)}}, map[string]bool{})
	s.expanded[name] = &sch
	return &sch
}

// expand inlines every $ref below sch and closes objects to the properties the schema names.
// A reference back to a definition being expanded (only JSONSchemaProps, in CRDs, refers to
// itself) is left open: anything goes below it.
func (s *schemaSet) expand(sch spec.Schema, inProgress map[string]bool) spec.Schema {
	if ref := sch.Ref.String(); ref != "" {
		name := strings.TrimPrefix(ref, "#/definitions/")
		if inProgress[name] {
			return spec.Schema{}
		}
		if fixed, ok := encodedAsString[name]; ok {
			return fixed
		}
		inProgress[name] = true
		defer delete(inProgress, name)
		return s.expand(s.defs[name], inProgress)
	}

	out := sch
	if len(sch.Properties) > 0 {
		out.Properties = make(map[string]spec.Schema, len(sch.Properties))
		for k, v := range sch.Properties {
			out.Properties[k] = s.expand(v, inProgress)
		}
		// The API server drops or rejects a field its types do not have; say so in the schema
		// too, unless the schema keeps unknown fields on purpose.
		if sch.AdditionalProperties == nil && sch.Extensions["x-kubernetes-preserve-unknown-fields"] != true {
			out.AdditionalProperties = &spec.SchemaOrBool{Allows: false}
		}
	}
	if sch.AdditionalProperties != nil && sch.AdditionalProperties.Schema != nil {
		e := s.expand(*sch.AdditionalProperties.Schema, inProgress)
		out.AdditionalProperties = &spec.SchemaOrBool{Allows: true, Schema: &e}
	}
	if sch.Items != nil && sch.Items.Schema != nil {
		e := s.expand(*sch.Items.Schema, inProgress)
		out.Items = &spec.SchemaOrArray{Schema: &e}
	}
	if len(sch.AllOf) > 0 {
		out.AllOf = make([]spec.Schema, len(sch.AllOf))
		for i, v := range sch.AllOf {
			out.AllOf[i] = s.expand(v, inProgress)
		}
	}
	return out
}

// encodedAsString lists the two types the OpenAPI document calls strings although their JSON
// decoders also take numbers, as the API server does: an IntOrString (a port by number or by
// name) and a Quantity (`cpu: 1` as well as `cpu: "1"`).
var encodedAsString = map[string]spec.Schema{
	"io.k8s.apimachinery.pkg.util.intstr.IntOrString": {SchemaProps: spec.SchemaProps{AnyOf: []spec.Schema{
		*spec.Int32Property(), *spec.StringProperty(),
	}}},
	"io.k8s.apimachinery.pkg.api.resource.Quantity": {SchemaProps: spec.SchemaProps{AnyOf: []spec.Schema{
		*spec.Float64Property(), *spec.StringProperty(),
	}}},
}
