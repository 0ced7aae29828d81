package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	licensingv1 "steward.dev/gen/steward/licensing/v1"
	"steward.dev/pkg/authn"
)

// TestRefusedCallsAreAudited: through the real wiring, a refused change
// (R27) — a plain member assigning a license, PermissionDenied; a member
// without a license signing in, FailedPrecondition — becomes a
// licensing.call.refused event in licensing's own log, shortly after the
// caller got the refusal; a refused read does not.
func TestRefusedCallsAreAudited(t *testing.T) {
	e := newEnv(t)
	org := e.signUp("o1", "owner", "a", "plain")
	withID := func(ctx context.Context, id string) context.Context {
		return metadata.AppendToOutgoingContext(ctx, authn.MDRequestID, id)
	}
	// The first call waits until licensing has followed the directory
	// this far.
	if _, err := e.c.AssignLicense(e.as(org, "owner"), &licensingv1.AssignLicenseRequest{Parent: org,
		LicenseAssignment: &licensingv1.LicenseAssignment{Pool: org + "/licensePools/trial-robot", Member: org + "/users/a"}}, e.svc); err != nil {
		t.Fatalf("AssignLicense as owner: %v", err)
	}

	_, err := e.c.AssignLicense(withID(e.as(org, "plain"), "req-assign"), &licensingv1.AssignLicenseRequest{Parent: org,
		LicenseAssignment: &licensingv1.LicenseAssignment{Pool: org + "/licensePools/trial-robot", Member: org + "/users/plain"}}, e.svc)
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("AssignLicense as plain: %v, want PermissionDenied", err)
	}
	if _, err := e.c.GetUsageTrend(e.as("organizations/o2", "x"), &licensingv1.GetUsageTrendRequest{Name: "organizations/o2/usageTrend"}, e.svc); err == nil {
		t.Fatal("GetUsageTrend of an unknown organization succeeded")
	}
	_, err = e.c.AcquireLease(withID(e.as(org, "plain"), "req-lease"), &licensingv1.AcquireLeaseRequest{Parent: org, Principal: org + "/users/plain",
		Client: licensingv1.Product_PRODUCT_ROBOT, Machine: "m1"}, e.svc)
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("AcquireLease without a license: %v, want FailedPrecondition", err)
	}

	var refused []*eventlogv1.Event
	deadline := time.Now().Add(10 * time.Second)
	for len(refused) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("licensing's log holds %d licensing.call.refused events after 10s, want 2", len(refused))
		}
		time.Sleep(5 * time.Millisecond)
		resp, err := e.events.ListEvents(context.Background(), &eventlogv1.ListEventsRequest{PageSize: 1000}, e.svc)
		if err != nil {
			t.Fatal(err)
		}
		refused = refused[:0]
		for _, ev := range resp.GetEvents() {
			if ev.GetType() == "licensing.call.refused" {
				refused = append(refused, ev)
			}
		}
	}
	if len(refused) != 2 {
		t.Fatalf("%d licensing.call.refused events, want 2: %v", len(refused), refused)
	}
	want := []struct{ action, requestID, reason, text string }{
		{"AssignLicense", "req-assign", "PERMISSION_DENIED", "licenses.edit"},
		{"AcquireLease", "req-lease", "LICENSE_REQUIRED", ""},
	}
	for i, ev := range refused {
		w, a := want[i], ev.GetAudit()
		if ev.GetSource() != "licensing" || ev.GetResource() != org || ev.GetOrganization() != org ||
			ev.GetOperation() != eventlogv1.Operation_OPERATION_UNSPECIFIED || ev.GetData() != nil {
			t.Errorf("event %d = %v, want a refusal on %s without data", i, ev, org)
		}
		if a.GetActor() != org+"/users/plain" || a.GetAction() != w.action || a.GetOutcome() != eventlogv1.Outcome_OUTCOME_DENIED ||
			a.GetRequestId() != w.requestID {
			t.Errorf("event %d audit = %v, want actor plain, action %s, outcome DENIED, request ID %s", i, a, w.action, w.requestID)
		}
		if msg := a.GetMessage(); !strings.HasPrefix(msg, w.action+" on "+org+" was refused: ") || !strings.Contains(msg, w.reason) || !strings.Contains(msg, w.text) {
			t.Errorf("event %d message %q, want %s on %s refused, reason %s", i, msg, w.action, org, w.reason)
		}
	}
}
