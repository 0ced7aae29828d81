package server

import (
	"strings"
	"testing"

	"buf.build/go/protovalidate"

	accessv1 "steward.dev/gen/steward/access/v1"
)

// validExamples are requests the fast check must take (so that it fires)
// and protovalidate accepts.
var validExamples = []*accessv1.CheckPermissionRequest{
	{Principal: "organizations/o1/users/u1", Permission: "orchestrator.jobs.create", Scope: "organizations/o1/tenants/t1/services/s1/folders/f1"},
	{Principal: "organizations/o-1/groups/g-2", Permission: "users.view", Scope: "organizations/o-1"},
	{Principal: "organizations/o1/robotAccounts/r1", Permission: "p", Scope: "organizations/o1/tenants/t"},
	{Principal: "organizations/o1/externalApps/a1/apiKeys/k1", Permission: strings.Repeat("x", 256), Scope: "organizations/o1/Tenants/t1"},
	{Principal: "organizations/" + strings.Repeat("a", 63) + "/users/" + strings.Repeat("9", 63), Permission: "é", Scope: "organizations/o1"},
}

// TestPrevalidated: typical requests take the fast path; requests that
// break a rule do not (protovalidate words their violation).
func TestPrevalidated(t *testing.T) {
	v, err := protovalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range validExamples {
		if !prevalidated(r) || v.Validate(r) != nil {
			t.Errorf("%v: prevalidated %v, protovalidate %v", r, prevalidated(r), v.Validate(r))
		}
	}
	if !prevalidated(&accessv1.BatchCheckPermissionRequest{Items: validExamples}) {
		t.Error("a batch of valid items was not prevalidated")
	}
	for _, r := range []*accessv1.CheckPermissionRequest{
		{Principal: "organizations/o1/users/u1/x", Permission: "p", Scope: "organizations/o1"},
		{Principal: "organizations/o1/robotAccounts/r1/apiKeys/", Permission: "p", Scope: "organizations/o1"},
		{Principal: "organizations/O1/users/u1", Permission: "p", Scope: "organizations/o1"},
		{Principal: "organizations/o1/users/-u", Permission: "p", Scope: "organizations/o1"},
		{Principal: "organizations/o1/roles/r", Permission: "p", Scope: "organizations/o1"},
		{Principal: "organizations/o1/users/u1", Permission: "", Scope: "organizations/o1"},
		{Principal: "organizations/o1/users/u1", Permission: strings.Repeat("x", 257), Scope: "organizations/o1"},
		{Principal: "organizations/o1/users/u1", Permission: "p", Scope: "organizations/o1/"},
		{Principal: "organizations/o1/users/u1", Permission: "p", Scope: "organizations/o1/tenants"},
		{Principal: "organizations/o1/users/u1", Permission: "p", Scope: "organizations/o1/t3/x"},
		{Principal: "organizations/o1/users/u1", Permission: "p", Scope: "organizations/" + strings.Repeat("a", 64)},
		{Principal: "organizations/o1/users/u1", Permission: "p", Scope: "organizations/o1" + strings.Repeat("/f/x", 253)},
		// issue 14: an as_of naming no moment (its oneof is required).
		{Principal: "organizations/o1/users/u1", Permission: "p", Scope: "organizations/o1", AsOf: &accessv1.AsOf{}},
	} {
		if prevalidated(r) {
			t.Errorf("%v was prevalidated", r)
		}
		if v.Validate(r) == nil {
			t.Errorf("%v: the example is valid to protovalidate; pick one that is not", r)
		}
	}
	if prevalidated(&accessv1.BatchCheckPermissionRequest{}) || prevalidated(&accessv1.ListRolesRequest{}) {
		t.Error("an empty batch or another request was prevalidated")
	}
}

// FuzzPrevalidated holds the fast check to protovalidate: whatever it
// takes, protovalidate must accept (it may send more to protovalidate than
// needed, never less).
func FuzzPrevalidated(f *testing.F) {
	v, err := protovalidate.New()
	if err != nil {
		f.Fatal(err)
	}
	for _, r := range validExamples {
		f.Add(r.GetPrincipal(), r.GetPermission(), r.GetScope())
	}
	f.Add("organizations/o1/users/u1\n", "p", "organizations/o1\n")
	f.Add("organizations/o1/robotAccounts/r/apiKeys/k", "p", "organizations/o1/a/b/c/d")
	f.Fuzz(func(t *testing.T, principal, permission, scope string) {
		r := &accessv1.CheckPermissionRequest{Principal: principal, Permission: permission, Scope: scope}
		if prevalidated(r) {
			if err := v.Validate(r); err != nil {
				t.Fatalf("prevalidated %v, which protovalidate refuses: %v", r, err)
			}
		}
	})
}
