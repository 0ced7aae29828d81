package access_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/services/access/domain"
)

// xrCreateRobot creates an on-premises robot in org through the directory,
// as a service; the directory creates its robot account with it.
func (e *env) xrCreateRobot(org, id string) *directoryv1.Robot {
	e.t.Helper()
	r, err := e.d.CreateRobot(context.Background(), &directoryv1.CreateRobotRequest{
		Parent: org, RobotId: id, Robot: &directoryv1.Robot{DisplayName: "Robot " + id, MachineName: id + ".example"},
	}, e.dirSvc)
	if err != nil {
		e.t.Fatalf("CreateRobot %s: %v", id, err)
	}
	return r
}

// xrUsageFixture is an organization with users, robots and a robot of
// another organization, all known to access.
type xrUsageFixture struct {
	org, owner         string
	alice, bob         string
	r1, r2, r3         string
	robotAccount       string
	foreignRobot       string
	alicePassword      string
	ownerEmail, orgTag string
}

func (e *env) xrUsageFixture() *xrUsageFixture {
	e.t.Helper()
	su := e.signUp()
	f := &xrUsageFixture{org: su.GetOrganization().GetName(), owner: su.GetOwner().GetName(), ownerEmail: su.GetOwner().GetEmail()}
	f.orgTag = strings.TrimPrefix(f.org, "organizations/")
	f.alicePassword = "alice's long password"
	a, err := e.d.CreateUser(context.Background(), &directoryv1.CreateUserRequest{
		Parent: f.org, UserId: "alice", InitialPassword: f.alicePassword,
		User: &directoryv1.User{Nickname: "alice", Email: "alice@" + f.orgTag + ".example"},
	}, e.dirSvc)
	if err != nil {
		e.t.Fatalf("CreateUser alice: %v", err)
	}
	f.alice = a.GetName()
	f.bob = e.xrCreateUser(f.org, "bob", "bob").GetName()
	r1 := e.xrCreateRobot(f.org, "r1")
	f.r1, f.robotAccount = r1.GetName(), r1.GetRobotAccount()
	f.r2 = e.xrCreateRobot(f.org, "r2").GetName()
	f.r3 = e.xrCreateRobot(f.org, "r3").GetName()
	other := e.signUp()
	f.foreignRobot = e.xrCreateRobot(other.GetOrganization().GetName(), "r1").GetName()
	if f.robotAccount == "" {
		e.t.Fatal("the directory created no robot account for r1")
	}
	// Wait until access's mirror knows everything (R20 reads it).
	xrEventually(e.t, "the directory feed to bring the robots and accounts", func() bool {
		resp, err := e.a.ListUsableRobots(context.Background(), &accessv1.ListUsableRobotsRequest{Account: f.bob}, e.accSvc)
		if err != nil || len(resp.GetRobots()) != 3 {
			return false
		}
		for _, acc := range []string{f.alice, f.robotAccount} {
			if _, err := e.a.GetRobotUsageScope(context.Background(), &accessv1.GetRobotUsageScopeRequest{Name: acc + "/robotUsageScope"}, e.accSvc); err != nil {
				return false
			}
		}
		return true
	})
	return f
}

// xrSetUsage sets account's robot usage scope as a service.
func (e *env) xrSetUsage(account string, mode accessv1.RobotUsageScope_Mode, robots ...string) (*accessv1.RobotUsageScope, error) {
	return e.a.SetRobotUsageScope(context.Background(), &accessv1.SetRobotUsageScopeRequest{
		RobotUsageScope: &accessv1.RobotUsageScope{Name: account + "/robotUsageScope", Mode: mode, Robots: robots},
	}, e.accSvc)
}

// xrUsageEvents returns the access events of type TypeRobotUsageScopeSet
// about name.
func (e *env) xrUsageEvents(name string) []*eventlogv1.Event {
	e.t.Helper()
	var out []*eventlogv1.Event
	req := &eventlogv1.ListEventsRequest{PageSize: 1000}
	for {
		resp, err := e.events.ListEvents(context.Background(), req, e.accSvc)
		if err != nil {
			e.t.Fatalf("ListEvents: %v", err)
		}
		for _, ev := range resp.GetEvents() {
			if ev.GetType() == domain.TypeRobotUsageScopeSet && ev.GetResource() == name {
				out = append(out, ev)
			}
		}
		if resp.GetNextPageToken() == "" {
			return out
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

// TestRobotUsageScopeCheck: R20, seed 000's table — a manual run uses only
// the logged-in robot whatever the scope; a remote run uses every robot with
// All, the logged-in robot plus the added ones with Specified.
func TestRobotUsageScopeCheck(t *testing.T) {
	e := newEnv(t)
	f := e.xrUsageFixture()
	// alice keeps the default (All); bob and the robot account get
	// Specified with r2.
	for _, acc := range []string{f.bob, f.robotAccount} {
		if _, err := e.xrSetUsage(acc, accessv1.RobotUsageScope_MODE_SPECIFIED, f.r2); err != nil {
			t.Fatalf("SetRobotUsageScope %s: %v", acc, err)
		}
	}
	manual, remote := accessv1.CheckRobotUseRequest_MODE_MANUAL, accessv1.CheckRobotUseRequest_MODE_REMOTE
	unknown := f.org + "/robots/nope"
	tests := []struct {
		name     string
		account  string
		mode     accessv1.CheckRobotUseRequest_Mode
		robot    string
		loggedIn string
		want     bool
	}{
		{"all/manual on the logged-in robot", f.alice, manual, f.r1, f.r1, true},
		{"all/manual on another robot", f.alice, manual, f.r2, f.r1, false},
		{"all/manual logged in nowhere", f.alice, manual, f.r1, "", false},
		{"all/remote on another robot", f.alice, remote, f.r3, f.r1, true},
		{"all/remote logged in nowhere", f.alice, remote, f.r2, "", true},
		{"specified/manual on the logged-in robot", f.bob, manual, f.r1, f.r1, true},
		{"specified/manual on an added robot", f.bob, manual, f.r2, f.r1, false},
		{"specified/remote on the logged-in robot", f.bob, remote, f.r1, f.r1, true},
		{"specified/remote on an added robot", f.bob, remote, f.r2, f.r1, true},
		{"specified/remote on an added robot, logged in nowhere", f.bob, remote, f.r2, "", true},
		{"specified/remote on another robot", f.bob, remote, f.r3, f.r1, false},
		{"specified/remote on another robot, logged in nowhere", f.bob, remote, f.r3, "", false},
		{"robot account specified/remote on an added robot", f.robotAccount, remote, f.r2, "", true},
		{"robot account specified/remote on another robot", f.robotAccount, remote, f.r3, "", false},
		{"robot account specified/manual on its robot", f.robotAccount, manual, f.r1, f.r1, true},
		{"all/remote on a robot of another organization", f.alice, remote, f.foreignRobot, "", false},
		{"all/manual on a robot of another organization", f.alice, manual, f.foreignRobot, f.foreignRobot, false},
		{"all/remote on an unknown robot", f.alice, remote, unknown, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := e.a.CheckRobotUse(context.Background(), &accessv1.CheckRobotUseRequest{
				Account: tt.account, Robot: tt.robot, Mode: tt.mode, LoggedInRobot: tt.loggedIn,
			}, e.accSvc)
			if err != nil {
				t.Fatalf("CheckRobotUse: %v", err)
			}
			if resp.GetAllowed() != tt.want {
				t.Errorf("allowed = %v (%s), want %v", resp.GetAllowed(), resp.GetReason(), tt.want)
			}
			if resp.GetReason() == "" {
				t.Error("no reason")
			}
		})
	}

	// An unknown account, and invalid modes.
	_, err := e.a.CheckRobotUse(context.Background(), &accessv1.CheckRobotUseRequest{
		Account: f.org + "/users/nobody", Robot: f.r1, Mode: remote,
	}, e.accSvc)
	if status.Code(err) != codes.NotFound {
		t.Errorf("unknown account: %v, want NotFound", err)
	}
	_, err = e.a.CheckRobotUse(context.Background(), &accessv1.CheckRobotUseRequest{Account: f.alice, Robot: f.r1}, e.accSvc)
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("mode unspecified: %v, want InvalidArgument", err)
	}
}

// TestRobotUsageScopeSetGet: R20 — the default is All; Set validates the
// account and the robots, keeps an etag and records one event per change.
func TestRobotUsageScopeSetGet(t *testing.T) {
	e := newEnv(t)
	f := e.xrUsageFixture()
	name := f.bob + "/robotUsageScope"
	get := func() *accessv1.RobotUsageScope {
		t.Helper()
		u, err := e.a.GetRobotUsageScope(context.Background(), &accessv1.GetRobotUsageScopeRequest{Name: name}, e.accSvc)
		if err != nil {
			t.Fatalf("GetRobotUsageScope: %v", err)
		}
		return u
	}
	def := get()
	if def.GetName() != name || def.GetMode() != accessv1.RobotUsageScope_MODE_ALL || len(def.GetRobots()) != 0 || def.GetEtag() == "" {
		t.Errorf("default scope = %v, want MODE_ALL named %s with an etag", def, name)
	}

	// Read-modify-write with the default's etag.
	set, err := e.a.SetRobotUsageScope(context.Background(), &accessv1.SetRobotUsageScopeRequest{
		RobotUsageScope: &accessv1.RobotUsageScope{Name: name, Mode: accessv1.RobotUsageScope_MODE_SPECIFIED, Robots: []string{f.r2, f.r3}, Etag: def.GetEtag()},
	}, e.accSvc)
	if err != nil {
		t.Fatalf("SetRobotUsageScope: %v", err)
	}
	if set.GetMode() != accessv1.RobotUsageScope_MODE_SPECIFIED || !slices.Equal(set.GetRobots(), []string{f.r2, f.r3}) || set.GetUpdateTime() == nil || set.GetEtag() == def.GetEtag() {
		t.Errorf("set = %v", set)
	}
	if got := get(); got.GetEtag() != set.GetEtag() || !slices.Equal(got.GetRobots(), set.GetRobots()) {
		t.Errorf("get after set = %v, want %v", got, set)
	}
	evs := e.xrUsageEvents(name)
	if len(evs) != 1 {
		t.Fatalf("%d robot usage events, want 1", len(evs))
	}
	if evs[0].GetOrganization() != f.org || evs[0].GetOperation() != eventlogv1.Operation_OPERATION_CREATE {
		t.Errorf("event = %v", evs[0])
	}

	// A stale etag is refused; the same scope again changes nothing.
	_, err = e.a.SetRobotUsageScope(context.Background(), &accessv1.SetRobotUsageScopeRequest{
		RobotUsageScope: &accessv1.RobotUsageScope{Name: name, Mode: accessv1.RobotUsageScope_MODE_ALL, Etag: def.GetEtag()},
	}, e.accSvc)
	if status.Code(err) != codes.Aborted {
		t.Errorf("stale etag: %v, want Aborted", err)
	}
	if _, err := e.xrSetUsage(f.bob, accessv1.RobotUsageScope_MODE_SPECIFIED, f.r2, f.r3); err != nil {
		t.Fatalf("same scope again: %v", err)
	}
	if n := len(e.xrUsageEvents(name)); n != 1 {
		t.Errorf("%d events after an unchanged set, want 1", n)
	}
	if _, err := e.xrSetUsage(f.bob, accessv1.RobotUsageScope_MODE_ALL); err != nil {
		t.Fatalf("back to all: %v", err)
	}
	evs = e.xrUsageEvents(name)
	if len(evs) != 2 || evs[1].GetOperation() != eventlogv1.Operation_OPERATION_UPDATE {
		t.Errorf("events after a change: %v", evs)
	}

	// Validation.
	for _, tc := range []struct {
		what    string
		account string
		mode    accessv1.RobotUsageScope_Mode
		robots  []string
		code    codes.Code
	}{
		{"robot of another organization", f.bob, accessv1.RobotUsageScope_MODE_SPECIFIED, []string{f.foreignRobot}, codes.InvalidArgument},
		{"unknown robot", f.bob, accessv1.RobotUsageScope_MODE_SPECIFIED, []string{f.org + "/robots/nope"}, codes.InvalidArgument},
		{"duplicate robots", f.bob, accessv1.RobotUsageScope_MODE_SPECIFIED, []string{f.r1, f.r1}, codes.InvalidArgument},
		{"mode unspecified", f.bob, accessv1.RobotUsageScope_MODE_UNSPECIFIED, nil, codes.InvalidArgument},
		{"unknown account", f.org + "/users/nobody", accessv1.RobotUsageScope_MODE_ALL, nil, codes.NotFound},
		{"a group is no account", f.org + "/groups/everyone", accessv1.RobotUsageScope_MODE_ALL, nil, codes.InvalidArgument},
	} {
		if _, err := e.xrSetUsage(tc.account, tc.mode, tc.robots...); status.Code(err) != tc.code {
			t.Errorf("%s: %v, want %v", tc.what, err, tc.code)
		}
	}

	// Users of another organization see nothing of it.
	other := e.signUp()
	_, err = e.a.GetRobotUsageScope(e.as(other.GetOwner().GetName(), other.GetOrganization().GetName()), &accessv1.GetRobotUsageScopeRequest{Name: name}, e.accSvc)
	if status.Code(err) != codes.NotFound {
		t.Errorf("get from another organization: %v, want NotFound", err)
	}
}

// TestListUsableRobots: R20 — robot monitoring shows only the robots the
// account may use: all of its organization's with All, the added ones with
// Specified; by name, in pages.
func TestListUsableRobots(t *testing.T) {
	e := newEnv(t)
	f := e.xrUsageFixture()
	list := func(account string, pageSize int32) []string {
		t.Helper()
		var names []string
		req := &accessv1.ListUsableRobotsRequest{Account: account, PageSize: pageSize}
		for {
			resp, err := e.a.ListUsableRobots(context.Background(), req, e.accSvc)
			if err != nil {
				t.Fatalf("ListUsableRobots: %v", err)
			}
			for _, r := range resp.GetRobots() {
				names = append(names, r.GetName())
				if r.GetDisplayName() == "" || r.GetMachineName() == "" {
					t.Errorf("robot %v without display or machine name", r)
				}
			}
			if resp.GetNextPageToken() == "" {
				return names
			}
			if len(resp.GetRobots()) != int(pageSize) {
				t.Errorf("short page %d before the last", len(resp.GetRobots()))
			}
			req.PageToken = resp.GetNextPageToken()
		}
	}
	all := []string{f.r1, f.r2, f.r3}
	if got := list(f.alice, 0); !slices.Equal(got, all) {
		t.Errorf("all: %q, want %q", got, all)
	}
	if got := list(f.alice, 1); !slices.Equal(got, all) {
		t.Errorf("all in pages of 1: %q, want %q", got, all)
	}
	if _, err := e.xrSetUsage(f.bob, accessv1.RobotUsageScope_MODE_SPECIFIED, f.r3, f.r1); err != nil {
		t.Fatal(err)
	}
	if got := list(f.bob, 0); !slices.Equal(got, []string{f.r1, f.r3}) {
		t.Errorf("specified: %q, want r1 and r3", got)
	}
	if got := list(f.bob, 1); !slices.Equal(got, []string{f.r1, f.r3}) {
		t.Errorf("specified in pages of 1: %q, want r1 and r3", got)
	}

	// A robot deleted in the directory no longer matches (stale entries of
	// a scope are simply not found).
	if _, err := e.d.DeleteRobot(context.Background(), &directoryv1.DeleteRobotRequest{Name: f.r3}, e.dirSvc); err != nil {
		t.Fatalf("DeleteRobot: %v", err)
	}
	xrEventually(t, "the deleted robot to disappear", func() bool {
		return slices.Equal(list(f.bob, 0), []string{f.r1})
	})
	resp, err := e.a.CheckRobotUse(context.Background(), &accessv1.CheckRobotUseRequest{
		Account: f.bob, Robot: f.r3, Mode: accessv1.CheckRobotUseRequest_MODE_REMOTE,
	}, e.accSvc)
	if err != nil || resp.GetAllowed() {
		t.Errorf("check on a deleted robot: %v, %v; want refused", resp, err)
	}

	// A bad page token is refused.
	_, err = e.a.ListUsableRobots(context.Background(), &accessv1.ListUsableRobotsRequest{Account: f.alice, PageToken: "bogus"}, e.accSvc)
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("bad page token: %v, want InvalidArgument", err)
	}
}

// TestRobotUseCallers: CheckRobotUse and ListUsableRobots answer services,
// the account itself, and holders of users.view at its organization (R20,
// R17); others are refused.
func TestRobotUseCallers(t *testing.T) {
	e := newEnv(t)
	f := e.xrUsageFixture()
	// Every user holds users.view (Everyone's immutable User role); a
	// robot account's key does not.
	aliceToken := e.signIn(f.org, "alice@"+f.orgTag+".example", f.alicePassword)
	key, err := e.d.CreateApiKey(e.as(f.owner, f.org), &directoryv1.CreateApiKeyRequest{
		Parent: f.robotAccount, ApiKey: &directoryv1.ApiKey{DisplayName: "asker"},
	}, e.dirSvc)
	if err != nil {
		t.Fatalf("CreateApiKey: %v", err)
	}
	robotToken := key.GetSecret()
	ownerToken := e.signIn(f.org, f.ownerEmail, "correct horse battery")
	check := func(ctxToken, account string) error {
		_, err := e.a.CheckRobotUse(bearer(ctxToken), &accessv1.CheckRobotUseRequest{
			Account: account, Robot: f.r1, Mode: accessv1.CheckRobotUseRequest_MODE_REMOTE,
		})
		if err != nil {
			return err
		}
		_, err = e.a.ListUsableRobots(bearer(ctxToken), &accessv1.ListUsableRobotsRequest{Account: account})
		return err
	}
	if err := check(aliceToken, f.alice); err != nil {
		t.Errorf("alice about herself: %v", err)
	}
	if err := check(aliceToken, f.bob); err != nil {
		t.Errorf("alice (users.view through Everyone) about bob: %v", err)
	}
	if err := check(robotToken, f.robotAccount); err != nil {
		t.Errorf("robot account about itself: %v", err)
	}
	if err := check(robotToken, f.bob); status.Code(err) != codes.PermissionDenied {
		t.Errorf("robot account about bob: %v, want PermissionDenied", err)
	}
	xrEventually(t, "the owner's rights", func() bool { return check(ownerToken, f.bob) == nil })
	other := e.signUp()
	otherToken := e.signIn(other.GetOrganization().GetName(), other.GetOwner().GetEmail(), "correct horse battery")
	if err := check(otherToken, f.bob); status.Code(err) != codes.NotFound {
		t.Errorf("another organization's owner about bob: %v, want NotFound", err)
	}
}
