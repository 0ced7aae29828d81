package server

import (
	"fmt"
	"net/http"
	"regexp"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	authzv1 "steward.dev/gen/steward/authz/v1"
)

// httpBodyName is the message a download RPC streams.
const httpBodyName = "google.api.HttpBody"

// route is what the gateway knows of the RPC behind one HTTP binding, from
// the RPC's descriptor.
type route struct {
	// rpc is the full gRPC method, "/steward.directory.v1.DirectoryService/SignUp".
	rpc string
	// public is the RPC's steward.authz.v1.rule public flag: it needs no
	// credentials, so the gateway reads its body without an Authorization
	// header.
	public bool
	// stream says the RPC streams its response: the write timeout then
	// bounds each write rather than the whole response.
	stream bool
	// download says the RPC streams google.api.HttpBody chunks, which
	// concatenate into one file without a delimiter between them.
	download bool
}

// routeKey identifies a binding as grpc-gateway's mux matched it: the HTTP
// method and the path template in the form runtime.Pattern.String gives.
type routeKey struct {
	verb, path string
}

// routeTable maps every HTTP binding of the registered services to its route.
type routeTable map[routeKey]route

// match returns the route of the binding the mux matched for r (the mux puts
// its pattern in r's context before calling the middlewares).
func (t routeTable) match(r *http.Request) (route, bool) {
	pat, ok := runtime.HTTPPattern(r.Context())
	if !ok {
		return route{}, false
	}
	rt, ok := t[routeKey{verb: r.Method, path: pat.String()}]
	return rt, ok
}

// serviceDescriptor looks name up in the global registry, where the
// generated code of every linked service registers itself.
func serviceDescriptor(name protoreflect.FullName) (protoreflect.ServiceDescriptor, error) {
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(name)
	if err != nil {
		return nil, fmt.Errorf("service %s is not linked into the gateway: %w", name, err)
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, fmt.Errorf("%s is not a service", name)
	}
	return sd, nil
}

// add adds the HTTP bindings of sd's methods to t. It refuses an internal
// RPC with an HTTP binding: internal RPCs are for Steward's own services and
// must never be reachable from outside.
func (t routeTable) add(sd protoreflect.ServiceDescriptor) error {
	methods := sd.Methods()
	for i := range methods.Len() {
		md := methods.Get(i)
		binding, _ := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule)
		if binding == nil {
			continue
		}
		rule, _ := proto.GetExtension(md.Options(), authzv1.E_Rule).(*authzv1.Rule)
		if rule.GetInternal() {
			return fmt.Errorf("%s is internal (steward.authz.v1.rule) but has an HTTP binding", md.FullName())
		}
		rt := route{
			rpc:    "/" + string(sd.FullName()) + "/" + string(md.Name()),
			public: rule.GetPublic(),
			stream: md.IsStreamingServer(),
		}
		rt.download = rt.stream && md.Output().FullName() == httpBodyName
		for _, k := range bindingKeys(binding) {
			if prev, dup := t[k]; dup {
				return fmt.Errorf("%s %s is bound to both %s and %s", k.verb, k.path, prev.rpc, rt.rpc)
			}
			t[k] = rt
		}
	}
	return nil
}

// bindingKeys returns the keys of an HTTP rule and its additional bindings.
func bindingKeys(rule *annotations.HttpRule) []routeKey {
	var keys []routeKey
	var verb, path string
	switch p := rule.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		verb, path = http.MethodGet, p.Get
	case *annotations.HttpRule_Put:
		verb, path = http.MethodPut, p.Put
	case *annotations.HttpRule_Post:
		verb, path = http.MethodPost, p.Post
	case *annotations.HttpRule_Delete:
		verb, path = http.MethodDelete, p.Delete
	case *annotations.HttpRule_Patch:
		verb, path = http.MethodPatch, p.Patch
	case *annotations.HttpRule_Custom:
		verb, path = p.Custom.GetKind(), p.Custom.GetPath()
	}
	if path != "" {
		keys = append(keys, routeKey{verb: verb, path: canonicalTemplate(path)})
	}
	for _, extra := range rule.GetAdditionalBindings() {
		keys = append(keys, bindingKeys(extra)...)
	}
	return keys
}

// bareVariable is a path-template variable without a segment template,
// "{name}", which grpc-gateway compiles as "{name=*}".
var bareVariable = regexp.MustCompile(`\{([^=}]+)\}`)

// canonicalTemplate returns an http rule's path template as
// runtime.Pattern.String prints the pattern compiled from it.
func canonicalTemplate(path string) string {
	return bareVariable.ReplaceAllString(path, "{${1}=*}")
}
