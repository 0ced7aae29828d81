package main

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// httpMethods are the operations a Swagger 2.0 path item can hold.
var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch"}

// expandPaths returns paths with every path parameter bound to a resource
// name spelled out segment by segment, so that no two paths are the same
// template (which OpenAPI forbids and validators refuse).
//
// protoc-gen-openapiv2 renders "/v1/{name=organizations/*/users/*}" as
// "/v1/{name}" with the pattern "organizations/[^/]+/users/[^/]+" on the
// parameter, and "/v1/{name=organizations/*}" as "/v1/{name_1}" to tell the
// two apart; one path item can then hold operations of unrelated RPCs. Its
// own expand_slashed_path_patterns option keeps "**" as a literal and names
// consecutive wildcards alike, so it cannot be used here. expandPaths moves
// each operation to "/v1/organizations/{organization}/users/{user}": the
// URL a client builds is the same, and the gateway reassembles name from it.
// A wildcard after a literal collection is named after the collection in the
// singular ("users/*" is {user}, "folders/**" is {folderPath}, whose
// pattern ".+" says it may hold slashes); one after another wildcard is
// <field>Collection or <field>Id, after the AIP-122 alternation
// ("organizations/*/*/*" in principal is
// {organization}/{principalCollection}/{principalId}). No two of the
// paths it returns are the same template.
func expandPaths(paths map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(paths))
	keys := make([]string, 0, len(paths))
	for k := range paths {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, path := range keys {
		item, ok := paths[path].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("path %s is not an object", path)
		}
		for method, v := range item {
			if !slices.Contains(httpMethods, method) {
				return nil, fmt.Errorf("path %s has %q, which openapidoc does not know how to move", path, method)
			}
			op, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s %s is not an object", method, path)
			}
			newPath, err := expandOperation(path, op)
			if err != nil {
				return nil, fmt.Errorf("%s %s (%v): %w", method, path, op["operationId"], err)
			}
			newItem, _ := out[newPath].(map[string]any)
			if newItem == nil {
				newItem = map[string]any{}
				out[newPath] = newItem
			}
			if prev, dup := newItem[method].(map[string]any); dup {
				return nil, fmt.Errorf("%s %s holds both %v and %v", method, newPath, prev["operationId"], op["operationId"])
			}
			newItem[method] = op
		}
	}
	shapes := make(map[string]string, len(out))
	for path := range out {
		shape := pathParameter.ReplaceAllString(path, "{}")
		if prev, dup := shapes[shape]; dup {
			return nil, fmt.Errorf("paths %s and %s are the same template", min(prev, path), max(prev, path))
		}
		shapes[shape] = path
	}
	return out, nil
}

// pathParameter is a parameter of a Swagger path: "{user}".
var pathParameter = regexp.MustCompile(`\{[^}]*\}`)

// literalSegment is a path segment expandOperation copies as it is.
var literalSegment = regexp.MustCompile(`^[A-Za-z0-9._~-]+$`)

// renamedParameter is the suffix protoc-gen-openapiv2 adds to a parameter
// whose name another path of the same shape already took: "name_1".
var renamedParameter = regexp.MustCompile(`_[0-9]+$`)

// expandOperation rewrites op's path parameters that carry a pattern into
// one parameter per wildcard and returns op's path with them.
func expandOperation(path string, op map[string]any) (string, error) {
	params, _ := op["parameters"].([]any)
	taken := map[string]bool{}
	for _, p := range params {
		// A body parameter's name is only a label ("user" for a PATCH's
		// user body); path and query parameters share the URL.
		if pm, ok := p.(map[string]any); ok && pm["in"] != "body" {
			if name, _ := pm["name"].(string); name != "" {
				taken[name] = true
			}
		}
	}
	var out []any
	for _, p := range params {
		pm, ok := p.(map[string]any)
		pattern, _ := pm["pattern"].(string)
		// A pattern without a literal, ".+" ("**"), has nothing to spell
		// out; this also leaves expandOperation's own output alone.
		if !ok || pm["in"] != "path" || pattern == "" || pattern == ".+" {
			out = append(out, p)
			continue
		}
		name, _ := pm["name"].(string)
		placeholder := "{" + name + "}"
		if strings.Count(path, placeholder) != 1 {
			return "", fmt.Errorf("parameter %s is not in the path once", name)
		}
		delete(taken, name)
		field := renamedParameter.ReplaceAllString(name, "")
		template, expanded, err := expandPattern(field, pattern, taken)
		if err != nil {
			return "", fmt.Errorf("parameter %s: %w", name, err)
		}
		for _, e := range expanded {
			np := map[string]any{
				"name":        e.name,
				"in":          "path",
				"required":    true,
				"type":        "string",
				"description": fmt.Sprintf("Part of %s: %s.", field, template),
			}
			if e.multi {
				np["pattern"] = ".+"
				np["description"] = fmt.Sprintf("Part of %s: %s. May contain slashes.", field, template)
			}
			out = append(out, np)
		}
		path = strings.Replace(path, placeholder, template, 1)
	}
	if out != nil {
		op["parameters"] = out
	}
	return path, nil
}

// wildcard is a path parameter expandPattern makes of a pattern's wildcard.
type wildcard struct {
	name  string
	multi bool // "**": may hold slashes
}

// expandPattern turns a parameter pattern, "organizations/[^/]+/users/[^/]+",
// into a path template, "organizations/{organization}/users/{user}", and
// its parameters, whose names must not be in taken (it adds them).
func expandPattern(field, pattern string, taken map[string]bool) (string, []wildcard, error) {
	// protoc-gen-openapiv2 wrote "*" as "[^/]+" and "**" as ".+".
	segments := strings.Split(strings.ReplaceAll(strings.ReplaceAll(pattern, "[^/]+", "*"), ".+", "**"), "/")
	// The last field of the path names the resource: a PATCH's
	// "robotUsageScope.name" is the same name as a GET's "name".
	base := field[strings.LastIndex(field, ".")+1:]
	var params []wildcard
	for i, seg := range segments {
		var w wildcard
		switch seg {
		case "*":
		case "**":
			w.multi = true
		default:
			if !literalSegment.MatchString(seg) {
				return "", nil, fmt.Errorf("pattern %q: segment %q is neither a literal nor a wildcard", pattern, seg)
			}
			continue
		}
		switch {
		case i > 0 && literalSegment.MatchString(segments[i-1]):
			w.name = singular(segments[i-1])
		case i%2 == 0:
			w.name = base + "Collection"
		default:
			w.name = base + "Id"
		}
		if w.multi {
			w.name += "Path"
		}
		if taken[w.name] {
			return "", nil, fmt.Errorf("pattern %q: parameter name %s is already taken", pattern, w.name)
		}
		taken[w.name] = true
		segments[i] = "{" + w.name + "}"
		params = append(params, w)
	}
	return strings.Join(segments, "/"), params, nil
}

// singular returns an AIP-122 collection ID in the singular: "users" is
// "user", "policies" "policy".
func singular(collection string) string {
	switch {
	case strings.HasSuffix(collection, "ies"):
		return strings.TrimSuffix(collection, "ies") + "y"
	case strings.HasSuffix(collection, "s"):
		return strings.TrimSuffix(collection, "s")
	}
	return collection
}
