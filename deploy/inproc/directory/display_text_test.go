package directory_test

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/services/directory/oidcauth/oidctest"
)

// Issue 9 item 8: display names and other name-like text refuse NUL, the
// other C0 and C1 controls, DEL, and the bidirectional formatting
// characters, with InvalidArgument naming the field, on every create and
// update that takes them; and nothing changes. Names in any script,
// right-to-left ones included, are fine.
func TestDisplayTextRefusesControls(t *testing.T) {
	e := newEnv(t)
	su := e.signUp()
	org := su.GetOrganization().GetName()
	ctx := e.asOwner(su)
	const (
		tenant  = "organizations/o9/tenants/t1"
		service = tenant + "/services/s1"
	)
	// Each call sends text in one field, named by field.
	calls := []struct {
		field string
		call  func(text string) error
	}{
		{"organization_display_name", func(s string) error {
			_, err := e.c.SignUp(context.Background(), &directoryv1.SignUpRequest{OrganizationDisplayName: s,
				Nickname: "owner", Email: "owner@x.example", Password: "long enough password"})
			return err
		}},
		{"display_name", func(s string) error {
			_, err := e.c.SignUp(context.Background(), &directoryv1.SignUpRequest{OrganizationDisplayName: "Org", DisplayName: s,
				Nickname: "owner", Email: "owner@x.example", Password: "long enough password"})
			return err
		}},
		{"department.display_name", func(s string) error {
			_, err := e.c.CreateDepartment(ctx, &directoryv1.CreateDepartmentRequest{Parent: org, Department: &directoryv1.Department{DisplayName: s}}, e.svc)
			return err
		}},
		{"department.display_name", func(s string) error {
			_, err := e.c.UpdateDepartment(ctx, &directoryv1.UpdateDepartmentRequest{Department: &directoryv1.Department{
				Name: org + "/departments/root", DisplayName: s}}, e.svc)
			return err
		}},
		{"user.display_name", func(s string) error {
			_, err := e.c.CreateUser(ctx, &directoryv1.CreateUserRequest{Parent: org, InitialPassword: "long enough password",
				User: &directoryv1.User{Nickname: "u", Email: "u@x.example", DisplayName: s}}, e.svc)
			return err
		}},
		{"user.display_name", func(s string) error {
			_, err := e.c.UpdateUser(ctx, &directoryv1.UpdateUserRequest{User: &directoryv1.User{Name: su.GetOwner().GetName(), DisplayName: s}}, e.svc)
			return err
		}},
		{"group.display_name", func(s string) error {
			_, err := e.c.CreateGroup(ctx, &directoryv1.CreateGroupRequest{Parent: org, Group: &directoryv1.Group{DisplayName: s}}, e.svc)
			return err
		}},
		{"group.display_name", func(s string) error {
			_, err := e.c.UpdateGroup(ctx, &directoryv1.UpdateGroupRequest{Group: &directoryv1.Group{Name: org + "/groups/everyone", DisplayName: s}}, e.svc)
			return err
		}},
		{"robot.display_name", func(s string) error {
			_, err := e.c.CreateRobot(ctx, &directoryv1.CreateRobotRequest{Parent: org, Robot: &directoryv1.Robot{DisplayName: s, MachineName: "m1"}}, e.svc)
			return err
		}},
		{"robot.machine_name", func(s string) error {
			_, err := e.c.CreateRobot(ctx, &directoryv1.CreateRobotRequest{Parent: org, Robot: &directoryv1.Robot{DisplayName: "R", MachineName: s}}, e.svc)
			return err
		}},
		{"robot_account.display_name", func(s string) error {
			_, err := e.c.CreateRobotAccount(ctx, &directoryv1.CreateRobotAccountRequest{Parent: org, RobotAccount: &directoryv1.RobotAccount{DisplayName: s}}, e.svc)
			return err
		}},
		{"external_app.display_name", func(s string) error {
			_, err := e.c.CreateExternalApp(ctx, &directoryv1.CreateExternalAppRequest{Parent: org, ExternalApp: &directoryv1.ExternalApp{DisplayName: s}}, e.svc)
			return err
		}},
		{"tenant.display_name", func(s string) error {
			_, err := e.c.CreateTenant(ctx, &directoryv1.CreateTenantRequest{Parent: org, Tenant: &directoryv1.Tenant{DisplayName: s}}, e.svc)
			return err
		}},
		{"service.display_name", func(s string) error {
			_, err := e.c.CreateService(ctx, &directoryv1.CreateServiceRequest{Parent: tenant, Service: &directoryv1.Service{DisplayName: s, Type: "orchestrator"}}, e.svc)
			return err
		}},
		{"folder.display_name", func(s string) error {
			_, err := e.c.CreateFolder(ctx, &directoryv1.CreateFolderRequest{Parent: service, Folder: &directoryv1.Folder{DisplayName: s}}, e.svc)
			return err
		}},
		{"project.display_name", func(s string) error {
			_, err := e.c.CreateProject(ctx, &directoryv1.CreateProjectRequest{Parent: service, Project: &directoryv1.Project{DisplayName: s}}, e.svc)
			return err
		}},
	}
	bad := map[string]string{
		"NUL":                     "Eve\x00Admin",
		"tab":                     "Eve\tAdmin",
		"newline":                 "Eve\nAdmin",
		"escape":                  "Eve\x1b[31mAdmin",
		"DEL":                     "Eve\x7f",
		"C1 NEL":                  "Eve\u0085Admin",
		"C1 CSI":                  "Eve\u009bAdmin",
		"Arabic letter mark":      "Eve\u061c",
		"left-to-right mark":      "Eve\u200e",
		"right-to-left mark":      "Eve\u200f",
		"LRE":                     "\u202aEve",
		"RLO":                     "\u202eevE nimdA",
		"PDF":                     "Eve\u202c",
		"LRI":                     "\u2066Eve",
		"pop directional isolate": "Eve\u2069",
	}
	before := e.head()
	for name, text := range bad {
		for i, c := range calls {
			t.Run(fmt.Sprintf("%s/%d-%s", name, i, c.field), func(t *testing.T) {
				err := c.call(text)
				if status.Code(err) != codes.InvalidArgument || securityField(err) != c.field {
					t.Fatalf("error = %v (field %q), want InvalidArgument on %s", err, securityField(err), c.field)
				}
			})
		}
	}
	if head := e.head(); head != before {
		t.Fatalf("refused calls changed the directory: head %d, was %d", head, before)
	}

	// Names in any script pass.
	for _, text := range []string{"Zoë Ünal", "名前", "محمد", "שלום עולם", "Ω-team (2)", "O'Brien & Sons"} {
		g, err := e.c.CreateGroup(ctx, &directoryv1.CreateGroupRequest{Parent: org, Group: &directoryv1.Group{DisplayName: text}}, e.svc)
		if err != nil || g.GetDisplayName() != text {
			t.Fatalf("CreateGroup %q = %v, %v", text, g, err)
		}
	}
}

// Issue 9 item 8: a user provisioned from an identity provider gets a
// display name without what the API refuses, whatever the "name" claim
// holds.
func TestProvisionedDisplayName(t *testing.T) {
	e := privateIssuerEnv(t, nil)
	su := e.signUp()
	iss := startIssuer(t)
	group := e.createGroup(su, "finance")
	e.mustSwitchTo(su, iss.URL(), map[string]string{"fin": group})
	in, err := e.externalSignIn(su.GetOrganization().GetName(), iss, oidctest.Claims{Subject: "m1", Email: "m1@idp.example",
		Name: "\u202eMallory\x00 \u2066Admin\u2069", Groups: []string{"fin"}})
	if err != nil {
		t.Fatal(err)
	}
	u, err := e.c.GetUser(e.asOwner(su), &directoryv1.GetUserRequest{Name: in.GetPrincipal()}, e.svc)
	if err != nil || u.GetDisplayName() != "Mallory Admin" {
		t.Fatalf("provisioned user = %v, %v; want display name %q", u, err, "Mallory Admin")
	}
}
