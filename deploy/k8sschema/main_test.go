package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// toySpec is a tiny OpenAPI 2.0 document in the shape of Kubernetes': a kind
// with metadata, a nested $ref, a map, an IntOrString and a Quantity.
const toySpec = `{
  "swagger": "2.0",
  "definitions": {
    "io.k8s.api.apps.v1.Widget": {
      "description": "A widget.",
      "type": "object",
      "required": ["spec"],
      "properties": {
        "apiVersion": {"type": "string", "description": "APIVersion"},
        "kind": {"type": "string"},
        "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "description": "dropped"},
        "spec": {"$ref": "#/definitions/io.k8s.api.apps.v1.WidgetSpec"}
      },
      "x-kubernetes-group-version-kind": [{"group": "apps", "kind": "Widget", "version": "v1"}]
    },
    "io.k8s.api.apps.v1.WidgetSpec": {
      "type": "object",
      "properties": {
        "port": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString"},
        "memory": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"},
        "sizes": {"type": "array", "items": {"type": "integer", "format": "int32"}},
        "description": {"type": "string", "description": "a property called description stays"}
      }
    },
    "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": {
      "type": "object",
      "properties": {
        "name": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}}
      }
    },
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": "string", "format": "int-or-string"},
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
    "io.k8s.api.core.v1.Loop": {
      "type": "object",
      "properties": {"next": {"$ref": "#/definitions/io.k8s.api.core.v1.Loop"}},
      "x-kubernetes-group-version-kind": [{"group": "", "kind": "Loop", "version": "v1"}]
    }
  }
}`

func TestGenerate(t *testing.T) {
	out, err := Generate([]byte(toySpec), []string{"apps/v1/Widget"})
	if err != nil {
		t.Fatal(err)
	}
	data, ok := out["widget-apps-v1.json"]
	if !ok {
		t.Fatalf("files %v, want widget-apps-v1.json", sortedKeys(out))
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"$schema":              "http://json-schema.org/schema#",
		"type":                 "object",
		"required":             []any{"spec"},
		"additionalProperties": false,
		"properties": map[string]any{
			"apiVersion": map[string]any{"type": "string", "enum": []any{"apps/v1"}},
			"kind":       map[string]any{"type": "string", "enum": []any{"Widget"}},
			"metadata": map[string]any{
				"type":                 "object",
				"additionalProperties": false,
				"properties": map[string]any{
					"name":   map[string]any{"type": "string"},
					"labels": map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}},
				},
			},
			"spec": map[string]any{
				"type":                 "object",
				"additionalProperties": false,
				"properties": map[string]any{
					"port":        map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}},
					"memory":      map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}},
					"sizes":       map[string]any{"type": "array", "items": map[string]any{"type": "integer", "format": "int32"}},
					"description": map[string]any{"type": "string"},
				},
			},
		},
		"x-kubernetes-group-version-kind": []any{map[string]any{"group": "apps", "kind": "Widget", "version": "v1"}},
	}
	if !reflect.DeepEqual(got, want) {
		gotJSON, _ := json.MarshalIndent(got, "", "  ")
		t.Errorf("schema:\n%s", gotJSON)
	}
}

func TestGenerateErrors(t *testing.T) {
	for kind, want := range map[string]string{
		"v1/Loop":         "refers to itself",
		"apps/v1/Gadget":  "no definition of apps/v1/Gadget",
		"Widget":          "want GROUP/VERSION/KIND",
		"apps//Widget":    "want GROUP/VERSION/KIND",
		"apps/v1/Widget/": "want GROUP/VERSION/KIND",
	} {
		if _, err := Generate([]byte(toySpec), []string{kind}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Generate(%q) = %v, want an error containing %q", kind, err, want)
		}
	}
}

func TestFileName(t *testing.T) {
	for s, want := range map[string]string{
		"v1/ConfigMap":                           "configmap-v1.json",
		"apps/v1/Deployment":                     "deployment-apps-v1.json",
		"networking.k8s.io/v1/NetworkPolicy":     "networkpolicy-networking-v1.json",
		"autoscaling/v2/HorizontalPodAutoscaler": "horizontalpodautoscaler-autoscaling-v2.json",
	} {
		g, err := ParseGVK(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := g.FileName(); got != want {
			t.Errorf("%s: FileName() = %q, want %q", s, got, want)
		}
	}
}
