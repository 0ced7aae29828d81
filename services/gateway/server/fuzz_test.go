package server_test

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/emptypb"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/services/gateway/server"
)

// route is one HTTP binding with a request body.
type route struct{ method, path string }

// bodyRoutes returns every HTTP binding of the directory's and access's
// services that takes a JSON body, with its path variables filled in.
func bodyRoutes() []route {
	vars := regexp.MustCompile(`\{([a-z_.]+)(=[^}]*)?\}`)
	fill := func(tmpl string) string {
		return vars.ReplaceAllStringFunc(tmpl, func(v string) string {
			pattern := strings.TrimPrefix(vars.FindStringSubmatch(v)[2], "=")
			if pattern == "" {
				return "x"
			}
			return strings.NewReplacer("**", "f1", "*", "x1").Replace(pattern)
		})
	}
	var out []route
	for _, sd := range []protoreflect.ServiceDescriptor{
		directoryv1.File_steward_directory_v1_directory_service_proto.Services().Get(0),
		accessv1.File_steward_access_v1_access_service_proto.Services().Get(0),
	} {
		for i := range sd.Methods().Len() {
			rule, _ := proto.GetExtension(sd.Methods().Get(i).Options(), annotations.E_Http).(*annotations.HttpRule)
			for _, r := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
				if r.GetBody() == "" {
					continue
				}
				switch {
				case r.GetPost() != "":
					out = append(out, route{http.MethodPost, fill(r.GetPost())})
				case r.GetPatch() != "":
					out = append(out, route{http.MethodPatch, fill(r.GetPatch())})
				case r.GetPut() != "":
					out = append(out, route{http.MethodPut, fill(r.GetPut())})
				}
			}
		}
	}
	return out
}

// echoBackend answers every call of every method with an empty message
// (a valid encoding of every response type), whatever the request holds:
// the fuzzed part is the gateway's side.
func echoBackend(f *testing.F) string {
	f.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	srv := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		if err := stream.RecvMsg(&emptypb.Empty{}); err != nil {
			return err
		}
		return stream.SendMsg(&emptypb.Empty{})
	}))
	go func() { _ = srv.Serve(lis) }()
	f.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// FuzzGatewayJSONBody sends arbitrary bytes as the JSON body of every
// route of the gateway that takes one, to an in-process backend: the
// gateway must never panic nor answer 5xx (a body it cannot read is the
// caller's error, 4xx).
func FuzzGatewayJSONBody(f *testing.F) {
	routes := bodyRoutes()
	if len(routes) == 0 {
		f.Fatal("no routes with a body")
	}
	dir := f.TempDir()
	cfg := server.Config{Addr: "127.0.0.1:0", Backends: server.DefaultBackends(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		ServiceCredentialFile: filepath.Join(dir, "gateway"), TrustedServicesFile: filepath.Join(dir, "services.sha256")}
	addr := echoBackend(f)
	for i := range cfg.Backends {
		cfg.Backends[i].Addr = addr
	}
	gw, err := cfg.Complete()
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = gw.Close() })
	h := gw.Handler()

	for i, seed := range []string{
		`{}`, `{"displayName":"x"}`, `{"member":"organizations/o/users/u"}`, `{"permission":"users.view","scope":"organizations/o"}`,
		`{"password":{"email":"a@b.example","password":"pw"}}`, `{"user":{"nickname":"n","email":"e@x.example"},"initialPassword":"p"}`,
		`{"items":[{"principal":"organizations/o/users/u","permission":"p","scope":"organizations/o"}],"atLeastSequence":"18446744073709551615"}`,
		`{"roles":["roles/user"],"principal":"organizations/o/groups/g","scope":"organizations/o","unknownField":1}`,
		`{"robotUsageScope":{"mode":"MODE_NOT_A_MODE"}}`, `{"displayName":"\u0000\u202e"}`, `[`, `null`, `"`, `{"a":` + strings.Repeat("[", 1000),
		"\xff\xfe", `{"pageSize":1e309}`, `{"etag":{"nested":true}}`,
	} {
		f.Add(uint16(i), []byte(seed))
	}
	f.Fuzz(func(t *testing.T, which uint16, body []byte) {
		r := routes[int(which)%len(routes)]
		req := httptest.NewRequest(r.method, r.path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer fuzz")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s with body %q: HTTP %d %s", r.method, r.path, body, rec.Code, rec.Body)
		}
	})
}
