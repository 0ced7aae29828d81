package domain

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/eventlog"
)

// TestR18TenantAdministratorAtServiceLevel (R18): a tenant's Tenant
// Administrator assignment is listed at each service of that tenant, with
// the platform-role label, and nowhere else it is not assigned (not at a
// folder, not at another tenant's service); at its own scope and by
// principal it is listed as it is, unlabelled. Removing it named at one of
// those services is refused with ErrPlatformRoleImmutable pointing at the
// tenant scope, changes nothing, and it is removed at the tenant.
// (TestDefaultsDeleteRoleAssignment checks the same refusal among the
// other refusals of DeleteRoleAssignment.)
func TestR18TenantAdministratorAtServiceLevel(t *testing.T) {
	st, s := dtOpen(t, filepath.Join(t.TempDir(), "access.db"))
	defer st.Close()
	dtSetup(t, st, s)
	const (
		otherTenant  = dtOrg + "/tenants/other"
		otherService = otherTenant + "/services/ops"
	)
	dtApply(t, st, s,
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_TENANT_CREATED), otherTenant, &directoryv1.Tenant{Name: otherTenant, DisplayName: "Other"}),
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_SERVICE_CREATED), otherService,
			&directoryv1.Service{Name: otherService, DisplayName: "Ops", Type: "orchestrator", Creator: dtOwner}))
	ctx := context.Background()
	owner := Actor{Name: dtOwner, DisplayName: "Olivia Owner", Organization: dtOrg}
	resp, err := s.CreateRoleAssignment(ctx, owner, &accessv1.CreateRoleAssignmentRequest{
		Parent: dtOrg, Principal: dtJohn, Scope: dtTenant, Roles: []string{"roles/tenant-administrator"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tenantAdmin := resp.GetRoleAssignments()[0].GetName()

	// listed returns whether John's Tenant Administrator assignment is in
	// the listing at scope (of principal), with which label, and whether
	// any other assignment of the listing carries the label.
	listed := func(scope, principal string) (found bool, label string, othersLabelled bool) {
		t.Helper()
		resp, err := s.ListRoleAssignments(ctx, owner, &accessv1.ListRoleAssignmentsRequest{Parent: dtOrg, Scope: scope, Principal: principal})
		if err != nil {
			t.Fatalf("ListRoleAssignments at %q of %q: %v", scope, principal, err)
		}
		for _, a := range resp.GetRoleAssignments() {
			if a.GetName() == tenantAdmin {
				found, label = true, a.GetPlatformRoleLabel()
				if a.GetScope() != dtTenant || a.GetRole() != "roles/tenant-administrator" {
					t.Errorf("at %q: the platform role is listed as %v; want it at its own scope %s", scope, a, dtTenant)
				}
			} else if a.GetPlatformRoleLabel() != "" {
				othersLabelled = true
			}
		}
		return found, label, othersLabelled
	}
	cases := []struct {
		name             string
		scope, principal string
		found            bool
		label            string
	}{
		{"a service of its tenant", dtService, "", true, PlatformRoleLabel},
		{"a service of its tenant, of its principal", dtService, dtJohn, true, PlatformRoleLabel},
		{"a service of its tenant, of another principal", dtService, dtOwner, false, ""},
		{"its own scope, the tenant", dtTenant, "", true, ""},
		{"its principal", "", dtJohn, true, ""},
		{"a folder of a service of its tenant", dtFolder, "", false, ""},
		{"a service of another tenant", otherService, "", false, ""},
		{"the organization", dtOrg, "", false, ""},
	}
	for _, tc := range cases {
		t.Run("listed at "+tc.name, func(t *testing.T) {
			found, label, othersLabelled := listed(tc.scope, tc.principal)
			if found != tc.found || label != tc.label {
				t.Errorf("listed %v with label %q; want listed %v with label %q", found, label, tc.found, tc.label)
			}
			if othersLabelled {
				t.Errorf("an assignment other than a Tenant Administrator's carries the platform-role label")
			}
		})
	}

	// Immutable at the service: refused with the tenant scope, no change.
	head := dfHead(t, s)
	err = s.DeleteRoleAssignment(ctx, owner, &accessv1.DeleteRoleAssignmentRequest{Name: tenantAdmin, Scope: dtService})
	if !errors.Is(err, ErrPlatformRoleImmutable) || MetadataOf(err)["scope"] != dtTenant || !strings.Contains(err.Error(), "remove it at "+dtTenant) {
		t.Fatalf("removing the platform role at the service: %v (metadata %v); want ErrPlatformRoleImmutable pointing at %s", err, MetadataOf(err), dtTenant)
	}
	if dfHead(t, s) != head {
		t.Error("the refused removal appended access events")
	}
	if found, label, _ := listed(dtService, ""); !found || label != PlatformRoleLabel {
		t.Errorf("after the refusal the service lists it: %v, label %q", found, label)
	}

	// Removed at the tenant, it is gone from the service's listing too.
	if err := s.DeleteRoleAssignment(ctx, owner, &accessv1.DeleteRoleAssignmentRequest{Name: tenantAdmin, Scope: dtTenant}); err != nil {
		t.Fatalf("removing the platform role at its tenant: %v", err)
	}
	if found, _, _ := listed(dtService, ""); found {
		t.Error("the removed Tenant Administrator assignment is still listed at the service")
	}
}
