package domain

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	accessv1 "steward.dev/gen/steward/access/v1"
	"steward.dev/pkg/records"
	"steward.dev/services/access/catalogue"
)

// batchWorld is dtSetup's organization where John may manage access at
// folder A only, through a custom folder role holding
// orchestrator.folder_users.edit and Automation User's permissions: he may
// grant Automation User there, not Automation Developer (a permission he
// lacks, R17 escalation), and nothing at the Shared folder (R17
// delegation).
func batchWorld(t *testing.T) (*Service, Actor) {
	t.Helper()
	st, s := dtOpen(t, filepath.Join(t.TempDir(), "access.db"))
	t.Cleanup(func() { _ = st.Close() })
	dtSetup(t, st, s)
	ctx, system := context.Background(), Actor{Name: "services/test"}
	au, _ := catalogue.LookupBuiltInRole(catalogue.RoleAutomationUser)
	role, err := s.CreateRole(ctx, system, &accessv1.CreateRoleRequest{Parent: dtOrg, RoleId: "folder-manager", Role: &accessv1.Role{
		DisplayName: "Folder manager", Level: accessv1.Level_LEVEL_FOLDER, ServiceType: "orchestrator",
		Permissions: append([]string{"orchestrator.folder_users.edit"}, au.Permissions...),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRoleAssignment(ctx, system, &accessv1.CreateRoleAssignmentRequest{
		Parent: dtOrg, Principal: dtJohn, Scope: dtFolder, Roles: []string{role.GetName()},
	}); err != nil {
		t.Fatal(err)
	}
	return s, Actor{Name: dtJohn, DisplayName: "John Smith", Organization: dtOrg}
}

// batchItem is a CreateRoleAssignment request of dtOrg.
func batchItem(principal, scope string, roles ...string) *accessv1.CreateRoleAssignmentRequest {
	return &accessv1.CreateRoleAssignmentRequest{Parent: dtOrg, Principal: principal, Scope: scope, Roles: roles}
}

// TestBatchCreateRoleAssignments (R15, R17, issue 13): a batch is made
// whole or not at all. Every item passes CreateRoleAssignment's checks for
// the actor — delegation at its scope, no escalation — and a refused item
// names itself ("requests[i]") and leaves nothing written: no assignment,
// no event, no change to what ListPrincipalRoles (R15's explicit view) or
// Check answer.
func TestBatchCreateRoleAssignments(t *testing.T) {
	const (
		au = "roles/automation-user"
		ad = "roles/automation-developer"
	)
	tests := []struct {
		name  string
		items []*accessv1.CreateRoleAssignmentRequest
		// made is how many assignments (and events) a success makes.
		made int
		// wantErr and wantItem describe the refusal; field is the field
		// violation of an invalid argument.
		wantErr  error
		wantItem string
		field    string
		// escalation asks for the ErrorInfo permission of an escalation:
		// one John does not hold at folder A.
		escalation bool
	}{
		{name: "all allowed", made: 3, items: []*accessv1.CreateRoleAssignmentRequest{
			batchItem(dtIdle, dtFolder, au), batchItem(dtAccount, dtFolder, au), batchItem(dtAutoD, dtFolder, au),
		}},
		{name: "duplicates within the batch are made once", made: 2, items: []*accessv1.CreateRoleAssignmentRequest{
			batchItem(dtIdle, dtFolder, au), batchItem(dtIdle, dtFolder, au), batchItem(dtAccount, dtFolder, au), batchItem(dtIdle, dtFolder, au),
		}},
		{name: "escalation in one item refuses all (R17)", wantErr: ErrEscalation, wantItem: "requests[1]",
			escalation: true, items: []*accessv1.CreateRoleAssignmentRequest{
				batchItem(dtIdle, dtFolder, au), batchItem(dtAccount, dtFolder, ad), batchItem(dtAutoD, dtFolder, au),
			}},
		{name: "escalation in the last item, after allowed ones", wantErr: ErrEscalation, wantItem: "requests[2]",
			escalation: true, items: []*accessv1.CreateRoleAssignmentRequest{
				batchItem(dtIdle, dtFolder, au), batchItem(dtAccount, dtFolder, au), batchItem(dtAutoD, dtFolder, au, ad),
			}},
		{name: "delegation denied at another folder (R17)", wantErr: ErrDelegationDenied, wantItem: "requests[2]", items: []*accessv1.CreateRoleAssignmentRequest{
			batchItem(dtIdle, dtFolder, au), batchItem(dtAccount, dtFolder, au), batchItem(dtIdle, dtShared, au),
		}},
		{name: "unknown principal", wantErr: ErrNotFound, wantItem: "requests[1]", items: []*accessv1.CreateRoleAssignmentRequest{
			batchItem(dtIdle, dtFolder, au), batchItem(dtOrg+"/users/nobody", dtFolder, au),
		}},
		{name: "role of another level", wantErr: ErrRoleLevelMismatch, wantItem: "requests[1]", items: []*accessv1.CreateRoleAssignmentRequest{
			batchItem(dtIdle, dtFolder, au), batchItem(dtAccount, dtFolder, "roles/tenant-administrator"),
		}},
		{name: "owner is never assigned", wantErr: ErrOwnerNotAssignable, wantItem: "requests[0]", items: []*accessv1.CreateRoleAssignmentRequest{
			batchItem(dtIdle, dtFolder, "roles/owner"),
		}},
		{name: "item of another parent", field: "requests[1].parent", items: []*accessv1.CreateRoleAssignmentRequest{
			batchItem(dtIdle, dtFolder, au), {Parent: "organizations/other", Principal: dtIdle, Scope: dtFolder, Roles: []string{au}},
		}},
		{name: "item with its own request_id", field: "requests[0].request_id", items: []*accessv1.CreateRoleAssignmentRequest{
			{Parent: dtOrg, Principal: dtIdle, Scope: dtFolder, Roles: []string{au}, RequestId: "6f1c1b7e-4b7a-4c61-9a53-0d3f1f3b2a10"},
		}},
		{name: "too many assignments", field: "requests", items: func() []*accessv1.CreateRoleAssignmentRequest {
			roles := make([]string, MaxBatchAssignments/4+1)
			for i := range roles {
				roles[i] = au
			}
			return []*accessv1.CreateRoleAssignmentRequest{
				batchItem(dtIdle, dtFolder, roles...), batchItem(dtIdle, dtFolder, roles...),
				batchItem(dtIdle, dtFolder, roles...), batchItem(dtIdle, dtFolder, roles...),
			}
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, john := batchWorld(t)
			ctx := context.Background()
			before, err := s.log.Head(ctx)
			if err != nil {
				t.Fatal(err)
			}
			roles := func() string {
				t.Helper()
				var out []string
				for _, p := range []string{dtIdle, dtAccount, dtAutoD} {
					resp, err := s.ListPrincipalRoles(ctx, Actor{Name: "services/test"}, &accessv1.ListPrincipalRolesRequest{Principal: p})
					if err != nil {
						t.Fatal(err)
					}
					for _, a := range resp.GetRoleAssignments() {
						out = append(out, a.GetPrincipal()+" "+a.GetRole()+"@"+a.GetScope())
					}
				}
				return fmt.Sprint(out, s.model.Check(dtAccount, "orchestrator.jobs.create", dtFolder).Allowed)
			}
			was := roles()
			resp, err := s.BatchCreateRoleAssignments(ctx, john, &accessv1.BatchCreateRoleAssignmentsRequest{Parent: dtOrg, Requests: tt.items})
			after, herr := s.log.Head(ctx)
			if herr != nil {
				t.Fatal(herr)
			}
			if tt.wantErr == nil && tt.field == "" {
				if err != nil {
					t.Fatalf("BatchCreateRoleAssignments: %v", err)
				}
				if got := int(after - before); got != tt.made {
					t.Errorf("%d events, want one per assignment made: %d", got, tt.made)
				}
				names := map[string]bool{}
				want := 0
				for _, it := range tt.items {
					want += len(it.GetRoles())
				}
				if len(resp.GetRoleAssignments()) != want {
					t.Errorf("%d assignments returned, want one per item and role: %d", len(resp.GetRoleAssignments()), want)
				}
				for _, a := range resp.GetRoleAssignments() {
					names[a.GetName()] = true
				}
				if len(names) != tt.made {
					t.Errorf("%d distinct assignments, want %d", len(names), tt.made)
				}
				if resp.GetSequence() != after {
					t.Errorf("sequence %d, want the log's head %d", resp.GetSequence(), after)
				}
				if !s.model.Check(dtAccount, "orchestrator.jobs.create", dtFolder).Allowed {
					t.Error("Check does not see the batch's assignment")
				}
				return
			}
			if err == nil {
				t.Fatalf("BatchCreateRoleAssignments succeeded (%d assignments); want a refusal", len(resp.GetRoleAssignments()))
			}
			if after != before {
				t.Errorf("a refused batch appended %d events; want none", after-before)
			}
			if now := roles(); now != was {
				t.Errorf("a refused batch changed assignments:\n before %s\n after  %s", was, now)
			}
			if tt.field != "" {
				var fe *records.FieldError
				if !errors.As(err, &fe) || fe.Field != tt.field {
					t.Fatalf("error %v, want a field error on %s", err, tt.field)
				}
				return
			}
			var ie *records.ItemError
			if !errors.Is(err, tt.wantErr) || !errors.As(err, &ie) || ie.Item != tt.wantItem {
				t.Fatalf("error %v, want %v at %s", err, tt.wantErr, tt.wantItem)
			}
			if p := MetadataOf(err)["permission"]; tt.escalation && (p == "" || s.holds(john, p, dtFolder)) {
				t.Errorf("ErrorInfo metadata %v, want a permission John lacks at %s", MetadataOf(err), dtFolder)
			}
		})
	}
}

// TestBatchCreateRoleAssignmentsIdempotent (issue 13): the batch's
// request_id replays the first response without new events; the same
// request_id with another batch is refused.
func TestBatchCreateRoleAssignmentsIdempotent(t *testing.T) {
	s, john := batchWorld(t)
	ctx := context.Background()
	req := &accessv1.BatchCreateRoleAssignmentsRequest{Parent: dtOrg, RequestId: "0b8f8a52-8d1e-4df4-9d57-7c5b8e0f2a11", Requests: []*accessv1.CreateRoleAssignmentRequest{
		batchItem(dtIdle, dtFolder, "roles/automation-user"),
	}}
	first, err := s.BatchCreateRoleAssignments(ctx, john, req)
	if err != nil {
		t.Fatal(err)
	}
	head, _ := s.log.Head(ctx)
	again, err := s.BatchCreateRoleAssignments(ctx, john, req)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(first, again) {
		t.Errorf("replay %v, want the first response %v", again, first)
	}
	if now, _ := s.log.Head(ctx); now != head {
		t.Errorf("replay appended %d events", now-head)
	}
	other := proto.Clone(req).(*accessv1.BatchCreateRoleAssignmentsRequest)
	other.Requests[0].Principal = dtAccount
	if _, err := s.BatchCreateRoleAssignments(ctx, john, other); !errors.Is(err, ErrRequestIDReused) {
		t.Errorf("request_id reused with another batch: %v, want ErrRequestIDReused", err)
	}
}

// TestBatchCheckMembershipChange (R17, issue 13): each answer of the batch
// is CheckMembershipChange's for that item, refusals included.
func TestBatchCheckMembershipChange(t *testing.T) {
	s, john := batchWorld(t)
	ctx := context.Background()
	var items []*accessv1.CheckMembershipChangeRequest
	for _, g := range []string{dtAdmins, dtAutoU, dtAutoD, dtEvery} {
		for _, add := range []bool{true, false} {
			items = append(items, &accessv1.CheckMembershipChangeRequest{Group: g, Add: add})
		}
	}
	for _, actor := range []Actor{john, {Name: dtOwner, Organization: dtOrg}, {Name: "services/directory"}} {
		resp, err := s.BatchCheckMembershipChange(ctx, actor, &accessv1.BatchCheckMembershipChangeRequest{Items: items})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetResults()) != len(items) {
			t.Fatalf("%d results for %d items", len(resp.GetResults()), len(items))
		}
		refused := 0
		for i, it := range items {
			one, err := s.CheckMembershipChange(ctx, actor, it)
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(one, resp.GetResults()[i]) {
				t.Errorf("%s: item %d (%v): %v, want CheckMembershipChange's %v", actor.Name, i, it, resp.GetResults()[i], one)
			}
			if !one.GetAllowed() {
				refused++
			}
		}
		if actor == john && refused == 0 {
			t.Error("John may change every group's membership; the test wants refusals")
		}
	}
	_, err := s.BatchCheckMembershipChange(ctx, john, &accessv1.BatchCheckMembershipChangeRequest{Items: []*accessv1.CheckMembershipChangeRequest{
		{Group: dtAutoU, Add: true}, {Group: "organizations/other/groups/g", Add: true},
	}})
	var ie *records.ItemError
	if !errors.Is(err, ErrNotFound) || !errors.As(err, &ie) || ie.Item != "items[1]" {
		t.Errorf("a group of another organization: %v, want NotFound at items[1]", err)
	}
}
