package server

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	_ "google.golang.org/protobuf/types/known/emptypb"

	authzv1 "steward.dev/gen/steward/authz/v1"
)

// sampleVariable is a path-template variable, with its segment template.
var sampleVariable = regexp.MustCompile(`\{[^=}]+(=([^}]*))?\}`)

// samplePath fills a canonical template's variables with sample segments.
func samplePath(template string) string {
	return sampleVariable.ReplaceAllStringFunc(template, func(v string) string {
		segs := strings.Split(sampleVariable.FindStringSubmatch(v)[2], "/")
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

// TestRouteKeysMatchPatterns: the key of every binding of the registered
// services is what grpc-gateway's mux reports for the pattern it compiles
// from the same template, so that routeMiddleware finds each route.
func TestRouteKeysMatchPatterns(t *testing.T) {
	table := routeTable{}
	for _, b := range DefaultBackends() {
		for _, svc := range b.Services {
			sd, err := serviceDescriptor(svc.Name)
			if err != nil {
				t.Fatal(err)
			}
			if err := table.add(sd); err != nil {
				t.Fatal(err)
			}
		}
	}
	for key, rt := range table {
		mux := runtime.NewServeMux()
		var matched routeKey
		if err := mux.HandlePath(key.verb, key.path, func(_ http.ResponseWriter, r *http.Request, _ map[string]string) {
			pat, _ := runtime.HTTPPattern(r.Context())
			matched = routeKey{verb: r.Method, path: pat.String()}
		}); err != nil {
			t.Errorf("%s: %v", rt.rpc, err)
			continue
		}
		mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(key.verb, samplePath(key.path), nil))
		if matched != key {
			t.Errorf("%s: the mux matched %v, the table has %v", rt.rpc, matched, key)
		}
	}
	t.Logf("%d routes", len(table))
}

// TestRouteTable: bare variables are canonicalised; the exports are
// downloads; an internal RPC with an HTTP binding is refused.
func TestRouteTable(t *testing.T) {
	for in, want := range map[string]string{
		"/v1/jwks":                          "/v1/jwks",
		"/v1/{name}":                        "/v1/{name=*}",
		"/v1/{name=organizations/*}:signIn": "/v1/{name=organizations/*}:signIn",
		"/v1/{a.b}/x/{c=**}":                "/v1/{a.b=*}/x/{c=**}",
	} {
		if got := canonicalTemplate(in); got != want {
			t.Errorf("canonicalTemplate(%q) = %q, want %q", in, got, want)
		}
	}

	table := routeTable{}
	sd, err := serviceDescriptor("steward.access.v1.AccessService")
	if err != nil {
		t.Fatal(err)
	}
	if err := table.add(sd); err != nil {
		t.Fatal(err)
	}
	export := table[routeKey{http.MethodGet, "/v1/{parent=organizations/*}/roleAssignments:export"}]
	if !export.stream || !export.download || export.public {
		t.Errorf("export route = %+v, want a non-public download", export)
	}

	// Audit's export is a download too (R29); its public key is public.
	sd, err = serviceDescriptor("steward.audit.v1.AuditService")
	if err != nil {
		t.Fatal(err)
	}
	if err := table.add(sd); err != nil {
		t.Fatal(err)
	}
	auditExport := table[routeKey{http.MethodGet, "/v1/{parent=organizations/*}/auditEvents:export"}]
	if !auditExport.stream || !auditExport.download || auditExport.public {
		t.Errorf("audit export route = %+v, want a non-public download", auditExport)
	}
	if key := table[routeKey{http.MethodGet, "/v1/audit/publicKey"}]; !key.public || key.download {
		t.Errorf("audit public key route = %+v, want public", key)
	}

	// An internal RPC bound to HTTP makes the gateway refuse to start.
	if err := (routeTable{}).add(internalService(t, true)); err == nil || !strings.Contains(err.Error(), "internal") {
		t.Errorf("an internal RPC with an HTTP binding: %v, want refused", err)
	}
	if err := (routeTable{}).add(internalService(t, false)); err != nil {
		t.Errorf("an internal RPC without an HTTP binding: %v", err)
	}
}

// internalService builds a service with one internal RPC, bound to HTTP if
// bound.
func internalService(t *testing.T, bound bool) protoreflect.ServiceDescriptor {
	t.Helper()
	opts := &descriptorpb.MethodOptions{}
	proto.SetExtension(opts, authzv1.E_Rule, &authzv1.Rule{Internal: true})
	if bound {
		proto.SetExtension(opts, annotations.E_Http, &annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: "/v1/internal"}})
	}
	fd, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
		Name:       proto.String("steward/gatewaytest/v1/internal.proto"),
		Package:    proto.String("steward.gatewaytest.v1"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"google/api/annotations.proto", "steward/authz/v1/authz.proto", "google/protobuf/empty.proto"},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: proto.String("InternalService"),
			Method: []*descriptorpb.MethodDescriptorProto{{
				Name:       proto.String("Secret"),
				InputType:  proto.String(".google.protobuf.Empty"),
				OutputType: proto.String(".google.protobuf.Empty"),
				Options:    opts,
			}},
		}},
	}, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	return fd.Services().Get(0)
}
