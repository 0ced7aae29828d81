package verifier

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/authn"
)

// fakeDirectory answers VerifyCredential: "good" and any API key are valid
// for ttl, everything else is refused; calls are counted.
type fakeDirectory struct {
	directoryv1.UnimplementedDirectoryServiceServer
	calls atomic.Int64
	now   func() time.Time
	ttl   time.Duration
	down  atomic.Bool
}

func (f *fakeDirectory) VerifyCredential(_ context.Context, req *directoryv1.VerifyCredentialRequest) (*directoryv1.VerifyCredentialResponse, error) {
	f.calls.Add(1)
	if f.down.Load() {
		return nil, status.Error(codes.Internal, "boom")
	}
	name := "organizations/o1/users/u1"
	switch {
	case req.GetApiKey() != "":
		name = "organizations/o1/robotAccounts/ra1"
	case req.GetAccessToken() != "good":
		return nil, status.Error(codes.Unauthenticated, "invalid credentials")
	}
	return &directoryv1.VerifyCredentialResponse{
		Principal:  &directoryv1.Principal{Name: name, Organization: "organizations/o1", DisplayName: "U", SessionId: "s1"},
		CacheUntil: timestamppb.New(f.now().Add(f.ttl)),
	}, nil
}

func newVerifier(t *testing.T) (*Verifier, *fakeDirectory, *time.Time) {
	t.Helper()
	now := time.Unix(1_800_000_000, 0)
	f := &fakeDirectory{now: func() time.Time { return now }, ttl: 30 * time.Second}
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	directoryv1.RegisterDirectoryServiceServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	v := New(conn)
	v.now = func() time.Time { return now }
	return v, f, &now
}

// TestVerify (R10): valid credentials become principals and are cached
// until cache_until; refused ones are ErrUnauthenticated; an unreachable or
// failing directory is not mistaken for a bad credential.
func TestVerify(t *testing.T) {
	v, f, now := newVerifier(t)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		p, err := v.Verify(ctx, "good")
		if err != nil {
			t.Fatal(err)
		}
		if p.Name != "organizations/o1/users/u1" || p.Kind != authn.KindUser || p.Organization != "organizations/o1" {
			t.Fatalf("principal = %+v", p)
		}
	}
	if got := f.calls.Load(); got != 1 {
		t.Fatalf("directory called %d times for 3 verifications, want 1 (cached)", got)
	}
	*now = now.Add(31 * time.Second)
	f.now = func() time.Time { return *now }
	if _, err := v.Verify(ctx, "good"); err != nil {
		t.Fatal(err)
	}
	if got := f.calls.Load(); got != 2 {
		t.Fatalf("after cache_until the directory was called %d times, want 2", got)
	}

	p, err := v.Verify(ctx, "stwk_abc")
	if err != nil || p.Kind != authn.KindRobotAccount {
		t.Fatalf("API key: %+v, %v", p, err)
	}
	if _, err := v.Verify(ctx, "bad"); !errors.Is(err, authn.ErrUnauthenticated) {
		t.Fatalf("bad credential: %v, want ErrUnauthenticated", err)
	}
	f.down.Store(true)
	_, err = v.Verify(ctx, "other")
	if errors.Is(err, authn.ErrUnauthenticated) || status.Code(err) != codes.Unavailable {
		t.Fatalf("failing directory: %v, want Unavailable", err)
	}
}

// TestEviction: the cache never holds more than its bound.
func TestEviction(t *testing.T) {
	v, _, _ := newVerifier(t)
	v.max = 2
	for _, c := range []string{"stwk_a", "stwk_b", "stwk_c"} {
		if _, err := v.Verify(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	if v.lru.Len() != 2 || len(v.entries) != 2 {
		t.Fatalf("cache holds %d/%d entries, want 2", v.lru.Len(), len(v.entries))
	}
}
