package backend_test

import (
	"context"
	"flag"
	"io"
	"net"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	accessv1 "steward.dev/gen/steward/access/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/authn"
	"steward.dev/pkg/authz"
	"steward.dev/pkg/backend"
	"steward.dev/pkg/backend/backendtest"
	"steward.dev/pkg/store"
)

// recordingAccess is an AccessService allowing everything and recording the
// authorization metadata of each CheckPermission.
type recordingAccess struct {
	accessv1.UnimplementedAccessServiceServer
	mu   sync.Mutex
	auth []string
	reqs []*accessv1.CheckPermissionRequest
}

func (r *recordingAccess) CheckPermission(ctx context.Context, req *accessv1.CheckPermissionRequest) (*accessv1.CheckPermissionResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.auth = append(r.auth, md.Get(authn.MDAuthorization)...)
	r.reqs = append(r.reqs, req)
	return &accessv1.CheckPermissionResponse{Allowed: true, Reason: "allowed by the test"}, nil
}

// Without an Authorizer, a backend asks access management at AccessAddr,
// with its own service credential (issue 5 item 9); without either, it
// denies everything.
func TestAuthorizerAsksAccess(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fake := &recordingAccess{}
	s := grpc.NewServer()
	accessv1.RegisterAccessServiceServer(s, fake)
	go func() { _ = s.Serve(lis) }()
	defer s.Stop()

	cfg := backendtest.Config(t, backend.DefaultConfig("audit", "", "", false))
	cfg.AccessAddr = lis.Addr().String()
	b, err := cfg.Complete()
	if err != nil {
		t.Fatal(err)
	}
	backendtest.Run(t, b)
	user := authn.Principal{Kind: authn.KindUser, Name: "organizations/o1/users/u1", Organization: "organizations/o1"}
	d, err := b.Authorizer().Authorize(context.Background(), authz.Request{Principal: user, Permissions: []string{"audit.view"}, Scope: "organizations/o1"})
	if err != nil || !d.Allowed {
		t.Fatalf("Authorize = %+v, %v; want allowed by access", d, err)
	}
	fake.mu.Lock()
	auth, reqs := fake.auth, fake.reqs
	fake.mu.Unlock()
	if len(reqs) != 1 || reqs[0].GetPrincipal() != user.Name || reqs[0].GetPermission() != "audit.view" {
		t.Fatalf("access asked %v", reqs)
	}
	if len(auth) != 1 || auth[0] != b.ServiceCredential().AuthorizationFor("audit") {
		t.Fatalf("access saw authorization %q, want the audit service credential", auth)
	}

	cfg = backendtest.Config(t, backend.Config{Name: "audit"})
	b, err = cfg.Complete()
	if err != nil {
		t.Fatal(err)
	}
	backendtest.Run(t, b)
	d, err = b.Authorizer().Authorize(context.Background(), authz.Request{Principal: user, Permissions: []string{"audit.view"}, Scope: "organizations/o1"})
	if err != nil || d.Allowed || d.Reason != "access management not configured" {
		t.Fatalf("Authorize without access = %+v, %v; want authz.DenyAll", d, err)
	}
}

func TestAccessAddrFlag(t *testing.T) {
	cfg := backend.DefaultConfig("licensing", "127.0.0.1:7003", "", true)
	if cfg.AccessAddr != backend.DefaultAccessAddr {
		t.Fatalf("default AccessAddr = %q", cfg.AccessAddr)
	}
	fs := flag.NewFlagSet("steward-licensing", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.AddFlags(fs)
	if err := fs.Parse([]string{"-access-addr", "127.0.0.1:17002"}); err != nil {
		t.Fatal(err)
	}
	if cfg.AccessAddr != "127.0.0.1:17002" {
		t.Fatalf("AccessAddr = %q after -access-addr", cfg.AccessAddr)
	}
}

// A service whose log access follows (the directory) asks access to have
// applied that log up to its head before each check: read-your-writes.
func TestAccessFollowsLog(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fake := &recordingAccess{}
	s := grpc.NewServer()
	accessv1.RegisterAccessServiceServer(s, fake)
	go func() { _ = s.Serve(lis) }()
	defer s.Stop()

	cfg := backendtest.Config(t, backend.DefaultConfig("directory", "", "", true))
	cfg.AccessAddr = lis.Addr().String()
	cfg.AccessFollowsLog = true
	b, err := cfg.Complete()
	if err != nil {
		t.Fatal(err)
	}
	backendtest.Run(t, b)
	ctx := context.Background()
	for range 3 {
		if err := b.Store().Update(ctx, func(tx store.Tx) error {
			_, err := b.EventLog().Append(tx, &eventlogv1.Event{Type: "test.thing.created"})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	user := authn.Principal{Kind: authn.KindUser, Name: "organizations/o1/users/u1", Organization: "organizations/o1"}
	if _, err := b.Authorizer().Authorize(ctx, authz.Request{Principal: user, Permissions: []string{"users.view"}, Scope: "organizations/o1"}); err != nil {
		t.Fatal(err)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if len(fake.reqs) != 1 || fake.reqs[0].GetAtLeastDirectorySequence() != 3 {
		t.Fatalf("access asked %v, want at_least_directory_sequence 3 (the log's head)", fake.reqs)
	}
}
