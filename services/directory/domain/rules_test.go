package domain_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"golang.org/x/time/rate"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store/bboltstore"
	"steward.dev/services/directory/domain"
)

// org is an organization signed up for a rules test: its owner, a second
// user, and the domain service.
type org struct {
	s      *domain.Service
	name   string
	owner  domain.Actor
	admin  domain.Actor // a member of Administrators, not the owner
	bob    string       // a plain user
	tenant string       // the default tenant
	log    *eventlog.Log
	before uint64 // the log's head before the operation under test (see try)
}

// newOrg signs up organization "acme" in a fresh store and adds an
// administrator (ada) and a plain user (bob).
func newOrg(t *testing.T) *org {
	t.Helper()
	return newOrgWith(t, domain.Options{})
}

// newOrgWith is newOrg with the service's options opts (whose Limits it
// replaces).
func newOrgWith(t *testing.T, opts domain.Options) *org {
	t.Helper()
	ctx := context.Background()
	st, err := bboltstore.Open(filepath.Join(t.TempDir(), "directory.db"), bboltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	log, err := eventlog.New(st, "directory", eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	limits := domain.DefaultLimits()
	limits.SignUpPerSource = rate.Inf
	opts.Limits = &limits
	s, err := domain.New(ctx, st, log, opts)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.SignUp(ctx, domain.Actor{SourceAddress: "192.0.2.1"}, &directoryv1.SignUpRequest{
		OrganizationId: "acme", OrganizationDisplayName: "Acme", Nickname: "olivia", Email: "olivia@acme.example", Password: "correct horse battery",
	})
	if err != nil {
		t.Fatal(err)
	}
	o := &org{s: s, name: resp.GetOrganization().GetName(), log: log, tenant: resp.GetDefaultTenant().GetName()}
	o.owner = domain.Actor{Name: resp.GetOwner().GetName(), Organization: o.name, DisplayName: "olivia"}
	ada := o.user(t, "ada")
	o.admin = domain.Actor{Name: ada, Organization: o.name, DisplayName: "ada"}
	if _, err := s.AddGroupMember(ctx, o.owner, &directoryv1.AddGroupMemberRequest{Group: o.name + "/groups/" + domain.GroupAdministrators, Member: ada}); err != nil {
		t.Fatal(err)
	}
	o.bob = o.user(t, "bob")
	return o
}

// user creates a user with ID id and returns its name.
func (o *org) user(t *testing.T, id string) string {
	t.Helper()
	u, err := o.s.CreateUser(context.Background(), o.owner, &directoryv1.CreateUserRequest{
		Parent: o.name, UserId: id, User: &directoryv1.User{Nickname: id, Email: id + "@acme.example"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return u.GetName()
}

// head returns the event log's head.
func (o *org) head(t *testing.T) uint64 {
	t.Helper()
	h, err := o.log.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// try records the log's head, then runs the operation under test: what a
// case does before it is set-up, not part of the refused change.
func (o *org) try(fn func() error) error {
	h, err := o.log.Head(context.Background())
	if err != nil {
		return err
	}
	o.before = h
	return fn()
}

// ruleCase is one refused (or allowed) operation: want nil means allowed.
type ruleCase struct {
	name string
	op   func(ctx context.Context, o *org) error
	want error
}

// runRules runs each case on a fresh organization and checks its outcome
// and, for refusals, that the event log did not move (nothing changed).
func runRules(t *testing.T, cases []ruleCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := newOrg(t)
			o.before = o.head(t)
			err := tc.op(context.Background(), o)
			before := o.before
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("err = %v, want success", err)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("err = %v, want %v", err, tc.want)
			case tc.want != nil && o.head(t) != before:
				t.Fatalf("a refused operation appended events: head %d -> %d", before, o.head(t))
			}
		})
	}
}

// TestOwnerRules: the owner cannot be deleted, deactivated or removed from
// Administrators, and nobody deletes or deactivates their own account (R1, R4).
func TestOwnerRules(t *testing.T) {
	runRules(t, []ruleCase{
		{"delete the owner", func(ctx context.Context, o *org) error {
			return o.s.DeleteUser(ctx, o.admin, &directoryv1.DeleteUserRequest{Name: o.owner.Name})
		}, domain.ErrOwnerImmutable},
		{"deactivate the owner", func(ctx context.Context, o *org) error {
			_, err := o.s.DeactivateUser(ctx, o.admin, &directoryv1.DeactivateUserRequest{Name: o.owner.Name})
			return err
		}, domain.ErrOwnerImmutable},
		{"delete yourself", func(ctx context.Context, o *org) error {
			return o.s.DeleteUser(ctx, domain.Actor{Name: o.bob, Organization: o.name}, &directoryv1.DeleteUserRequest{Name: o.bob})
		}, domain.ErrSelfAction},
		{"deactivate yourself", func(ctx context.Context, o *org) error {
			_, err := o.s.DeactivateUser(ctx, o.admin, &directoryv1.DeactivateUserRequest{Name: o.admin.Name})
			return err
		}, domain.ErrSelfAction},
		{"delete a member of Administrators", func(ctx context.Context, o *org) error {
			return o.s.DeleteUser(ctx, o.owner, &directoryv1.DeleteUserRequest{Name: o.admin.Name})
		}, domain.ErrHoldsAdministratorRole},
		{"delete a plain user", func(ctx context.Context, o *org) error {
			return o.s.DeleteUser(ctx, o.admin, &directoryv1.DeleteUserRequest{Name: o.bob})
		}, nil},
		{"deactivate a plain user", func(ctx context.Context, o *org) error {
			_, err := o.s.DeactivateUser(ctx, o.admin, &directoryv1.DeactivateUserRequest{Name: o.bob})
			return err
		}, nil},
	})
}

// TestDefaultGroupRules: default groups cannot be deleted or renamed, and
// Everyone's membership is implicit (R5).
func TestDefaultGroupRules(t *testing.T) {
	group := func(o *org, id string) string { return o.name + "/groups/" + id }
	runRules(t, []ruleCase{
		{"delete Administrators", func(ctx context.Context, o *org) error {
			return o.s.DeleteGroup(ctx, o.owner, &directoryv1.DeleteGroupRequest{Name: group(o, domain.GroupAdministrators)})
		}, domain.ErrDefaultGroupImmutable},
		{"delete Everyone", func(ctx context.Context, o *org) error {
			return o.s.DeleteGroup(ctx, o.owner, &directoryv1.DeleteGroupRequest{Name: group(o, domain.GroupEveryone)})
		}, domain.ErrDefaultGroupImmutable},
		{"rename Automation Users", func(ctx context.Context, o *org) error {
			_, err := o.s.UpdateGroup(ctx, o.owner, &directoryv1.UpdateGroupRequest{
				Group: &directoryv1.Group{Name: group(o, domain.GroupAutomationUsers), DisplayName: "Robots"}})
			return err
		}, domain.ErrDefaultGroupImmutable},
		{"add someone to Everyone", func(ctx context.Context, o *org) error {
			_, err := o.s.AddGroupMember(ctx, o.owner, &directoryv1.AddGroupMemberRequest{Group: group(o, domain.GroupEveryone), Member: o.bob})
			return err
		}, domain.ErrDefaultGroupImmutable},
		{"remove someone from Everyone", func(ctx context.Context, o *org) error {
			return o.s.RemoveGroupMember(ctx, o.owner, &directoryv1.RemoveGroupMemberRequest{Group: group(o, domain.GroupEveryone), Member: o.bob})
		}, domain.ErrDefaultGroupImmutable},
		{"add bob to Automation Users", func(ctx context.Context, o *org) error {
			_, err := o.s.AddGroupMember(ctx, o.owner, &directoryv1.AddGroupMemberRequest{Group: group(o, domain.GroupAutomationUsers), Member: o.bob})
			return err
		}, nil},
	})
}

// TestScopeTreeRules: the scope tree keeps its shape (R2): nodes with
// children are not deleted unless forced, folders live only under
// Orchestrator services, and another organization's nodes do not exist for
// the actor.
func TestScopeTreeRules(t *testing.T) {
	service := func(ctx context.Context, o *org, id, typ string) (string, error) {
		s, err := o.s.CreateService(ctx, o.owner, &directoryv1.CreateServiceRequest{
			Parent: o.tenant, ServiceId: id, Service: &directoryv1.Service{DisplayName: id, Type: typ}})
		return s.GetName(), err
	}
	folder := func(ctx context.Context, o *org, parent, id string) (string, error) {
		f, err := o.s.CreateFolder(ctx, o.owner, &directoryv1.CreateFolderRequest{Parent: parent, FolderId: id, Folder: &directoryv1.Folder{DisplayName: id}})
		return f.GetName(), err
	}
	runRules(t, []ruleCase{
		{"folder under a non-Orchestrator service", func(ctx context.Context, o *org) error {
			svc, err := service(ctx, o, "insights", "insights")
			if err != nil {
				return err
			}
			return o.try(func() error { _, err := folder(ctx, o, svc, "a"); return err })
		}, domain.ErrServiceTypeMismatch},
		{"delete a tenant that has a service", func(ctx context.Context, o *org) error {
			if _, err := service(ctx, o, "orch", "orchestrator"); err != nil {
				return err
			}
			return o.try(func() error {
				return o.s.DeleteTenant(ctx, o.owner, &directoryv1.DeleteTenantRequest{Name: o.tenant})
			})
		}, domain.ErrNodeHasChildren},
		{"delete a folder that has a subfolder", func(ctx context.Context, o *org) error {
			svc, err := service(ctx, o, "orch", "orchestrator")
			if err != nil {
				return err
			}
			a, err := folder(ctx, o, svc, "a")
			if err != nil {
				return err
			}
			if _, err := folder(ctx, o, a, "b"); err != nil {
				return err
			}
			return o.try(func() error {
				return o.s.DeleteFolder(ctx, o.owner, &directoryv1.DeleteFolderRequest{Name: a})
			})
		}, domain.ErrNodeHasChildren},
		{"another organization's tenant", func(ctx context.Context, o *org) error {
			_, err := o.s.GetTenant(ctx, domain.Actor{Name: "organizations/other/users/x", Organization: "organizations/other"},
				&directoryv1.GetTenantRequest{Name: o.tenant})
			return err
		}, domain.ErrNotFound},
		{"a tenant ID taken", func(ctx context.Context, o *org) error {
			_, err := o.s.CreateTenant(ctx, o.owner, &directoryv1.CreateTenantRequest{
				Parent: o.name, TenantId: lastID(o.tenant), Tenant: &directoryv1.Tenant{DisplayName: "again"}})
			return err
		}, domain.ErrAlreadyExists},
	})
}

// TestDepartmentRules: the root department stays, non-empty departments
// are not deleted, and no department moves under its own subtree (R7).
func TestDepartmentRules(t *testing.T) {
	dept := func(ctx context.Context, o *org, id, parent string) (string, error) {
		d, err := o.s.CreateDepartment(ctx, o.owner, &directoryv1.CreateDepartmentRequest{
			Parent: o.name, DepartmentId: id, Department: &directoryv1.Department{DisplayName: id, ParentDepartment: parent}})
		return d.GetName(), err
	}
	root := func(o *org) string { return o.name + "/departments/" + domain.RootDepartment }
	runRules(t, []ruleCase{
		{"delete the root department", func(ctx context.Context, o *org) error {
			return o.s.DeleteDepartment(ctx, o.owner, &directoryv1.DeleteDepartmentRequest{Name: root(o)})
		}, domain.ErrRootDepartmentImmutable},
		{"delete a department with a user", func(ctx context.Context, o *org) error {
			sales, err := dept(ctx, o, "sales", root(o))
			if err != nil {
				return err
			}
			if _, err := o.s.MoveUser(ctx, o.owner, &directoryv1.MoveUserRequest{Name: o.bob, Department: sales}); err != nil {
				return err
			}
			return o.try(func() error {
				return o.s.DeleteDepartment(ctx, o.owner, &directoryv1.DeleteDepartmentRequest{Name: sales})
			})
		}, domain.ErrDepartmentNotEmpty},
		{"move a department under its child", func(ctx context.Context, o *org) error {
			sales, err := dept(ctx, o, "sales", root(o))
			if err != nil {
				return err
			}
			emea, err := dept(ctx, o, "emea", sales)
			if err != nil {
				return err
			}
			return o.try(func() error {
				_, err := o.s.UpdateDepartment(ctx, o.owner, &directoryv1.UpdateDepartmentRequest{
					Department: &directoryv1.Department{Name: sales, ParentDepartment: emea}, UpdateMask: mask("parent_department")})
				return err
			})
		}, domain.ErrCycle},
	})
}

// TestUserRules: emails are unique per organization (R3), and an etag that
// is not the current one changes nothing.
func TestUserRules(t *testing.T) {
	runRules(t, []ruleCase{
		{"email taken", func(ctx context.Context, o *org) error {
			_, err := o.s.CreateUser(ctx, o.owner, &directoryv1.CreateUserRequest{
				Parent: o.name, User: &directoryv1.User{Nickname: "bob2", Email: "bob@acme.example"}})
			return err
		}, domain.ErrEmailTaken},
		{"stale etag", func(ctx context.Context, o *org) error {
			_, err := o.s.DeactivateUser(ctx, o.owner, &directoryv1.DeactivateUserRequest{Name: o.bob, Etag: "W/\"stale\""})
			return err
		}, domain.ErrEtagMismatch},
		{"switch the account system without confirm", func(ctx context.Context, o *org) error {
			_, err := o.s.SwitchAccountSystem(ctx, o.owner, &directoryv1.SwitchAccountSystemRequest{
				Name: o.name + "/accountSystem", AccountSystem: &directoryv1.AccountSystem{Kind: directoryv1.AccountSystem_KIND_OIDC}})
			return err
		}, domain.ErrSwitchUnconfirmed},
	})
}
