// Command k8sschema writes standalone, strict JSON schemas of Kubernetes
// kinds for kubeconform, from the OpenAPI 2.0 document a Kubernetes release
// publishes (api/openapi-spec/swagger.json of the module k8s.io/kubernetes,
// which the Go module proxy serves). `make kubernetes-schemas` runs it; the
// schemas it writes are committed under deploy/kubernetes/schemas/, and
// `make test-deploy` validates the manifests against them with no network.
//
// Usage:
//
//	k8sschema -spec swagger.json -out DIR GROUP/VERSION/KIND ...
//
// e.g. `k8sschema -spec swagger.json -out schemas/v1.31.14-standalone-strict
// v1/Namespace apps/v1/Deployment networking.k8s.io/v1/NetworkPolicy` (the
// core group is written without its empty group name: v1/Namespace).
//
// Each kind's file is named as kubeconform's schema-location template names
// it ({{ .ResourceKind }}{{ .KindSuffix }}.json: namespace-v1.json,
// deployment-apps-v1.json, networkpolicy-networking-v1.json) and is what
// openapi2jsonschema --expanded --kubernetes --stand-alone --strict (the
// converter behind the published kubernetes-json-schema sets) makes of the
// same document, except that descriptions are left out and null is not
// accepted for optional fields:
//
//   - stand-alone: every $ref is replaced by the definition it names;
//   - kubernetes: IntOrString accepts a string or an integer and Quantity a
//     string or a number, as kubectl does; apiVersion and kind accept only
//     the kind's own values;
//   - strict: every object schema with properties gets
//     "additionalProperties": false (unless it says otherwise), so an unknown
//     or misspelt field is an error.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	spec := flag.String("spec", "", "the Kubernetes OpenAPI 2.0 document (api/openapi-spec/swagger.json)")
	out := flag.String("out", "", "directory the schemas are written to (created; its *.json files are replaced)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: k8sschema -spec swagger.json -out DIR GROUP/VERSION/KIND ... (core kinds: v1/KIND)")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *spec == "" || *out == "" || flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*spec, *out, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "k8sschema:", err)
		os.Exit(1)
	}
}

func run(specPath, outDir string, kinds []string) error {
	data, err := os.ReadFile(specPath)
	if err != nil {
		return err
	}
	schemas, err := Generate(data, kinds)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	// Replace the directory's schemas: a kind dropped from the list goes.
	old, err := filepath.Glob(filepath.Join(outDir, "*.json"))
	if err != nil {
		return err
	}
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	for _, name := range sortedKeys(schemas) {
		if err := os.WriteFile(filepath.Join(outDir, name), schemas[name], 0o644); err != nil {
			return err
		}
	}
	return nil
}

// GVK is a group, version and kind; Group is "" for the core group.
type GVK struct{ Group, Version, Kind string }

// ParseGVK parses GROUP/VERSION/KIND, or VERSION/KIND for the core group.
func ParseGVK(s string) (GVK, error) {
	parts := strings.Split(s, "/")
	switch {
	case len(parts) == 2 && parts[0] != "" && parts[1] != "":
		return GVK{Version: parts[0], Kind: parts[1]}, nil
	case len(parts) == 3 && parts[0] != "" && parts[1] != "" && parts[2] != "":
		return GVK{Group: parts[0], Version: parts[1], Kind: parts[2]}, nil
	}
	return GVK{}, fmt.Errorf("kind %q: want GROUP/VERSION/KIND, or VERSION/KIND for the core group", s)
}

// APIVersion is the kind's apiVersion field: "v1", "apps/v1".
func (g GVK) APIVersion() string {
	if g.Group == "" {
		return g.Version
	}
	return g.Group + "/" + g.Version
}

// FileName is the name kubeconform looks the kind's schema up by
// ({{ .ResourceKind }}{{ .KindSuffix }}.json): the kind in lower case, the
// first label of the group, the version.
func (g GVK) FileName() string {
	name := strings.ToLower(g.Kind)
	if g.Group != "" {
		name += "-" + strings.ToLower(strings.Split(g.Group, ".")[0])
	}
	return name + "-" + strings.ToLower(g.Version) + ".json"
}

// The definitions openapi2jsonschema --kubernetes replaces (see the package
// comment).
const (
	intOrStringDef = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
	quantityDef    = "io.k8s.apimachinery.pkg.api.resource.Quantity"
	refPrefix      = "#/definitions/"
)

// Generate returns the schema of each kind, by file name, from the OpenAPI
// 2.0 document spec.
func Generate(spec []byte, kinds []string) (map[string][]byte, error) {
	var doc struct {
		Swagger     string                    `json:"swagger"`
		Definitions map[string]map[string]any `json:"definitions"`
	}
	dec := json.NewDecoder(bytes.NewReader(spec))
	dec.UseNumber() // keep numbers (minimum, maximum) as written
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("reading the OpenAPI document: %w", err)
	}
	if doc.Swagger != "2.0" || len(doc.Definitions) == 0 {
		return nil, errors.New("not an OpenAPI 2.0 document with definitions")
	}
	defs := doc.Definitions
	defs[intOrStringDef] = map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
	defs[quantityDef] = map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}}

	out := make(map[string][]byte)
	for _, k := range kinds {
		gvk, err := ParseGVK(k)
		if err != nil {
			return nil, err
		}
		name, err := findKind(defs, gvk)
		if err != nil {
			return nil, err
		}
		e := expander{defs: defs, inProgress: make(map[string]bool)}
		s, err := e.schema(map[string]any{"$ref": refPrefix + name}, name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		root := s.(map[string]any)
		props, _ := root["properties"].(map[string]any)
		for field, value := range map[string]string{"apiVersion": gvk.APIVersion(), "kind": gvk.Kind} {
			p, ok := props[field].(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: the definition %s has no %s property", k, name, field)
			}
			p["enum"] = []any{value}
		}
		root["$schema"] = "http://json-schema.org/schema#"
		data, err := json.MarshalIndent(root, "", "  ")
		if err != nil {
			return nil, err
		}
		if _, dup := out[gvk.FileName()]; dup {
			return nil, fmt.Errorf("%s: listed twice", k)
		}
		out[gvk.FileName()] = append(data, '\n')
	}
	return out, nil
}

// findKind returns the name of the one definition whose
// x-kubernetes-group-version-kind is gvk.
func findKind(defs map[string]map[string]any, gvk GVK) (string, error) {
	var found []string
	for name, def := range defs {
		list, _ := def["x-kubernetes-group-version-kind"].([]any)
		for _, item := range list {
			m, _ := item.(map[string]any)
			if m["group"] == gvk.Group && m["version"] == gvk.Version && m["kind"] == gvk.Kind {
				found = append(found, name)
			}
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("no definition of %s in the document", gvk.APIVersion()+"/"+gvk.Kind)
	case 1:
		return found[0], nil
	}
	sort.Strings(found)
	return "", fmt.Errorf("several definitions of %s: %v", gvk.APIVersion()+"/"+gvk.Kind, found)
}

// expander inlines the definitions a schema refers to.
type expander struct {
	defs       map[string]map[string]any
	inProgress map[string]bool // definitions being expanded: a cycle is an error
}

// schema returns a copy of the schema s (at path, for errors) with every
// $ref inlined, descriptions dropped, and additionalProperties false added
// to every object schema that has properties and does not say.
func (e *expander) schema(s any, path string) (any, error) {
	m, ok := s.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: a schema is not an object", path)
	}
	if ref, ok := m["$ref"].(string); ok {
		name, found := strings.CutPrefix(ref, refPrefix)
		def, exists := e.defs[name]
		if !found || !exists {
			return nil, fmt.Errorf("%s: unknown $ref %q", path, ref)
		}
		if e.inProgress[name] {
			return nil, fmt.Errorf("%s: %s refers to itself: a standalone schema cannot hold it", path, name)
		}
		e.inProgress[name] = true
		defer delete(e.inProgress, name)
		// A $ref's siblings (a description) are ignored, as in OpenAPI 2.0.
		return e.schema(def, path)
	}
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		switch k {
		case "description":
			// Left out: they make up most of the bytes and no check reads them.
		case "properties":
			props, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: properties is not an object", path)
			}
			outProps := make(map[string]any, len(props))
			for name, p := range props {
				ps, err := e.schema(p, path+"."+name)
				if err != nil {
					return nil, err
				}
				outProps[name] = ps
			}
			out[k] = outProps
		case "items":
			is, err := e.schema(v, path+"[]")
			if err != nil {
				return nil, err
			}
			out[k] = is
		case "additionalProperties":
			if _, isBool := v.(bool); isBool {
				out[k] = v
				continue
			}
			as, err := e.schema(v, path+".*")
			if err != nil {
				return nil, err
			}
			out[k] = as
		case "allOf", "anyOf", "oneOf":
			list, ok := v.([]any)
			if !ok {
				return nil, fmt.Errorf("%s: %s is not a list", path, k)
			}
			outList := make([]any, len(list))
			for i, item := range list {
				is, err := e.schema(item, fmt.Sprintf("%s.%s[%d]", path, k, i))
				if err != nil {
					return nil, err
				}
				outList[i] = is
			}
			out[k] = outList
		default:
			out[k] = v // type, format, required, enum, x-kubernetes-*, ...
		}
	}
	if _, hasProps := out["properties"]; hasProps {
		if _, says := out["additionalProperties"]; !says {
			out["additionalProperties"] = false
		}
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
