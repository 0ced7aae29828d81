package grpcserver

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	authzv1 "steward.dev/gen/steward/authz/v1"
	"steward.dev/pkg/authn"
	"steward.dev/pkg/authz"
)

// authenticatedOnly is a RuleSource giving every method the rule
// "authenticated".
type authenticatedOnly struct{}

func (authenticatedOnly) RuleFor(string) (*authzv1.Rule, bool) {
	return &authzv1.Rule{Authenticated: true}, true
}

// TestFailureLimit drives authenticate with a fake clock: the bucket of a
// client address empties with failures only, refuses before verifying
// (the Authenticator is not asked) with a retry delay rounded up to whole
// seconds, and refills at the configured rate.
func TestFailureLimit(t *testing.T) {
	asked := 0
	a := authn.AuthenticatorFunc(func(_ context.Context, md metadata.MD, _ *peer.Peer) (authn.Principal, error) {
		asked++
		if v := md.Get(authn.MDAuthorization); len(v) == 1 && v[0] == "Bearer good" {
			return authn.Principal{Kind: authn.KindUser, Name: "organizations/o1/users/u1", Organization: "organizations/o1"}, nil
		}
		return authn.Principal{}, fmt.Errorf("%w: bad", authn.ErrUnauthenticated)
	})
	s, err := Config{
		Name: "directory", Network: NetworkBufconn, Authenticator: a, Authorizer: authz.DenyAll,
		FailedAuthentication: FailureLimit{Burst: 2, PerSecond: 0.5},
	}.Complete()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.grpc.Stop)
	now := time.Unix(1_800_000_000, 0)
	s.now = func() time.Time { return now }

	steps := []struct {
		after     time.Duration
		from      string
		token     string
		code      codes.Code
		wantAsked bool
		retry     string
	}{
		{token: "good", from: "192.0.2.1", code: codes.OK, wantAsked: true},
		{token: "bad", from: "192.0.2.1", code: codes.Unauthenticated, wantAsked: true},
		{token: "good", from: "192.0.2.1", code: codes.OK, wantAsked: true}, // successes are free
		{token: "bad", from: "192.0.2.1", code: codes.Unauthenticated, wantAsked: true},
		{token: "good", from: "192.0.2.1", code: codes.ResourceExhausted, retry: "2s"},
		{token: "bad", from: "192.0.2.2", code: codes.Unauthenticated, wantAsked: true}, // another address
		{after: 1500 * time.Millisecond, token: "good", from: "192.0.2.1", code: codes.ResourceExhausted, retry: "1s"},
		{after: 500 * time.Millisecond, token: "bad", from: "192.0.2.1", code: codes.Unauthenticated, wantAsked: true},
		{token: "bad", from: "192.0.2.1", code: codes.ResourceExhausted, retry: "2s"},
		{after: 2 * time.Second, token: "good", from: "192.0.2.1", code: codes.OK, wantAsked: true},
	}
	for i, st := range steps {
		now = now.Add(st.after)
		asked = 0
		ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs(authn.MDAuthorization, "Bearer "+st.token))
		ctx = peer.NewContext(ctx, &peer.Peer{Addr: &net.TCPAddr{IP: net.ParseIP(st.from), Port: 1234}})
		got, err := s.authenticate(ctx, authenticatedOnly{}, "/steward.test.v1.T/M")
		if code := status.Code(err); code != st.code {
			t.Fatalf("step %d: code = %v (%v), want %v", i, code, err, st.code)
		}
		if (asked > 0) != st.wantAsked {
			t.Errorf("step %d: authenticator asked %d times, want asked %v", i, asked, st.wantAsked)
		}
		if err == nil && authn.ClientAddress(got) != st.from {
			t.Errorf("step %d: client address %q, want %q", i, authn.ClientAddress(got), st.from)
		}
		if st.retry != "" {
			if got := retryAfter(err); got != st.retry {
				t.Errorf("step %d: retry_after %q, want %s", i, got, st.retry)
			}
		}
	}
}

// retryAfter returns the retry_after of err's ErrorInfo.
func retryAfter(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetMetadata()["retry_after"]
		}
	}
	return ""
}
