package server_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	authzv1 "steward.dev/gen/steward/authz/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/services/gateway/server"
)

// binding is an HTTP binding of an RPC, read from its descriptor.
type binding struct {
	rpc, verb, path string
	sample          string // a request path the template matches
	public          bool
}

// variable is a path-template variable, with its segment template if any.
var variable = regexp.MustCompile(`\{[^=}]+(=([^}]*))?\}`)

// samplePath fills a path template's variables with sample segments.
func samplePath(template string) string {
	return variable.ReplaceAllStringFunc(template, func(v string) string {
		m := variable.FindStringSubmatch(v)
		if m[1] == "" {
			return "x1"
		}
		segs := strings.Split(m[2], "/")
		for i, s := range segs {
			switch s {
			case "*":
				segs[i] = "x1"
			case "**":
				segs[i] = "x1/x2"
			}
		}
		return strings.Join(segs, "/")
	})
}

// bindings returns the HTTP bindings of the service name, failing the test
// on an internal RPC that has one.
func bindings(t *testing.T, name protoreflect.FullName) []binding {
	t.Helper()
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(name)
	if err != nil {
		t.Fatal(err)
	}
	sd := d.(protoreflect.ServiceDescriptor)
	var out []binding
	for i := range sd.Methods().Len() {
		md := sd.Methods().Get(i)
		rule, _ := proto.GetExtension(md.Options(), authzv1.E_Rule).(*authzv1.Rule)
		http, _ := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule)
		if http == nil {
			continue
		}
		if rule.GetInternal() {
			t.Errorf("%s is internal but has an HTTP binding", md.FullName())
		}
		for _, r := range append([]*annotations.HttpRule{http}, http.GetAdditionalBindings()...) {
			verb, path := verbPath(r)
			out = append(out, binding{
				rpc: "/" + string(sd.FullName()) + "/" + string(md.Name()), verb: verb, path: path,
				sample: samplePath(path), public: rule.GetPublic(),
			})
		}
	}
	return out
}

func verbPath(r *annotations.HttpRule) (string, string) {
	switch p := r.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		return http.MethodGet, p.Get
	case *annotations.HttpRule_Put:
		return http.MethodPut, p.Put
	case *annotations.HttpRule_Post:
		return http.MethodPost, p.Post
	case *annotations.HttpRule_Delete:
		return http.MethodDelete, p.Delete
	case *annotations.HttpRule_Patch:
		return http.MethodPatch, p.Patch
	case *annotations.HttpRule_Custom:
		return p.Custom.GetKind(), p.Custom.GetPath()
	}
	return "", ""
}

// TestNoInternalRoutes (issue 9 item 1): walking the descriptors of every
// service the gateway registers, no internal RPC has an HTTP binding, and
// the event-log service (internal to the suite) is not registered at all.
func TestNoInternalRoutes(t *testing.T) {
	eventLog := protoreflect.FullName(eventlogv1.EventLogService_ServiceDesc.ServiceName)
	routes := 0
	for _, b := range server.DefaultBackends() {
		for _, svc := range b.Services {
			if svc.Name == eventLog {
				t.Errorf("backend %s registers %s", b.Name, eventLog)
			}
			routes += len(bindings(t, svc.Name))
		}
	}
	t.Logf("%d HTTP routes checked", routes)
	if routes == 0 {
		t.Error("no routes registered")
	}
}
