package backend_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/authn"
	"steward.dev/pkg/backend"
	"steward.dev/pkg/backend/backendtest"
	"steward.dev/pkg/grpcserver"
)

// Every grant of SuitePolicy names services of the suite and methods that
// exist, and the gateway is granted nothing: a renamed RPC must not
// silently lose (or keep) its callers.
func TestSuitePolicy(t *testing.T) {
	for _, g := range backend.SuitePolicy.Grants() {
		if !slices.Contains(backend.ServiceNames, g.Caller) || !slices.Contains(backend.ServiceNames, g.Callee) {
			t.Errorf("grant %+v names a service outside the suite", g)
		}
		if g.Caller == backend.Gateway {
			t.Errorf("the gateway is granted %v", g.Methods)
		}
		for _, m := range g.Methods {
			name := protoreflect.FullName(strings.ReplaceAll(strings.TrimPrefix(m, "/"), "/", "."))
			d, err := protoregistry.GlobalFiles.FindDescriptorByName(name)
			if _, ok := d.(protoreflect.MethodDescriptor); err != nil || !ok {
				t.Errorf("grant %s -> %s: %s is not a method", g.Caller, g.Callee, m)
			}
		}
	}
}

// authorization returns ctx sending value as the authorization metadata.
func authorization(value string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), authn.MDAuthorization, value)
}

// Each service's credential authenticates that service only, and a service
// calls only what SuitePolicy grants it (issue 9 item 10).
func TestServiceIdentity(t *testing.T) {
	b, err := backendtest.Config(t, backend.DefaultConfig(backend.Directory, "", "", true)).Complete()
	if err != nil {
		t.Fatal(err)
	}
	logs := eventlogv1.NewEventLogServiceClient(backendtest.Run(t, b))
	cred := func(name string) authn.ServiceCredential { return backendtest.ServiceCredential(b, name) }
	tests := []struct {
		name  string
		value string
		code  codes.Code
	}{
		{"access, which follows the directory", cred(backend.Access).AuthorizationFor(backend.Access), codes.OK},
		{"audit, which records every event", cred(backend.Audit).AuthorizationFor(backend.Audit), codes.OK},
		{"access's secret named directory", cred(backend.Access).AuthorizationFor(backend.Directory), codes.Unauthenticated},
		{"access's secret named audit", cred(backend.Access).AuthorizationFor(backend.Audit), codes.Unauthenticated},
		{"access's secret as an unknown service", cred(backend.Access).AuthorizationFor("cli"), codes.Unauthenticated},
		{"the gateway, granted nothing", cred(backend.Gateway).AuthorizationFor(backend.Gateway), codes.PermissionDenied},
		{"the directory calling itself, granted nothing", cred(backend.Directory).AuthorizationFor(backend.Directory), codes.PermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := logs.ListEvents(authorization(tt.value), &eventlogv1.ListEventsRequest{})
			if status.Code(err) != tt.code {
				t.Fatalf("ListEvents: %v, want %v", err, tt.code)
			}
		})
	}
}

// Backends started one by one without the launcher make their own
// credentials, add themselves to the trusted services and verify each
// other, the first one without a restart.
func TestBackendsStartedAlone(t *testing.T) {
	dir := t.TempDir()
	trusted := filepath.Join(dir, "credentials", backend.TrustedServicesFileName)
	config := func(name string, eventLog bool) backend.Config {
		c := backend.DefaultConfig(name, "", "", eventLog)
		c.Network = grpcserver.NetworkBufconn
		c.DirectoryAddr, c.AccessAddr = "", ""
		c.DataDir = filepath.Join(dir, name)
		c.ServiceCredentialFile = filepath.Join(dir, "credentials", name)
		c.TrustedServicesFile = trusted
		return c
	}
	dirB, err := config(backend.Directory, true).Complete()
	if err != nil {
		t.Fatal(err)
	}
	logs := eventlogv1.NewEventLogServiceClient(backendtest.Run(t, dirB))
	audit, err := config(backend.Audit, false).Complete()
	if err != nil {
		t.Fatal(err)
	}
	backendtest.Run(t, audit)

	asAudit := authorization(audit.ServiceCredential().AuthorizationFor(backend.Audit))
	if _, err := logs.ListEvents(asAudit, &eventlogv1.ListEventsRequest{}); err != nil {
		t.Fatalf("audit, started after the directory: %v", err)
	}
	asDirectory := authorization(audit.ServiceCredential().AuthorizationFor(backend.Directory))
	if _, err := logs.ListEvents(asDirectory, &eventlogv1.ListEventsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("audit's secret named directory: %v, want Unauthenticated", err)
	}
	ts, err := authn.LoadTrustedServices(trusted)
	if err != nil {
		t.Fatal(err)
	}
	if !ts.Trusts(backend.Directory, dirB.ServiceCredential()) || !ts.Trusts(backend.Audit, audit.ServiceCredential()) {
		t.Errorf("trusted services %q do not verify both backends", ts.Names())
	}
}
