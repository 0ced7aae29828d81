package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"steward.dev/gen/openapiv2"
	"steward.dev/services/gateway/server"
)

// openAPIDoc is what the tests read of gen/openapiv2's document.
type openAPIDoc struct {
	Paths               map[string]map[string]openAPIOperation `json:"paths"`
	Definitions         map[string]json.RawMessage             `json:"definitions"`
	SecurityDefinitions map[string]struct {
		Type, In, Name string
	} `json:"securityDefinitions"`
	Security []map[string][]string `json:"security"`
}

// openAPIOperation is one operation of openAPIDoc.
type openAPIOperation struct {
	OperationID string `json:"operationId"`
	Parameters  []struct {
		Name, In, Pattern string
	} `json:"parameters"`
	Responses map[string]struct {
		Schema struct {
			Ref string `json:"$ref"`
		} `json:"schema"`
	} `json:"responses"`
	// Security is nil when the operation takes the document's (Bearer),
	// empty when it needs no credentials.
	Security *[]map[string][]string `json:"security"`
}

func readOpenAPIDoc(t *testing.T) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(openapiv2.JSON, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// templateVariable is a variable of an http rule's path template, "{name}"
// or "{name=organizations/*}", or a parameter of an OpenAPI path, "{user}".
var templateVariable = regexp.MustCompile(`\{([^=}]+)(=([^}]*))?\}`)

// ruleShape is an http rule's path template with its variables replaced by
// their segment templates: "/v1/{name=organizations/*/users/*}:activate" is
// "/v1/organizations/*/users/*:activate".
func ruleShape(template string) string {
	return templateVariable.ReplaceAllStringFunc(template, func(v string) string {
		if m := templateVariable.FindStringSubmatch(v); m[2] != "" {
			return m[3]
		}
		return "*"
	})
}

// openAPIShape is an OpenAPI path in ruleShape's form: each parameter is
// replaced by its pattern, "*" for a segment without slashes (no pattern or
// "[^/]+") and "**" for one that may hold slashes (".+").
func openAPIShape(t *testing.T, path string, op openAPIOperation) string {
	return templateVariable.ReplaceAllStringFunc(path, func(v string) string {
		name := templateVariable.FindStringSubmatch(v)[1]
		i := slices.IndexFunc(op.Parameters, func(p struct{ Name, In, Pattern string }) bool {
			return p.In == "path" && p.Name == name
		})
		if i < 0 {
			t.Errorf("%s (%s): path parameter %s is not declared", path, op.OperationID, name)
			return "*"
		}
		p := op.Parameters[i].Pattern
		p = strings.ReplaceAll(p, "[^/]+", "*")
		p = strings.ReplaceAll(p, ".+", "**")
		if p == "" {
			p = "*"
		}
		return p
	})
}

// TestOpenAPIDocumentCoversEveryBinding (issue 15): walking the descriptors
// of every steward service linked into the gateway, each HTTP binding of
// each RPC (additional bindings included) is an operation of the document
// under its path and method, named after its RPC, with the error response
// (default: google.rpc.Status) besides its 200, and with no security when
// and only when the RPC's rule is public; and the document has no operation
// without a binding.
func TestOpenAPIDocumentCoversEveryBinding(t *testing.T) {
	doc := readOpenAPIDoc(t)
	if s := doc.SecurityDefinitions["Bearer"]; s.Type != "apiKey" || s.In != "header" || s.Name != "Authorization" {
		t.Errorf("securityDefinitions.Bearer = %+v, want the Authorization header", s)
	}
	if len(doc.Security) != 1 || doc.Security[0]["Bearer"] == nil {
		t.Errorf("security = %v, want Bearer", doc.Security)
	}
	var status struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(doc.Definitions["Status"], &status); err != nil {
		t.Fatalf("definitions.Status: %v", err)
	}
	for _, f := range []string{"code", "message", "details"} {
		if status.Properties[f] == nil {
			t.Errorf("definitions.Status (google.rpc.Status) has no %s", f)
		}
	}

	type key struct{ verb, shape string }
	ops := map[key]openAPIOperation{}
	paths := map[key]string{}
	for path, item := range doc.Paths {
		for method, op := range item {
			k := key{strings.ToUpper(method), openAPIShape(t, path, op)}
			if prev, dup := paths[k]; dup {
				t.Errorf("%s %s and %s are the same binding", k.verb, prev, path)
			}
			ops[k], paths[k] = op, path
		}
	}

	// Every steward service linked into the gateway, the four registered
	// ones among them.
	var services []protoreflect.FullName
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		if strings.HasPrefix(string(fd.Package()), "steward.") {
			for i := range fd.Services().Len() {
				services = append(services, fd.Services().Get(i).FullName())
			}
		}
		return true
	})
	for _, b := range server.DefaultBackends() {
		for _, svc := range b.Services {
			if !slices.Contains(services, svc.Name) {
				t.Errorf("%s (%s) is not linked", svc.Name, b.Name)
			}
			if len(bindings(t, svc.Name)) == 0 {
				t.Errorf("%s (%s) has no HTTP binding", svc.Name, b.Name)
			}
		}
	}

	covered := map[key]bool{}
	for _, svc := range services {
		for _, b := range bindings(t, svc) {
			k := key{b.verb, ruleShape(b.path)}
			op, ok := ops[k]
			if !ok {
				t.Errorf("%s %s (%s) is not in the document", b.verb, b.path, b.rpc)
				continue
			}
			covered[k] = true
			where := b.verb + " " + paths[k]
			rpc := strings.Split(strings.TrimPrefix(b.rpc, "/"), "/") // package.Service, Method
			short := rpc[0][strings.LastIndex(rpc[0], ".")+1:]
			if !regexp.MustCompile(`^` + short + `_` + rpc[1] + `[0-9]*$`).MatchString(op.OperationID) {
				t.Errorf("%s is %s, want %s", where, op.OperationID, b.rpc)
			}
			if _, ok := op.Responses["200"]; !ok {
				t.Errorf("%s (%s) has no 200 response", where, b.rpc)
			}
			errorResponses := 0
			for code, resp := range op.Responses {
				if !strings.HasPrefix(code, "2") && resp.Schema.Ref == "#/definitions/Status" {
					errorResponses++
				}
			}
			if errorResponses == 0 || op.Responses["default"].Schema.Ref != "#/definitions/Status" {
				t.Errorf("%s (%s) has no google.rpc.Status error response: %v", where, b.rpc, op.Responses)
			}
			switch public := op.Security != nil && len(*op.Security) == 0; {
			case b.public && !public:
				t.Errorf("%s (%s) is public but the document asks for credentials (openapiv2.yaml)", where, b.rpc)
			case !b.public && op.Security != nil:
				t.Errorf("%s (%s) needs credentials but has security %v (openapiv2.yaml)", where, b.rpc, *op.Security)
			}
		}
	}
	for k, op := range ops {
		if !covered[k] {
			t.Errorf("%s %s (%s) is in the document but no RPC binds it", k.verb, paths[k], op.OperationID)
		}
	}
	t.Logf("%d operations on %d paths, one per binding", len(ops), len(doc.Paths))
}

// TestOpenAPIDocumentValidates (issue 15): the document validates with
// kin-openapi: read as Swagger 2.0, converted to OpenAPI 3 and validated
// there (references resolved, path parameters declared and unique,
// operation IDs unique, schemas well formed, no two paths the same
// template). go-openapi's validator, which reads 2.0 natively, took 45 s
// under -race on this document, and lets paths differing only in parameter
// names pass.
func TestOpenAPIDocumentValidates(t *testing.T) {
	var v2 openapi2.T
	if err := json.Unmarshal(openapiv2.JSON, &v2); err != nil {
		t.Fatal(err)
	}
	if v2.Swagger != "2.0" {
		t.Errorf("swagger %q, want 2.0", v2.Swagger)
	}
	v3, err := openapi2conv.ToV3(&v2)
	if err != nil {
		t.Fatal(err)
	}
	if err := v3.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := v3.Paths.Len(); n != len(v2.Paths) || n == 0 {
		t.Errorf("%d paths after conversion, %d before", n, len(v2.Paths))
	}
	// The same check, spelled out: OpenAPI forbids paths that differ only
	// in parameter names (deploy/openapidoc refuses to write them).
	shapes := map[string]string{}
	for path := range v2.Paths {
		shape := templateVariable.ReplaceAllString(path, "{}")
		if prev, dup := shapes[shape]; dup {
			t.Errorf("paths %s and %s are the same template", prev, path)
		}
		shapes[shape] = path
	}
}

// TestOpenAPIServed (issue 15): the gateway serves the embedded document at
// GET /openapi.json without credentials, as JSON, with an ETag that makes a
// revalidation 304 and a Cache-Control.
func TestOpenAPIServed(t *testing.T) {
	s, _ := newGateway(t, server.Config{})
	resp, body := do(t, s.Handler(), httptest.NewRequest(http.MethodGet, "/openapi.json", nil))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if body != string(openapiv2.JSON) {
		t.Errorf("body is not gen/openapiv2's document (%d bytes, want %d)", len(body), len(openapiv2.JSON))
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") {
		t.Errorf("Cache-Control %q, want a max-age", cc)
	}
	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}

	req := httptest.NewRequest(http.MethodGet, "/openapi.json", nil)
	req.Header.Set("If-None-Match", etag)
	if resp, body := do(t, s.Handler(), req); resp.StatusCode != http.StatusNotModified || body != "" {
		t.Errorf("revalidation: HTTP %d with %d bytes, want 304 and none", resp.StatusCode, len(body))
	}
	if resp, body := do(t, s.Handler(), httptest.NewRequest(http.MethodHead, "/openapi.json", nil)); resp.StatusCode != http.StatusOK || body != "" {
		t.Errorf("HEAD: HTTP %d with %d bytes, want 200 and none", resp.StatusCode, len(body))
	}
}
