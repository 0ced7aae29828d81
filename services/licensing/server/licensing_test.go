package server_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	licensingv1 "steward.dev/gen/steward/licensing/v1"
	"steward.dev/pkg/backend/backendtest"
)

// details returns err's code, ErrorInfo reason and metadata, the fields of
// its BadRequest and the subjects of its PreconditionFailure.
func details(err error) (code codes.Code, reason string, md map[string]string, fields, subjects []string) {
	st := status.Convert(err)
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			reason, md = d.GetReason(), d.GetMetadata()
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		case *errdetails.PreconditionFailure:
			for _, v := range d.GetViolations() {
				subjects = append(subjects, v.GetSubject())
			}
		}
	}
	return st.Code(), reason, md, fields, subjects
}

// TestAssignmentErrors: assignment through the real wiring (R22), each
// refusal with its code, reason and details, changing nothing.
func TestAssignmentErrors(t *testing.T) {
	e := newEnv(t)
	org := e.signUp("o1", "owner", "a", "b", "plain")
	e.signUp("o2", "owner")
	owner := e.as(org, "owner")
	trial := org + "/licensePools/trial-robot"
	assign := func(ctx context.Context, pool, member string) (*licensingv1.LicenseAssignment, error) {
		return e.c.AssignLicense(ctx, &licensingv1.AssignLicenseRequest{Parent: org,
			LicenseAssignment: &licensingv1.LicenseAssignment{Pool: pool, Member: member}}, e.svc)
	}
	// The first assignment waits until licensing has followed the
	// directory this far.
	if _, err := assign(owner, trial, org+"/users/a"); err != nil {
		t.Fatalf("AssignLicense: %v", err)
	}
	batch := func(members ...string) error {
		_, err := e.c.BatchAssignLicenses(owner, &licensingv1.BatchAssignLicensesRequest{Parent: org, Pool: trial, Members: members}, e.svc)
		return err
	}

	tests := []struct {
		name     string
		call     func() error
		code     codes.Code
		reason   string
		fields   []string
		subjects []string
		mdKey    string
	}{
		{name: "bad member name", call: func() error { _, err := assign(owner, trial, org+"/groups/g"); return err },
			code: codes.InvalidArgument, reason: "INVALID_ARGUMENT", fields: []string{"license_assignment.member"}},
		{name: "pool of another organization", call: func() error {
			_, err := assign(owner, "organizations/o2/licensePools/trial-robot", org+"/users/b")
			return err
		},
			code: codes.InvalidArgument, reason: "INVALID_ARGUMENT", fields: []string{"license_assignment.pool"}},
		{name: "already assigned", call: func() error { _, err := assign(owner, trial, org+"/users/a"); return err },
			code: codes.AlreadyExists, reason: "LICENSE_ALREADY_ASSIGNED", mdKey: "license_assignment"},
		{name: "R22 batch refused per member", call: func() error { return batch(org+"/users/b", org+"/users/ghost") },
			code: codes.FailedPrecondition, reason: "BATCH_REFUSED", subjects: []string{org + "/users/ghost"}},
		{name: "R22 batch beyond the pool", call: func() error { return batch(org+"/users/b", org+"/users/owner") },
			code: codes.FailedPrecondition, reason: "POOL_EXHAUSTED", mdKey: "requested"},
		{name: "without licenses.edit", call: func() error { _, err := assign(e.as(org, "plain"), trial, org+"/users/b"); return err },
			code: codes.PermissionDenied, reason: "PERMISSION_DENIED", mdKey: "permission"},
		{name: "another organization's pool is not found", call: func() error {
			_, err := e.c.GetLicensePool(owner, &licensingv1.GetLicensePoolRequest{Name: "organizations/o2/licensePools/trial-robot"}, e.svc)
			return err
		}, code: codes.NotFound, reason: "NOT_FOUND"},
		{name: "R23 signing in without a license", call: func() error {
			_, err := e.c.AcquireLease(e.as(org, "plain"), &licensingv1.AcquireLeaseRequest{Parent: org, Principal: org + "/users/plain",
				Client: licensingv1.Product_PRODUCT_ROBOT, Machine: "m1"}, e.svc)
			return err
		}, code: codes.FailedPrecondition, reason: "LICENSE_REQUIRED", mdKey: "product"},
		{name: "signing another in needs licenses.edit", call: func() error {
			_, err := e.c.AcquireLease(e.as(org, "plain"), &licensingv1.AcquireLeaseRequest{Parent: org, Principal: org + "/users/a",
				Client: licensingv1.Product_PRODUCT_ROBOT, Machine: "m1"}, e.svc)
			return err
		}, code: codes.PermissionDenied, reason: "PERMISSION_DENIED", mdKey: "permission"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, reason, md, fields, subjects := details(tt.call())
			if code != tt.code || reason != tt.reason {
				t.Errorf("got %v %q, want %v %q", code, reason, tt.code, tt.reason)
			}
			if !slices.Equal(fields, tt.fields) || !slices.Equal(subjects, tt.subjects) {
				t.Errorf("field violations %v, precondition failures %v; want %v, %v", fields, subjects, tt.fields, tt.subjects)
			}
			if tt.mdKey != "" && md[tt.mdKey] == "" {
				t.Errorf("metadata %v lacks %q", md, tt.mdKey)
			}
			if tt.mdKey == "permission" && md["permission"] != "licenses.edit" {
				t.Errorf("PermissionDenied names %q, want licenses.edit", md["permission"])
			}
		})
	}
	usage, err := e.c.GetLicenseUsage(owner, &licensingv1.GetLicenseUsageRequest{Name: org + "/licenseUsage", Pool: trial}, e.svc)
	if err != nil || usage.GetPools()[0].GetAssigned() != 1 {
		t.Errorf("usage after the refusals: %v, %v; want 1 assigned", usage, err)
	}
}

// TestOperator: only the installation's operator makes pools and decides
// license requests (R21); organizations ask.
func TestOperator(t *testing.T) {
	e := newEnv(t)
	org := e.signUp("o1", "owner", "a")
	owner := e.as(org, "owner")
	until := timestamppb.New(time.Now().Add(24 * time.Hour))
	newPool := &licensingv1.CreateLicensePoolRequest{Parent: org, LicensePoolId: "basic", LicensePool: &licensingv1.LicensePool{
		Product: licensingv1.Product_PRODUCT_EDITOR, Edition: "basic", Model: licensingv1.LicenseModel_LICENSE_MODEL_NAMED, Quantity: 3, ValidUntil: until}}
	if _, err := e.c.CreateLicensePool(context.Background(), newPool, backendtest.ServiceCallOption(e.b, "access")); status.Code(err) != codes.PermissionDenied {
		t.Errorf("access creating a pool: %v, want PermissionDenied", err)
	}
	pool, err := e.c.CreateLicensePool(context.Background(), newPool, e.operator)
	if err != nil {
		t.Fatalf("operator creating a pool: %v", err)
	}
	if pool.GetDisplayName() != "Basic editor (named)" || pool.GetEtag() == "" {
		t.Errorf("pool %v", pool)
	}

	// R22: batch assignment takes Professional pools only.
	_, err = e.c.BatchAssignLicenses(owner, &licensingv1.BatchAssignLicensesRequest{Parent: org, Pool: pool.GetName(), Members: []string{org + "/users/a"}}, e.svc)
	if code, reason, md, _, _ := details(err); code != codes.FailedPrecondition || reason != "BATCH_REQUIRES_PROFESSIONAL" || md["edition"] != "basic" {
		t.Errorf("batch on a basic pool: %v", err)
	}

	req, err := e.c.CreateLicenseRequest(owner, &licensingv1.CreateLicenseRequestRequest{Parent: org, LicenseRequest: &licensingv1.LicenseRequest{
		Kind: licensingv1.LicenseRequest_KIND_ADD_SEATS, Pool: pool.GetName(), Quantity: 2, Note: "two more"}}, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	pending, err := e.c.ListLicenseRequests(context.Background(), &licensingv1.ListLicenseRequestsRequest{Parent: "organizations/-",
		State: licensingv1.LicenseRequest_STATE_PENDING}, e.operator)
	if err != nil || len(pending.GetLicenseRequests()) != 1 || pending.GetLicenseRequests()[0].GetName() != req.GetName() {
		t.Fatalf("operator listing pending requests: %v, %v", pending, err)
	}
	done, err := e.c.FulfillLicenseRequest(context.Background(), &licensingv1.FulfillLicenseRequestRequest{Name: req.GetName(), Etag: req.GetEtag()}, e.operator)
	if err != nil || done.GetState() != licensingv1.LicenseRequest_STATE_FULFILLED {
		t.Fatalf("FulfillLicenseRequest: %v, %v", done, err)
	}
	got, err := e.c.GetLicensePool(owner, &licensingv1.GetLicensePoolRequest{Name: pool.GetName()}, e.svc)
	if err != nil || got.GetQuantity() != 5 {
		t.Errorf("pool after fulfilment: %v, %v; want 5 seats", got, err)
	}
	// Every change is an event with its audit envelope.
	resp, err := e.events.ListEvents(context.Background(), &eventlogv1.ListEventsRequest{PageSize: 1000}, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	var fulfilled *eventlogv1.Event
	for _, ev := range resp.GetEvents() {
		if ev.GetType() == "licensing.license_request.fulfilled" {
			fulfilled = ev
		}
		// R27: with the client's address, when known.
		if ev.GetType() == "licensing.license_request.created" && ev.GetAudit().GetSourceAddress() == "" {
			t.Errorf("request event without the client's address: %v", ev)
		}
	}
	if fulfilled == nil || fulfilled.GetAudit().GetActor() != "services/operator" || !strings.Contains(fulfilled.GetAudit().GetMessage(), "fulfilled") {
		t.Errorf("fulfilment event %v", fulfilled)
	}
}
