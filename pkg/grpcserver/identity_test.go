package grpcserver_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/authn"
	"steward.dev/pkg/grpcserver"
)

// clientAddress returns the address the fake event log's handler saw.
func (f *fakeEventLog) clientAddress() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addr
}

// TestClientAddressFromGateway is contract C1 over the real interceptor
// chain: x-steward-client-address is honoured only with the gateway's
// proxy credential, for public methods (GetJwks) as for the others.
func TestClientAddressFromGateway(t *testing.T) {
	h := start(t, nil)
	conn := h.conn(t)
	dir := directoryv1.NewDirectoryServiceClient(conn)
	logs := eventlogv1.NewEventLogServiceClient(conn)
	peerAddr := "bufconn" // what bufconn reports as the transport peer

	tests := []struct {
		name  string
		proxy string // x-steward-proxy-authorization
		want  string
	}{
		{name: "spoofed header without proxy credential", want: peerAddr},
		{name: "with another service's credential", proxy: h.cred.AuthorizationFor("access"), want: peerAddr},
		{name: "with another service's secret named gateway", proxy: h.cred.AuthorizationFor("gateway"), want: peerAddr},
		{name: "with the gateway's credential", proxy: h.gatewayCred.AuthorizationFor("gateway"), want: "198.51.100.4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := metadata.AppendToOutgoingContext(context.Background(), authn.MDClientAddress, "198.51.100.4")
			if tt.proxy != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, authn.MDProxyAuthorization, tt.proxy)
			}
			if _, err := dir.GetJwks(ctx, &directoryv1.GetJwksRequest{}); err != nil {
				t.Fatalf("GetJwks: %v", err)
			}
			if got := h.dir.lastAddress(); got != tt.want {
				t.Errorf("public method saw client address %q, want %q", got, tt.want)
			}
			asAccess := metadata.AppendToOutgoingContext(ctx, authn.MDAuthorization, h.cred.AuthorizationFor("access"))
			if _, err := logs.ListEvents(asAccess, &eventlogv1.ListEventsRequest{}); err != nil {
				t.Fatalf("ListEvents: %v", err)
			}
			if got := h.log.clientAddress(); got != tt.want {
				t.Errorf("authenticated method saw client address %q, want %q", got, tt.want)
			}
		})
	}
}

// assertThrottled fails unless err is ResourceExhausted with the
// TOO_MANY_FAILED_AUTHENTICATIONS reason and a RetryInfo.
func assertThrottled(t *testing.T, err error) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("code = %v (%v), want ResourceExhausted", st.Code(), err)
	}
	var reason string
	var retry time.Duration
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			reason = d.GetReason()
		case *errdetails.RetryInfo:
			retry = d.GetRetryDelay().AsDuration()
		}
	}
	if reason != grpcserver.ReasonTooManyFailedAuthentications || retry <= 0 {
		t.Errorf("reason %q, retry %v; want %s and a retry delay", reason, retry, grpcserver.ReasonTooManyFailedAuthentications)
	}
}

// TestFailedAuthenticationThrottle is issue 9 item 1's last sentence over
// the real interceptor chain: wrong service credentials and bad tokens are
// throttled per client address, before any credential is verified; other
// client addresses are not affected.
func TestFailedAuthenticationThrottle(t *testing.T) {
	h := start(t, func(c *grpcserver.Config) {
		// Three failures, then (practically) no refill within the test.
		c.FailedAuthentication = grpcserver.FailureLimit{Burst: 3, PerSecond: 1e-6}
	})
	logs := eventlogv1.NewEventLogServiceClient(h.conn(t))
	from := func(addr, authorization string) context.Context {
		md := []string{authn.MDProxyAuthorization, h.gatewayCred.AuthorizationFor("gateway"), authn.MDClientAddress, addr}
		if authorization != "" {
			md = append(md, authn.MDAuthorization, authorization)
		}
		return metadata.AppendToOutgoingContext(context.Background(), md...)
	}
	good := h.cred.AuthorizationFor("access")
	bad := []string{
		credentialOf(t, 1).AuthorizationFor("access"), // wrong service secret
		h.licensingCred.AuthorizationFor("access"),    // another service's secret
		"Bearer forged", // bad token
	}
	for i, authorization := range bad {
		if _, err := logs.ListEvents(from("192.0.2.1", authorization), &eventlogv1.ListEventsRequest{}); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("failure %d: %v, want Unauthenticated", i+1, err)
		}
	}
	// The bucket is empty: bearer credentials are refused before they are
	// verified, wrong service secrets once they fail; a service's right
	// secret still works, so that other clients of its host (all of a local
	// suite is 127.0.0.1) cannot shut it out.
	_, err := logs.ListEvents(from("192.0.2.1", "Bearer forged"), &eventlogv1.ListEventsRequest{})
	assertThrottled(t, err)
	_, err = logs.ListEvents(from("192.0.2.1", bad[0]), &eventlogv1.ListEventsRequest{})
	assertThrottled(t, err)
	if _, err := logs.ListEvents(from("192.0.2.1", good), &eventlogv1.ListEventsRequest{}); err != nil {
		t.Fatalf("a service's right secret from a throttled address: %v", err)
	}

	// Another client behind the gateway is not affected.
	if _, err := logs.ListEvents(from("192.0.2.2", good), &eventlogv1.ListEventsRequest{}); err != nil {
		t.Fatalf("another client: %v", err)
	}
	// Calls without credentials are not failures: they are not charged.
	for range 5 {
		if _, err := logs.ListEvents(from("192.0.2.3", ""), &eventlogv1.ListEventsRequest{}); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("anonymous: %v, want Unauthenticated", err)
		}
	}
	if _, err := logs.ListEvents(from("192.0.2.3", good), &eventlogv1.ListEventsRequest{}); err != nil {
		t.Fatalf("after anonymous calls: %v", err)
	}
}

// A wrong proxy credential is a failed authentication of the transport
// peer: charged against it, and refused once its bucket is empty, for
// public methods too.
func TestBadProxyCredentialThrottled(t *testing.T) {
	h := start(t, func(c *grpcserver.Config) {
		c.FailedAuthentication = grpcserver.FailureLimit{Burst: 2, PerSecond: 1e-6}
	})
	dir := directoryv1.NewDirectoryServiceClient(h.conn(t))
	forged := metadata.AppendToOutgoingContext(context.Background(),
		authn.MDProxyAuthorization, h.cred.AuthorizationFor("gateway"), authn.MDClientAddress, "192.0.2.9")
	for i := range 2 {
		if _, err := dir.GetJwks(forged, &directoryv1.GetJwksRequest{}); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
		if got := h.dir.lastAddress(); got != "bufconn" {
			t.Fatalf("client address %q, want the transport peer", got)
		}
	}
	_, err := dir.GetJwks(forged, &directoryv1.GetJwksRequest{})
	assertThrottled(t, err)
	// Without a proxy credential the peer is throttled only when it
	// authenticates.
	if _, err := dir.GetJwks(context.Background(), &directoryv1.GetJwksRequest{}); err != nil {
		t.Fatalf("public call without proxy credential: %v", err)
	}
}
