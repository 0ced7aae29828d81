package grpcclient_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"steward.dev/pkg/authn"
	"steward.dev/pkg/grpcclient"
)

func TestDialOptionsRefusesPlaintextToRemote(t *testing.T) {
	tests := []struct {
		target string
		ok     bool
	}{
		{"127.0.0.1:7001", true},
		{"localhost:7001", true},
		{"dns:///localhost:7001", true},
		{"[::1]:7001", true},
		{"unix:///run/steward.sock", true},
		{"10.0.0.1:7001", false},
		{"directory.example:7001", false},
		{"dns:///directory:7001", false},
		// Lists of replicas: every address must be a loopback one.
		{"127.0.0.1:7002,127.0.0.1:7012", true},
		{"127.0.0.1:7002, localhost:7012,[::1]:7022", true},
		{"127.0.0.1:7002,10.0.0.1:7012", false},
		{"access.example:7002,127.0.0.1:7012", false},
		{"127.0.0.1:7002,no-port", false},
	}
	for _, tt := range tests {
		_, err := grpcclient.DialOptions(tt.target, grpcclient.Options{})
		if (err == nil) != tt.ok {
			t.Errorf("DialOptions(%q) error = %v, want ok %v", tt.target, err, tt.ok)
		}
	}
	if _, err := grpcclient.DialOptions("10.0.0.1:7001", grpcclient.Options{TLS: grpcclient.TLSConfig{ServerName: "directory"}}); err != nil {
		t.Errorf("DialOptions with TLS: %v", err)
	}
	if _, err := grpcclient.Dial("127.0.0.1:7002,10.0.0.2:7012", grpcclient.Options{}); err == nil {
		t.Error("Dial of a list with a remote address succeeded in plaintext")
	}
	if _, err := grpcclient.DialOptions("10.0.0.1:7002,10.0.0.2:7012", grpcclient.Options{TLS: grpcclient.TLSConfig{ServerName: "access"}}); err != nil {
		t.Errorf("DialOptions of a list with TLS: %v", err)
	}
}

func TestInterceptors(t *testing.T) {
	cred, err := authn.NewServiceCredential(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := grpcclient.Interceptors(grpcclient.Options{Credential: cred}); err == nil {
		t.Error("Interceptors without a service name succeeded")
	}
	unary, stream, err := grpcclient.Interceptors(grpcclient.Options{Service: "access", Credential: cred})
	if err != nil {
		t.Fatal(err)
	}
	user := authn.Principal{Kind: authn.KindUser, Name: "organizations/o1/users/u1", Organization: "organizations/o1", SessionID: "s1"}
	svc := authn.Principal{Kind: authn.KindService, Name: "services/directory", OnBehalfOf: &user}

	tests := []struct {
		name      string
		ctx       context.Context
		actor     string
		actorOrg  string
		session   string
		requestID string
	}{
		{name: "own account", ctx: context.Background()},
		{name: "for a user", ctx: authn.NewContext(authn.WithRequestID(context.Background(), "r1"), user),
			actor: user.Name, actorOrg: "organizations/o1", session: "s1", requestID: "r1"},
		{name: "relaying a service's end user", ctx: authn.NewContext(context.Background(), svc), actor: user.Name, actorOrg: "organizations/o1", session: "s1"},
		{name: "request ID from incoming metadata", ctx: metadata.NewIncomingContext(context.Background(), metadata.Pairs("x-request-id", "r2")), requestID: "r2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check := func(ctx context.Context) {
				t.Helper()
				md, _ := metadata.FromOutgoingContext(ctx)
				if got := md.Get("authorization"); len(got) != 1 || got[0] != cred.AuthorizationFor("access") {
					t.Errorf("authorization = %v", got)
				}
				for key, want := range map[string]string{"x-steward-actor": tt.actor, "x-steward-actor-org": tt.actorOrg, "x-steward-actor-session": tt.session, "x-request-id": tt.requestID} {
					if got := strings.Join(md.Get(key), ","); got != want {
						t.Errorf("%s = %q, want %q", key, got, want)
					}
				}
			}
			err := unary(tt.ctx, "/m", nil, nil, nil, func(ctx context.Context, _ string, _, _ any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
				check(ctx)
				if d, ok := ctx.Deadline(); !ok || time.Until(d) > grpcclient.DefaultTimeout {
					t.Errorf("deadline = %v, %v; want one within %v", d, ok, grpcclient.DefaultTimeout)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			_, err = stream(tt.ctx, &grpc.StreamDesc{}, nil, "/m", func(ctx context.Context, _ *grpc.StreamDesc, _ *grpc.ClientConn, _ string, _ ...grpc.CallOption) (grpc.ClientStream, error) {
				check(ctx)
				if _, ok := ctx.Deadline(); ok {
					t.Error("stream got a default deadline")
				}
				return nil, nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestInterceptorsKeepCallerDeadline(t *testing.T) {
	unary, _, err := grpcclient.Interceptors(grpcclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	want, _ := ctx.Deadline()
	err = unary(ctx, "/m", nil, nil, nil, func(ctx context.Context, _ string, _, _ any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
		if d, _ := ctx.Deadline(); !d.Equal(want) {
			t.Errorf("deadline = %v, want %v", d, want)
		}
		if md, _ := metadata.FromOutgoingContext(ctx); len(md.Get("authorization")) != 0 {
			t.Error("authorization sent without a credential")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
