package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestExpandPaths spells out resource-name parameters (issue 15): the
// generator's "/v1/{name}" and "/v1/{name_1}" are the same template and
// become distinct paths, "**" becomes a {…Path} parameter that may hold
// slashes, consecutive wildcards become <field>Collection and <field>Id, and
// a PATCH's "user.name" lands on the same path as a GET's "name".
func TestExpandPaths(t *testing.T) {
	doc := `{"swagger":"2.0","paths":{
	  "/v1/{name}": {
	    "get": {"operationId":"S_GetUser","parameters":[{"name":"name","in":"path","required":true,"type":"string","pattern":"organizations/[^/]+/users/[^/]+"}]},
	    "delete": {"operationId":"S_DeleteOrg","parameters":[{"name":"name","in":"path","required":true,"type":"string","pattern":"organizations/[^/]+"},{"name":"etag","in":"query","type":"string"}]}
	  },
	  "/v1/{name_1}": {
	    "get": {"operationId":"S_GetFolder","parameters":[{"name":"name_1","in":"path","required":true,"type":"string","pattern":"organizations/[^/]+/folders/.+"}]}
	  },
	  "/v1/{user.name}": {
	    "patch": {"operationId":"S_UpdateUser","parameters":[{"name":"user.name","in":"path","required":true,"type":"string","pattern":"organizations/[^/]+/users/[^/]+"},{"name":"user","in":"body","schema":{}}]}
	  },
	  "/v1/{principal}:check": {
	    "post": {"operationId":"S_Check","parameters":[{"name":"principal","in":"path","required":true,"type":"string","pattern":"organizations/[^/]+/[^/]+/[^/]+"}]}
	  },
	  "/v1/jwks": {"get": {"operationId":"S_GetJwks"}}
	}}`
	out, err := finish([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
			Parameters  []struct {
				Name, In, Pattern string
			} `json:"parameters"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{ // path -> method -> "operationId path-params"
		"/v1/organizations/{organization}/users/{user}":                              {"get": "S_GetUser organization user", "patch": "S_UpdateUser organization user"},
		"/v1/organizations/{organization}":                                           {"delete": "S_DeleteOrg organization"},
		"/v1/organizations/{organization}/folders/{folderPath}":                      {"get": "S_GetFolder organization folderPath=.+"},
		"/v1/organizations/{organization}/{principalCollection}/{principalId}:check": {"post": "S_Check organization principalCollection principalId"},
		"/v1/jwks": {"get": "S_GetJwks"},
	}
	if len(got.Paths) != len(want) {
		t.Errorf("paths: got %d, want %d:\n%s", len(got.Paths), len(want), out)
	}
	for path, ops := range want {
		for method, w := range ops {
			op, ok := got.Paths[path][method]
			if !ok {
				t.Errorf("%s %s missing:\n%s", method, path, out)
				continue
			}
			desc := []string{op.OperationID}
			for _, p := range op.Parameters {
				if p.In != "path" {
					continue
				}
				if p.Pattern != "" {
					p.Name += "=" + p.Pattern
				}
				desc = append(desc, p.Name)
			}
			if g := strings.Join(desc, " "); g != w {
				t.Errorf("%s %s: got %q, want %q", method, path, g, w)
			}
		}
	}
	again, err := finish(out)
	if err != nil || string(again) != string(out) {
		t.Errorf("finish is not idempotent (err %v)", err)
	}
}

// TestExpandPathsRefusesSameTemplate: two operations whose expanded paths
// differ only in parameter names would make an invalid document; generation
// fails instead.
func TestExpandPathsRefusesSameTemplate(t *testing.T) {
	doc := `{"paths":{
	  "/v1/{account}:x": {"get": {"operationId":"A","parameters":[{"name":"account","in":"path","pattern":"organizations/[^/]+/[^/]+/[^/]+"}]}},
	  "/v1/{principal}:x": {"get": {"operationId":"B","parameters":[{"name":"principal","in":"path","pattern":"organizations/[^/]+/[^/]+/[^/]+"}]}}
	}}`
	if _, err := finish([]byte(doc)); err == nil || !strings.Contains(err.Error(), "same template") {
		t.Fatalf("got %v, want a same-template error", err)
	}
}

// TestPrune drops the tags no operation carries and the definitions no
// operation reaches, directly or through another definition, and keeps the
// rest (issue 15: the merged document validated with warnings for them).
func TestPrune(t *testing.T) {
	doc := `{"swagger":"2.0",
	  "tags":[{"name":"Used"},{"name":"EventLogService"}],
	  "paths":{"/v1/things":{"get":{"tags":["Used"],"responses":{
	    "200":{"schema":{"$ref":"#/definitions/Thing"}},
	    "default":{"schema":{"$ref":"#/definitions/Status"}}}}}},
	  "definitions":{
	    "Thing":{"properties":{"part":{"$ref":"#/definitions/Part"}}},
	    "Part":{"type":"object"},
	    "Status":{"type":"object"},
	    "HttpBody":{"type":"object"},
	    "Orphan":{"properties":{"x":{"$ref":"#/definitions/OrphanPart"}}},
	    "OrphanPart":{"type":"object"}}}`
	out, err := finish([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Tags        []struct{ Name string }    `json:"tags"`
		Definitions map[string]json.RawMessage `json:"definitions"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Tags) != 1 || got.Tags[0].Name != "Used" {
		t.Errorf("tags = %+v, want only Used", got.Tags)
	}
	var names []string
	for n := range got.Definitions {
		names = append(names, n)
	}
	slices.Sort(names)
	if want := []string{"Part", "Status", "Thing"}; !slices.Equal(names, want) {
		t.Errorf("definitions = %v, want %v", names, want)
	}
}
