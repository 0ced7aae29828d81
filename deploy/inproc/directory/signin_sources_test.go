package directory_test

// Issue 9 item 2: the sign-in limits per account and source, through the
// server's real wiring, with calls from distinct source addresses. The
// directory listens on loopback TCP and each client dials from its own
// address of 127/8 (all of which is the loopback interface), so that the
// address the limits see is the transport peer's, as in production.

import (
	"context"
	"fmt"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/grpcserver"
	"steward.dev/services/directory/domain"
	"steward.dev/services/directory/server"
)

// newLoopbackEnv starts a directory on 127.0.0.1 (TCP) with limits.
func newLoopbackEnv(t *testing.T, limits *domain.Limits) *env {
	t.Helper()
	return newEnvConfig(t, func(c *server.Config) {
		c.Network, c.Addr = grpcserver.NetworkTCP, "127.0.0.1:0"
		c.Domain = domain.Options{Limits: limits}
	})
}

// from returns a directory client whose calls come from source, an address
// of 127/8.
func (e *env) from(source string) directoryv1.DirectoryServiceClient {
	e.t.Helper()
	conn, err := e.b.Server().NewClient(grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}}
		return d.DialContext(ctx, "tcp", addr)
	}))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = conn.Close() })
	return directoryv1.NewDirectoryServiceClient(conn)
}

// ownerSignIn signs in as su's owner with password through c.
func ownerSignIn(c directoryv1.DirectoryServiceClient, su *directoryv1.SignUpResponse, password string) (*directoryv1.SignInResponse, error) {
	return c.SignIn(context.Background(), &directoryv1.SignInRequest{
		Organization: su.GetOrganization().GetName(),
		Credential: &directoryv1.SignInRequest_Password{Password: &directoryv1.PasswordCredential{
			Email: su.GetOwner().GetEmail(), Password: password,
		}},
	})
}

// Ten and more wrong passwords from source A do not keep the owner out from
// source B; A stays limited, even with the right password. (On the code
// before issue 9 the account itself was limited: B got TOO_MANY_ATTEMPTS.)
func TestSignInLimitedPerSource(t *testing.T) {
	e := newLoopbackEnv(t, nil)
	su := e.signUp()
	attacker, owner := e.from("127.0.0.2"), e.from("127.0.0.3")
	for i := range 12 {
		_, err := ownerSignIn(attacker, su, "wrong password")
		if i < 10 {
			wantError(t, err, codes.Unauthenticated, "INVALID_CREDENTIALS")
		} else {
			wantError(t, err, codes.ResourceExhausted, "TOO_MANY_ATTEMPTS")
		}
	}
	in, err := ownerSignIn(owner, su, "correct horse battery")
	if err != nil || in.GetPrincipal() != su.GetOwner().GetName() {
		t.Fatalf("the owner from another source after 12 failures from the first: %v, %v", in, err)
	}
	_, err = ownerSignIn(attacker, su, "correct horse battery")
	wantError(t, err, codes.ResourceExhausted, "TOO_MANY_ATTEMPTS")
}

// A many-source attack stops at the account's ceiling, for every source but
// those the owner signed in from.
func TestSignInCeilingManySources(t *testing.T) {
	limits := domain.DefaultLimits()
	limits.FailedSignInAccountSourceBurst = 2
	limits.FailedSignInAccountBurst = 5
	e := newLoopbackEnv(t, &limits)
	su := e.signUp()
	home := e.from("127.0.0.3")
	if _, err := ownerSignIn(home, su, "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	counts := map[codes.Code]int{}
	for i := range 4 {
		c := e.from(fmt.Sprintf("127.0.1.%d", i+1))
		for range 3 {
			_, err := ownerSignIn(c, su, "wrong password")
			counts[status.Code(err)]++
		}
	}
	if counts[codes.Unauthenticated] != 5 || counts[codes.ResourceExhausted] != 7 {
		t.Fatalf("outcomes of 12 failures from 4 sources: %v; want the ceiling's 5 checked, 7 refused", counts)
	}
	_, err := ownerSignIn(e.from("127.0.2.1"), su, "correct horse battery")
	wantError(t, err, codes.ResourceExhausted, "TOO_MANY_ATTEMPTS")
	if _, err := ownerSignIn(home, su, "correct horse battery"); err != nil {
		t.Fatalf("the owner from the source they signed in from: %v", err)
	}
}
