//go:build e2e

package e2e_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	accessv1 "steward.dev/gen/steward/access/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/authn"
	"steward.dev/pkg/grpcserver"
)

// TestServiceIdentity is issue 9 item 10 (and item 1's throttle, contract
// C1) against the real binaries: each service has its own secret, bound to
// its name; the old shared "Service cli:<secret>" scheme is gone; a
// service calls only what it is granted; a client address is taken only
// from the gateway.
func TestServiceIdentity(t *testing.T) {
	s := launch(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := os.Stat(filepath.Join(s.dataDir, "service-credential")); !os.IsNotExist(err) {
		t.Errorf("the shared service credential exists: %v", err)
	}
	if !strings.Contains(s.out.String(), filepath.Join(s.dataDir, "credentials")) {
		t.Errorf("the launcher does not say where the credentials are:\n%s", s.out.String())
	}
	secret := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(s.dataDir, "credentials", name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	as := func(name, secretOf string) context.Context {
		return metadata.AppendToOutgoingContext(ctx, "authorization", "Service "+name+":"+secret(secretOf))
	}

	// Every backend with a log: audit reads it with its own secret; any
	// other name with audit's secret, the old shared scheme included, is
	// refused before anything else.
	for _, name := range withEventLog {
		logs := eventlogv1.NewEventLogServiceClient(s.dial(name))
		if _, err := logs.ListEvents(as("audit", "audit"), &eventlogv1.ListEventsRequest{}); err != nil {
			t.Errorf("%s: audit reading the log: %v", name, err)
		}
		for _, claimed := range []string{"cli", "e2e", "directory", "access", "licensing"} {
			if _, err := logs.ListEvents(as(claimed, "audit"), &eventlogv1.ListEventsRequest{}); status.Code(err) != codes.Unauthenticated {
				t.Errorf("%s: audit's secret as %q: %v, want Unauthenticated", name, claimed, err)
			}
		}
		if _, err := logs.ListEvents(as("gateway", "gateway"), &eventlogv1.ListEventsRequest{}); status.Code(err) != codes.PermissionDenied {
			t.Errorf("%s: the gateway reading the log: %v, want PermissionDenied (its credential grants nothing)", name, err)
		}
	}

	// Access's credential cannot call access as the directory: only the
	// directory may ask CheckMembershipChange.
	acc := accessv1.NewAccessServiceClient(s.dial("access"))
	membership := &accessv1.CheckMembershipChangeRequest{Group: "organizations/nobody/groups/g", Add: true}
	if _, err := acc.CheckMembershipChange(as("directory", "access"), membership); status.Code(err) != codes.Unauthenticated {
		t.Errorf("access's secret named directory: %v, want Unauthenticated", err)
	}
	for _, name := range []string{"access", "licensing", "audit"} {
		if _, err := acc.CheckMembershipChange(as(name, name), membership); status.Code(err) != codes.PermissionDenied {
			t.Errorf("%s calling CheckMembershipChange: %v, want PermissionDenied", name, err)
		}
	}
	if _, err := acc.CheckMembershipChange(as("directory", "directory"), membership); status.Code(err) == codes.Unauthenticated || status.Code(err) == codes.PermissionDenied {
		t.Errorf("the directory calling CheckMembershipChange: %v", err)
	}

	// A plain client's x-steward-client-address is ignored: its failures
	// (a different claimed address each time) all count against its own
	// address, with the five above, until it is throttled.
	logs := eventlogv1.NewEventLogServiceClient(s.dial("licensing"))
	throttled := false
	for i := range grpcserver.DefaultFailureBurst + 1 {
		spoofed := metadata.AppendToOutgoingContext(ctx, "authorization", "Service audit:"+secret("access"),
			authn.MDClientAddress, "203.0.113."+strconv.Itoa(i+1))
		_, err := logs.ListEvents(spoofed, &eventlogv1.ListEventsRequest{})
		if status.Code(err) == codes.ResourceExhausted {
			throttled = true
			assertRetryInfo(t, err)
			break
		}
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("failure %d: %v, want Unauthenticated", i+1, err)
		}
	}
	if !throttled {
		t.Fatalf("not throttled after %d failures with spoofed client addresses", grpcserver.DefaultFailureBurst)
	}
	// Throttled, bearer credentials are refused before they are verified,
	// but a service's right secret still works: the other clients of its
	// host (in a local suite, everyone is 127.0.0.1) cannot shut it out.
	garbage := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer garbage")
	if _, err := logs.ListEvents(garbage, &eventlogv1.ListEventsRequest{}); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("throttled client with a bearer credential: %v, want ResourceExhausted", err)
	}
	if _, err := logs.ListEvents(as("audit", "audit"), &eventlogv1.ListEventsRequest{}); err != nil {
		t.Errorf("audit's right secret from a throttled address: %v", err)
	}
	// Another service's word on the client address is ignored (the
	// throttled peer stays the client) ...
	proxied := func(proxy string) context.Context {
		return metadata.AppendToOutgoingContext(garbage,
			authn.MDProxyAuthorization, "Service "+proxy+":"+secret(proxy), authn.MDClientAddress, "203.0.113.77")
	}
	if _, err := logs.ListEvents(proxied("access"), &eventlogv1.ListEventsRequest{}); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("client address vouched for by access: %v, want ResourceExhausted (ignored)", err)
	}
	// ... but the gateway's is taken: that client has not failed yet.
	if _, err := logs.ListEvents(proxied("gateway"), &eventlogv1.ListEventsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("client address vouched for by the gateway: %v, want Unauthenticated (not throttled)", err)
	}
}

// assertRetryInfo fails unless err names the throttle's reason and says
// when to retry.
func assertRetryInfo(t *testing.T, err error) {
	t.Helper()
	var reason string
	var retry bool
	for _, d := range status.Convert(err).Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			reason = d.GetReason()
		case *errdetails.RetryInfo:
			retry = d.GetRetryDelay().AsDuration() > 0
		}
	}
	if reason != grpcserver.ReasonTooManyFailedAuthentications || !retry {
		t.Errorf("throttled: reason %q, retry info %v; want %s with a delay", reason, retry, grpcserver.ReasonTooManyFailedAuthentications)
	}
}
