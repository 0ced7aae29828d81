package domain_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/services/directory/domain"
)

// TestR6RobotDeployedWithItsAccount (R6): deploying a robot creates its
// robot account (the robot user) in the same change: the account has the
// robot's ID and display name and names the robot, the robot names it,
// and the two creation events follow each other, the account's carrying
// the account access management gives the Robot role from.
func TestR6RobotDeployedWithItsAccount(t *testing.T) {
	o := newOrg(t)
	ctx := context.Background()
	head := o.head(t)
	r, err := o.s.CreateRobot(ctx, o.owner, &directoryv1.CreateRobotRequest{Parent: o.name, RobotId: "r1",
		Robot: &directoryv1.Robot{DisplayName: "Robot 1", MachineName: "r1.local"}})
	if err != nil {
		t.Fatal(err)
	}
	account := o.name + "/robotAccounts/r1"
	if r.GetName() != o.name+"/robots/r1" || r.GetRobotAccount() != account {
		t.Fatalf("robot %v; want %s/robots/r1 with the account %s", r, o.name, account)
	}
	ra, err := o.s.GetRobotAccount(ctx, o.owner, &directoryv1.GetRobotAccountRequest{Name: account})
	if err != nil {
		t.Fatal(err)
	}
	if ra.GetDisplayName() != "Robot 1" || ra.GetRobot() != r.GetName() {
		t.Errorf("robot account %v; want display name %q and robot %s", ra, "Robot 1", r.GetName())
	}
	list, err := o.s.ListRobotAccounts(ctx, o.owner, &directoryv1.ListRobotAccountsRequest{Parent: o.name})
	if err != nil || len(list.GetRobotAccounts()) != 1 || list.GetRobotAccounts()[0].GetName() != account {
		t.Errorf("ListRobotAccounts: %v, %v; want the robot's account", list, err)
	}

	evs, err := o.log.Read(ctx, head, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range evs {
		got = append(got, ev.GetType()+" "+ev.GetResource())
	}
	if want := []string{domain.TypeRobotCreated + " " + r.GetName(), domain.TypeRobotAccountCreated + " " + account}; !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	data := &directoryv1.RobotAccount{}
	if err := evs[1].GetData().UnmarshalTo(data); err != nil || data.GetName() != account || data.GetRobot() != r.GetName() {
		t.Errorf("the robot account's creation event carries %v, %v", data, err)
	}
}

// TestR6PrincipalsAuthenticate (R6): a robot's account, a stand-alone
// robot account and an external application are principals of their
// organization: each holds API keys, and a key verifies as that principal
// with its kind.
func TestR6PrincipalsAuthenticate(t *testing.T) {
	o := newOrg(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		create func() (string, error)
		kind   directoryv1.PrincipalKind
	}{
		{"a robot's account", func() (string, error) {
			r, err := o.s.CreateRobot(ctx, o.owner, &directoryv1.CreateRobotRequest{Parent: o.name, RobotId: "r1",
				Robot: &directoryv1.Robot{DisplayName: "Robot 1", MachineName: "r1.local"}})
			return r.GetRobotAccount(), err
		}, directoryv1.PrincipalKind_PRINCIPAL_KIND_ROBOT_ACCOUNT},
		{"a stand-alone robot account", func() (string, error) {
			ra, err := o.s.CreateRobotAccount(ctx, o.owner, &directoryv1.CreateRobotAccountRequest{Parent: o.name, RobotAccountId: "ci",
				RobotAccount: &directoryv1.RobotAccount{DisplayName: "CI"}})
			return ra.GetName(), err
		}, directoryv1.PrincipalKind_PRINCIPAL_KIND_ROBOT_ACCOUNT},
		{"an external application", func() (string, error) {
			app, err := o.s.CreateExternalApp(ctx, o.owner, &directoryv1.CreateExternalAppRequest{Parent: o.name, ExternalAppId: "erp",
				ExternalApp: &directoryv1.ExternalApp{DisplayName: "ERP"}})
			return app.GetName(), err
		}, directoryv1.PrincipalKind_PRINCIPAL_KIND_EXTERNAL_APP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name, err := tc.create()
			if err != nil {
				t.Fatal(err)
			}
			k, err := o.s.CreateApiKey(ctx, o.owner, &directoryv1.CreateApiKeyRequest{Parent: name, ApiKey: &directoryv1.ApiKey{DisplayName: "key"}})
			if err != nil {
				t.Fatalf("CreateApiKey of %s: %v", name, err)
			}
			p, err := o.s.VerifyCredential(ctx, k.GetSecret(), false)
			if err != nil {
				t.Fatalf("VerifyCredential of %s's key: %v", name, err)
			}
			if p.Name != name || p.Kind != tc.kind || p.Organization != o.name || p.Owner {
				t.Errorf("the key verifies as %+v; want %s, %v, of %s", p, name, tc.kind, o.name)
			}
		})
	}
}

// TestR6RobotAccountBoundToItsRobot (R6): a robot's account goes with its
// robot, never on its own; a stand-alone robot account and an external
// application are deleted directly.
func TestR6RobotAccountBoundToItsRobot(t *testing.T) {
	robot := func(ctx context.Context, o *org) (*directoryv1.Robot, error) {
		return o.s.CreateRobot(ctx, o.owner, &directoryv1.CreateRobotRequest{Parent: o.name, RobotId: "r1",
			Robot: &directoryv1.Robot{DisplayName: "Robot 1", MachineName: "r1.local"}})
	}
	runRules(t, []ruleCase{
		{"delete a robot's account", func(ctx context.Context, o *org) error {
			r, err := robot(ctx, o)
			if err != nil {
				return err
			}
			return o.try(func() error {
				return o.s.DeleteRobotAccount(ctx, o.owner, &directoryv1.DeleteRobotAccountRequest{Name: r.GetRobotAccount()})
			})
		}, domain.ErrRobotAccountBound},
		{"delete a robot, its account with it", func(ctx context.Context, o *org) error {
			r, err := robot(ctx, o)
			if err != nil {
				return err
			}
			if err := o.s.DeleteRobot(ctx, o.owner, &directoryv1.DeleteRobotRequest{Name: r.GetName()}); err != nil {
				return err
			}
			if _, err := o.s.GetRobotAccount(ctx, o.owner, &directoryv1.GetRobotAccountRequest{Name: r.GetRobotAccount()}); !errors.Is(err, domain.ErrNotFound) {
				return errors.Join(errors.New("the robot's account outlived it"), err)
			}
			return nil
		}, nil},
		{"delete a stand-alone robot account", func(ctx context.Context, o *org) error {
			ra, err := o.s.CreateRobotAccount(ctx, o.owner, &directoryv1.CreateRobotAccountRequest{Parent: o.name, RobotAccountId: "ci",
				RobotAccount: &directoryv1.RobotAccount{DisplayName: "CI"}})
			if err != nil {
				return err
			}
			return o.s.DeleteRobotAccount(ctx, o.owner, &directoryv1.DeleteRobotAccountRequest{Name: ra.GetName()})
		}, nil},
		{"delete an external application", func(ctx context.Context, o *org) error {
			app, err := o.s.CreateExternalApp(ctx, o.owner, &directoryv1.CreateExternalAppRequest{Parent: o.name, ExternalAppId: "erp",
				ExternalApp: &directoryv1.ExternalApp{DisplayName: "ERP"}})
			if err != nil {
				return err
			}
			return o.s.DeleteExternalApp(ctx, o.owner, &directoryv1.DeleteExternalAppRequest{Name: app.GetName()})
		}, nil},
	})
}
