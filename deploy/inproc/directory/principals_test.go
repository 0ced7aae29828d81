package directory_test

// Tests of the non-human principals (R6: robots, robot accounts, external
// applications) and their API keys (R10), through the real server.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/services/directory/credential"
	"steward.dev/services/directory/domain"
)

// prReason returns the ErrorInfo reason of a status error, or "".
func prReason(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return ""
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// prWant fails unless err has code and (when reason is set) reason.
func prWant(t *testing.T, what string, err error, code codes.Code, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: succeeded, want %v %s", what, code, reason)
	}
	if got := status.Code(err); got != code {
		t.Fatalf("%s: code %v, want %v (%v)", what, got, code, err)
	}
	if reason != "" && prReason(err) != reason {
		t.Fatalf("%s: reason %q, want %q (%v)", what, prReason(err), reason, err)
	}
}

// prHead returns the sequence of the last event.
func prHead(e *env) uint64 {
	e.t.Helper()
	evs := e.eventsAfter(0)
	if len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].GetSequence()
}

// prEvents returns "type resource" of every event after seq.
func prEvents(e *env, after uint64) []string {
	e.t.Helper()
	var out []string
	for _, ev := range e.eventsAfter(after) {
		out = append(out, ev.GetType()+" "+ev.GetResource())
	}
	return out
}

func prSameEvents(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// prClock is a test clock: real time shifted by an adjustable offset.
type prClock struct{ offset atomic.Int64 }

func (c *prClock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *prClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// newPrEnv is newEnv with the domain's clock set to clk.
func newPrEnv(t *testing.T, clk *prClock) *env {
	t.Helper()
	return newEnvWith(t, domain.Options{Clock: clk.now})
}

// prVerify verifies an API key secret through VerifyCredential (which uses
// domain.LookupAPIKey).
func prVerify(e *env, secret string) (*directoryv1.VerifyCredentialResponse, error) {
	return e.c.VerifyCredential(context.Background(), &directoryv1.VerifyCredentialRequest{
		Credential: &directoryv1.VerifyCredentialRequest_ApiKey{ApiKey: secret},
	}, e.svc)
}

func prCreateRobot(t *testing.T, e *env, ctx context.Context, org, id, display, machine string) *directoryv1.Robot {
	t.Helper()
	r, err := e.c.CreateRobot(ctx, &directoryv1.CreateRobotRequest{
		Parent: org, RobotId: id,
		Robot: &directoryv1.Robot{DisplayName: display, MachineName: machine},
	}, e.svc)
	if err != nil {
		t.Fatalf("CreateRobot %s: %v", id, err)
	}
	return r
}

func prCreateKey(t *testing.T, e *env, ctx context.Context, parent, display string) *directoryv1.CreateApiKeyResponse {
	t.Helper()
	resp, err := e.c.CreateApiKey(ctx, &directoryv1.CreateApiKeyRequest{
		Parent: parent, ApiKey: &directoryv1.ApiKey{DisplayName: display},
	}, e.svc)
	if err != nil {
		t.Fatalf("CreateApiKey %s: %v", display, err)
	}
	return resp
}

const (
	prRequestID1 = "0b8f3c1e-8d43-4f6a-9a51-6f1c2b7e9d01"
	prRequestID2 = "5d2a7e4b-1c3f-4b8e-8f2a-9e6d1c0b7a02"
)

// R6: a robot is created together with its robot account, in one
// transaction, with both events (access management grants the Robot role
// from the robot-account event).
func TestR6CreateRobotCreatesItsAccount(t *testing.T) {
	e := newEnv(t)
	su := e.signUp()
	ctx := e.asOwner(su)
	org := su.GetOrganization().GetName()
	seq := prHead(e)

	r := prCreateRobot(t, e, ctx, org, "r1", "Build robot", "BUILD-01")
	if r.GetName() != org+"/robots/r1" || r.GetRobotAccount() != org+"/robotAccounts/r1" ||
		r.GetDisplayName() != "Build robot" || r.GetMachineName() != "BUILD-01" ||
		r.GetEtag() == "" || r.GetCreateTime() == nil || r.GetUpdateTime() == nil {
		t.Fatalf("robot = %v", r)
	}
	ra, err := e.c.GetRobotAccount(ctx, &directoryv1.GetRobotAccountRequest{Name: r.GetRobotAccount()}, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	if ra.GetRobot() != r.GetName() || ra.GetDisplayName() != "Build robot" || ra.GetEtag() == "" {
		t.Fatalf("robot account = %v", ra)
	}
	got, err := e.c.GetRobot(ctx, &directoryv1.GetRobotRequest{Name: r.GetName()}, e.svc)
	if err != nil || !proto.Equal(got, r) {
		t.Fatalf("GetRobot = %v, %v; want %v", got, err, r)
	}
	evs := e.eventsAfter(seq)
	prSameEvents(t, prEvents(e, seq), []string{
		domain.TypeRobotCreated + " " + r.GetName(),
		domain.TypeRobotAccountCreated + " " + ra.GetName(),
	})
	if evs[0].GetSequence()+1 != evs[1].GetSequence() || evs[1].GetOperation() != eventlogv1.Operation_OPERATION_CREATE {
		t.Fatalf("events = %v", evs)
	}
	data := &directoryv1.RobotAccount{}
	if err := evs[1].GetData().UnmarshalTo(data); err != nil || data.GetRobot() != r.GetName() {
		t.Fatalf("robot account event data = %v, %v", data, err)
	}

	// A server-chosen ID is valid and shared by robot and account.
	r2, err := e.c.CreateRobot(ctx, &directoryv1.CreateRobotRequest{Parent: org,
		Robot: &directoryv1.Robot{DisplayName: "Other", MachineName: "M2", Description: "spare"}}, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimPrefix(r2.GetName(), org+"/robots/")
	if id == "" || r2.GetRobotAccount() != org+"/robotAccounts/"+id || r2.GetDescription() != "spare" {
		t.Fatalf("robot = %v", r2)
	}
}

// R6: refusals of CreateRobot; nothing is half-created.
func TestR6CreateRobotRefusals(t *testing.T) {
	e := newEnv(t)
	su := e.signUp()
	ctx := e.asOwner(su)
	org := su.GetOrganization().GetName()
	prCreateRobot(t, e, ctx, org, "r1", "One", "M1")

	_, err := e.c.CreateRobot(ctx, &directoryv1.CreateRobotRequest{Parent: org, RobotId: "r1",
		Robot: &directoryv1.Robot{DisplayName: "Again", MachineName: "M1"}}, e.svc)
	prWant(t, "duplicate robot", err, codes.AlreadyExists, "ALREADY_EXISTS")

	// A stand-alone robot account holding the ID blocks the robot.
	if _, err := e.c.CreateRobotAccount(ctx, &directoryv1.CreateRobotAccountRequest{Parent: org, RobotAccountId: "r2",
		RobotAccount: &directoryv1.RobotAccount{DisplayName: "Stand-alone"}}, e.svc); err != nil {
		t.Fatal(err)
	}
	seq := prHead(e)
	_, err = e.c.CreateRobot(ctx, &directoryv1.CreateRobotRequest{Parent: org, RobotId: "r2",
		Robot: &directoryv1.Robot{DisplayName: "Two", MachineName: "M2"}}, e.svc)
	prWant(t, "robot over existing account", err, codes.AlreadyExists, "ALREADY_EXISTS")
	_, err = e.c.GetRobot(ctx, &directoryv1.GetRobotRequest{Name: org + "/robots/r2"}, e.svc)
	prWant(t, "half-created robot", err, codes.NotFound, "")
	if evs := prEvents(e, seq); len(evs) != 0 {
		t.Fatalf("refused create emitted %v", evs)
	}

	for name, req := range map[string]*directoryv1.CreateRobotRequest{
		"no machine name": {Parent: org, Robot: &directoryv1.Robot{DisplayName: "X"}},
		"no display name": {Parent: org, Robot: &directoryv1.Robot{MachineName: "X"}},
		"no robot":        {Parent: org},
		"bad id":          {Parent: org, RobotId: "Bad_ID", Robot: &directoryv1.Robot{DisplayName: "X", MachineName: "X"}},
		"bad request id":  {Parent: org, RequestId: "nope", Robot: &directoryv1.Robot{DisplayName: "X", MachineName: "X"}},
	} {
		_, err := e.c.CreateRobot(ctx, req, e.svc)
		prWant(t, name, err, codes.InvalidArgument, "")
	}
	_, err = e.c.CreateRobotAccount(ctx, &directoryv1.CreateRobotAccountRequest{Parent: org, RobotAccount: &directoryv1.RobotAccount{}}, e.svc)
	prWant(t, "account without display name", err, codes.InvalidArgument, "")
	_, err = e.c.CreateExternalApp(ctx, &directoryv1.CreateExternalAppRequest{Parent: org, ExternalApp: &directoryv1.ExternalApp{}}, e.svc)
	prWant(t, "app without display name", err, codes.InvalidArgument, "")
}

// R6, R10: another organization's principals and keys are NotFound, for
// every method (never leak their existence).
func TestR6CrossOrganizationNotFound(t *testing.T) {
	e := newEnv(t)
	su := e.signUp()
	ctx := e.asOwner(su)
	org := su.GetOrganization().GetName()
	r := prCreateRobot(t, e, ctx, org, "r1", "One", "M1")
	app, err := e.c.CreateExternalApp(ctx, &directoryv1.CreateExternalAppRequest{Parent: org, ExternalAppId: "app",
		ExternalApp: &directoryv1.ExternalApp{DisplayName: "CRM"}}, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	key := prCreateKey(t, e, ctx, r.GetRobotAccount(), "k")

	other := e.signUp()
	octx := e.asOwner(other)
	seq := prHead(e)
	calls := map[string]func() error{
		"GetRobot": func() error {
			_, err := e.c.GetRobot(octx, &directoryv1.GetRobotRequest{Name: r.GetName()}, e.svc)
			return err
		},
		"ListRobots": func() error {
			_, err := e.c.ListRobots(octx, &directoryv1.ListRobotsRequest{Parent: org}, e.svc)
			return err
		},
		"CreateRobot": func() error {
			_, err := e.c.CreateRobot(octx, &directoryv1.CreateRobotRequest{Parent: org, Robot: &directoryv1.Robot{DisplayName: "X", MachineName: "X"}}, e.svc)
			return err
		},
		"UpdateRobot": func() error {
			_, err := e.c.UpdateRobot(octx, &directoryv1.UpdateRobotRequest{Robot: &directoryv1.Robot{Name: r.GetName(), DisplayName: "X", MachineName: "X"}}, e.svc)
			return err
		},
		"DeleteRobot": func() error {
			_, err := e.c.DeleteRobot(octx, &directoryv1.DeleteRobotRequest{Name: r.GetName()}, e.svc)
			return err
		},
		"GetRobotAccount": func() error {
			_, err := e.c.GetRobotAccount(octx, &directoryv1.GetRobotAccountRequest{Name: r.GetRobotAccount()}, e.svc)
			return err
		},
		"ListRobotAccounts": func() error {
			_, err := e.c.ListRobotAccounts(octx, &directoryv1.ListRobotAccountsRequest{Parent: org}, e.svc)
			return err
		},
		"CreateRobotAccount": func() error {
			_, err := e.c.CreateRobotAccount(octx, &directoryv1.CreateRobotAccountRequest{Parent: org, RobotAccount: &directoryv1.RobotAccount{DisplayName: "X"}}, e.svc)
			return err
		},
		"UpdateRobotAccount": func() error {
			_, err := e.c.UpdateRobotAccount(octx, &directoryv1.UpdateRobotAccountRequest{RobotAccount: &directoryv1.RobotAccount{Name: r.GetRobotAccount(), DisplayName: "X"}}, e.svc)
			return err
		},
		"DeleteRobotAccount": func() error {
			_, err := e.c.DeleteRobotAccount(octx, &directoryv1.DeleteRobotAccountRequest{Name: r.GetRobotAccount()}, e.svc)
			return err
		},
		"GetExternalApp": func() error {
			_, err := e.c.GetExternalApp(octx, &directoryv1.GetExternalAppRequest{Name: app.GetName()}, e.svc)
			return err
		},
		"ListExternalApps": func() error {
			_, err := e.c.ListExternalApps(octx, &directoryv1.ListExternalAppsRequest{Parent: org}, e.svc)
			return err
		},
		"CreateExternalApp": func() error {
			_, err := e.c.CreateExternalApp(octx, &directoryv1.CreateExternalAppRequest{Parent: org, ExternalApp: &directoryv1.ExternalApp{DisplayName: "X"}}, e.svc)
			return err
		},
		"UpdateExternalApp": func() error {
			_, err := e.c.UpdateExternalApp(octx, &directoryv1.UpdateExternalAppRequest{ExternalApp: &directoryv1.ExternalApp{Name: app.GetName(), DisplayName: "X"}}, e.svc)
			return err
		},
		"DeleteExternalApp": func() error {
			_, err := e.c.DeleteExternalApp(octx, &directoryv1.DeleteExternalAppRequest{Name: app.GetName()}, e.svc)
			return err
		},
		"CreateApiKey": func() error {
			_, err := e.c.CreateApiKey(octx, &directoryv1.CreateApiKeyRequest{Parent: r.GetRobotAccount(), ApiKey: &directoryv1.ApiKey{DisplayName: "X"}}, e.svc)
			return err
		},
		"ListApiKeys": func() error {
			_, err := e.c.ListApiKeys(octx, &directoryv1.ListApiKeysRequest{Parent: r.GetRobotAccount()}, e.svc)
			return err
		},
		"RevokeApiKey": func() error {
			_, err := e.c.RevokeApiKey(octx, &directoryv1.RevokeApiKeyRequest{Name: key.GetApiKey().GetName()}, e.svc)
			return err
		},
	}
	for name, call := range calls {
		prWant(t, name, call(), codes.NotFound, "")
	}
	if evs := prEvents(e, seq); len(evs) != 0 {
		t.Fatalf("cross-organization calls emitted %v", evs)
	}
	if _, err := prVerify(e, key.GetSecret()); err != nil {
		t.Fatalf("key stopped working: %v", err)
	}
}

// R6: updates take a field mask and an etag; a no-op emits nothing.
func TestR6UpdatePrincipals(t *testing.T) {
	e := newEnv(t)
	su := e.signUp()
	ctx := e.asOwner(su)
	org := su.GetOrganization().GetName()
	r := prCreateRobot(t, e, ctx, org, "r1", "One", "M1")

	seq := prHead(e)
	up, err := e.c.UpdateRobot(ctx, &directoryv1.UpdateRobotRequest{
		Robot:      &directoryv1.Robot{Name: r.GetName(), DisplayName: "Renamed", MachineName: "IGNORED", Etag: r.GetEtag()},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
	}, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	if up.GetDisplayName() != "Renamed" || up.GetMachineName() != "M1" || up.GetEtag() == r.GetEtag() ||
		up.GetRobotAccount() != r.GetRobotAccount() || !up.GetCreateTime().AsTime().Equal(r.GetCreateTime().AsTime()) {
		t.Fatalf("updated robot = %v", up)
	}
	prSameEvents(t, prEvents(e, seq), []string{domain.TypeRobotUpdated + " " + r.GetName()})

	// Stale etag.
	_, err = e.c.UpdateRobot(ctx, &directoryv1.UpdateRobotRequest{
		Robot: &directoryv1.Robot{Name: r.GetName(), DisplayName: "X", MachineName: "X", Etag: r.GetEtag()},
	}, e.svc)
	prWant(t, "stale etag", err, codes.Aborted, "ETAG_MISMATCH")
	// Unknown or output-only mask path.
	for _, p := range []string{"robot_account", "name", "nope"} {
		_, err = e.c.UpdateRobot(ctx, &directoryv1.UpdateRobotRequest{
			Robot: &directoryv1.Robot{Name: r.GetName()}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{p}},
		}, e.svc)
		prWant(t, "mask "+p, err, codes.InvalidArgument, "")
	}
	// Required fields cannot be cleared.
	_, err = e.c.UpdateRobot(ctx, &directoryv1.UpdateRobotRequest{
		Robot: &directoryv1.Robot{Name: r.GetName()}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"machine_name"}},
	}, e.svc)
	prWant(t, "clear machine_name", err, codes.InvalidArgument, "")
	// Empty mask: every updatable field.
	up2, err := e.c.UpdateRobot(ctx, &directoryv1.UpdateRobotRequest{
		Robot: &directoryv1.Robot{Name: r.GetName(), DisplayName: "Full", MachineName: "M9", Description: "d"},
	}, e.svc)
	if err != nil || up2.GetDisplayName() != "Full" || up2.GetMachineName() != "M9" || up2.GetDescription() != "d" {
		t.Fatalf("full update = %v, %v", up2, err)
	}
	// No change: same etag, no event.
	seq = prHead(e)
	same, err := e.c.UpdateRobot(ctx, &directoryv1.UpdateRobotRequest{
		Robot: &directoryv1.Robot{Name: r.GetName(), DisplayName: "Full", Etag: up2.GetEtag()}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
	}, e.svc)
	if err != nil || same.GetEtag() != up2.GetEtag() {
		t.Fatalf("no-op update = %v, %v", same, err)
	}
	if evs := prEvents(e, seq); len(evs) != 0 {
		t.Fatalf("no-op update emitted %v", evs)
	}
	_, err = e.c.UpdateRobot(ctx, &directoryv1.UpdateRobotRequest{Robot: &directoryv1.Robot{Name: org + "/robots/nope", DisplayName: "X", MachineName: "X"}}, e.svc)
	prWant(t, "missing robot", err, codes.NotFound, "")

	// Robot account: display_name and description; "robot" is output only.
	ra, err := e.c.UpdateRobotAccount(ctx, &directoryv1.UpdateRobotAccountRequest{
		RobotAccount: &directoryv1.RobotAccount{Name: r.GetRobotAccount(), Description: "runs builds", Robot: "organizations/x/robots/y"},
		UpdateMask:   &fieldmaskpb.FieldMask{Paths: []string{"description"}},
	}, e.svc)
	if err != nil || ra.GetDescription() != "runs builds" || ra.GetRobot() != r.GetName() || ra.GetDisplayName() != "One" {
		t.Fatalf("robot account update = %v, %v", ra, err)
	}
	_, err = e.c.UpdateRobotAccount(ctx, &directoryv1.UpdateRobotAccountRequest{
		RobotAccount: &directoryv1.RobotAccount{Name: r.GetRobotAccount()}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"robot"}},
	}, e.svc)
	prWant(t, "robot account mask robot", err, codes.InvalidArgument, "")
	_, err = e.c.UpdateRobotAccount(ctx, &directoryv1.UpdateRobotAccountRequest{
		RobotAccount: &directoryv1.RobotAccount{Name: r.GetRobotAccount(), DisplayName: "Z", Etag: "stale"},
	}, e.svc)
	prWant(t, "robot account stale etag", err, codes.Aborted, "ETAG_MISMATCH")

	// External application.
	app, err := e.c.CreateExternalApp(ctx, &directoryv1.CreateExternalAppRequest{Parent: org, ExternalAppId: "crm",
		ExternalApp: &directoryv1.ExternalApp{DisplayName: "CRM"}}, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	seq = prHead(e)
	app2, err := e.c.UpdateExternalApp(ctx, &directoryv1.UpdateExternalAppRequest{
		ExternalApp: &directoryv1.ExternalApp{Name: app.GetName(), DisplayName: "CRM prod", Etag: app.GetEtag()},
		UpdateMask:  &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
	}, e.svc)
	if err != nil || app2.GetDisplayName() != "CRM prod" {
		t.Fatalf("app update = %v, %v", app2, err)
	}
	prSameEvents(t, prEvents(e, seq), []string{domain.TypeExternalAppUpdated + " " + app.GetName()})
	_, err = e.c.UpdateExternalApp(ctx, &directoryv1.UpdateExternalAppRequest{
		ExternalApp: &directoryv1.ExternalApp{Name: app.GetName(), DisplayName: "X", Etag: app.GetEtag()},
	}, e.svc)
	prWant(t, "app stale etag", err, codes.Aborted, "ETAG_MISMATCH")
}

// R6: concurrent updates with the same etag: exactly one wins.
func TestR6ConcurrentUpdatesSameEtag(t *testing.T) {
	e := newEnv(t)
	su := e.signUp()
	ctx := e.asOwner(su)
	org := su.GetOrganization().GetName()
	r := prCreateRobot(t, e, ctx, org, "r1", "One", "M1")
	app, err := e.c.CreateExternalApp(ctx, &directoryv1.CreateExternalAppRequest{Parent: org, ExternalApp: &directoryv1.ExternalApp{DisplayName: "App"}}, e.svc)
	if err != nil {
		t.Fatal(err)
	}

	const n = 8
	var wg sync.WaitGroup
	var robotWins, appWins, robotLost, appLost atomic.Int32
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := e.c.UpdateRobot(ctx, &directoryv1.UpdateRobotRequest{
				Robot:      &directoryv1.Robot{Name: r.GetName(), DisplayName: fmt.Sprintf("Name %d", i), Etag: r.GetEtag()},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
			}, e.svc)
			switch {
			case err == nil:
				robotWins.Add(1)
			case prReason(err) == "ETAG_MISMATCH":
				robotLost.Add(1)
			default:
				t.Errorf("UpdateRobot: %v", err)
			}
		}()
		go func() {
			defer wg.Done()
			_, err := e.c.UpdateExternalApp(ctx, &directoryv1.UpdateExternalAppRequest{
				ExternalApp: &directoryv1.ExternalApp{Name: app.GetName(), DisplayName: fmt.Sprintf("App %d", i), Etag: app.GetEtag()},
			}, e.svc)
			switch {
			case err == nil:
				appWins.Add(1)
			case prReason(err) == "ETAG_MISMATCH":
				appLost.Add(1)
			default:
				t.Errorf("UpdateExternalApp: %v", err)
			}
		}()
	}
	wg.Wait()
	if robotWins.Load() != 1 || robotLost.Load() != n-1 || appWins.Load() != 1 || appLost.Load() != n-1 {
		t.Fatalf("robot wins %d lost %d, app wins %d lost %d; want exactly one win each",
			robotWins.Load(), robotLost.Load(), appWins.Load(), appLost.Load())
	}
}

// R6: deleting a robot deletes its robot account and the account's API
// keys, with one event each, and the keys stop working.
func TestR6DeleteRobotCascades(t *testing.T) {
	e := newEnv(t)
	su := e.signUp()
	ctx := e.asOwner(su)
	org := su.GetOrganization().GetName()
	r := prCreateRobot(t, e, ctx, org, "r1", "One", "M1")
	k1 := prCreateKey(t, e, ctx, r.GetRobotAccount(), "first")
	k2 := prCreateKey(t, e, ctx, r.GetRobotAccount(), "second")
	keep := prCreateRobot(t, e, ctx, org, "r2", "Two", "M2")
	k3 := prCreateKey(t, e, ctx, keep.GetRobotAccount(), "other robot")

	_, err := e.c.DeleteRobot(ctx, &directoryv1.DeleteRobotRequest{Name: r.GetName(), Etag: "stale"}, e.svc)
	prWant(t, "delete with stale etag", err, codes.Aborted, "ETAG_MISMATCH")

	seq := prHead(e)
	if _, err := e.c.DeleteRobot(ctx, &directoryv1.DeleteRobotRequest{Name: r.GetName(), Etag: r.GetEtag()}, e.svc); err != nil {
		t.Fatal(err)
	}
	got := prEvents(e, seq)
	// Keys are deleted newest first (their storage order).
	prSameEvents(t, got, []string{
		domain.TypeAPIKeyDeleted + " " + k2.GetApiKey().GetName(),
		domain.TypeAPIKeyDeleted + " " + k1.GetApiKey().GetName(),
		domain.TypeRobotAccountDeleted + " " + r.GetRobotAccount(),
		domain.TypeRobotDeleted + " " + r.GetName(),
	})
	_, err = e.c.GetRobot(ctx, &directoryv1.GetRobotRequest{Name: r.GetName()}, e.svc)
	prWant(t, "deleted robot", err, codes.NotFound, "")
	_, err = e.c.GetRobotAccount(ctx, &directoryv1.GetRobotAccountRequest{Name: r.GetRobotAccount()}, e.svc)
	prWant(t, "deleted account", err, codes.NotFound, "")
	_, err = e.c.ListApiKeys(ctx, &directoryv1.ListApiKeysRequest{Parent: r.GetRobotAccount(), ShowRevoked: true}, e.svc)
	prWant(t, "keys of deleted account", err, codes.NotFound, "")
	for _, k := range []*directoryv1.CreateApiKeyResponse{k1, k2} {
		_, err := prVerify(e, k.GetSecret())
		prWant(t, "key of deleted robot", err, codes.Unauthenticated, "INVALID_CREDENTIALS")
	}
	if _, err := prVerify(e, k3.GetSecret()); err != nil {
		t.Fatalf("other robot's key: %v", err)
	}
	_, err = e.c.DeleteRobot(ctx, &directoryv1.DeleteRobotRequest{Name: r.GetName()}, e.svc)
	prWant(t, "delete twice", err, codes.NotFound, "")

	// The ID can be reused afterwards.
	prCreateRobot(t, e, ctx, org, "r1", "One again", "M1")
}

// R6: a robot's own account cannot be deleted on its own; stand-alone
// accounts and external applications delete with their keys.
func TestR6DeleteAccountsAndApps(t *testing.T) {
	e := newEnv(t)
	su := e.signUp()
	ctx := e.asOwner(su)
	org := su.GetOrganization().GetName()
	r := prCreateRobot(t, e, ctx, org, "r1", "One", "M1")

	seq := prHead(e)
	_, err := e.c.DeleteRobotAccount(ctx, &directoryv1.DeleteRobotAccountRequest{Name: r.GetRobotAccount()}, e.svc)
	prWant(t, "delete bound account", err, codes.FailedPrecondition, "ROBOT_ACCOUNT_BOUND")
	if evs := prEvents(e, seq); len(evs) != 0 {
		t.Fatalf("refused delete emitted %v", evs)
	}

	ra, err := e.c.CreateRobotAccount(ctx, &directoryv1.CreateRobotAccountRequest{Parent: org, RobotAccountId: "svc",
		RobotAccount: &directoryv1.RobotAccount{DisplayName: "Unattended", Description: "d"}}, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	if ra.GetRobot() != "" || ra.GetName() != org+"/robotAccounts/svc" || ra.GetDescription() != "d" {
		t.Fatalf("stand-alone account = %v", ra)
	}
	k := prCreateKey(t, e, ctx, ra.GetName(), "k")
	_, err = e.c.DeleteRobotAccount(ctx, &directoryv1.DeleteRobotAccountRequest{Name: ra.GetName(), Etag: "stale"}, e.svc)
	prWant(t, "account stale etag", err, codes.Aborted, "ETAG_MISMATCH")
	seq = prHead(e)
	if _, err := e.c.DeleteRobotAccount(ctx, &directoryv1.DeleteRobotAccountRequest{Name: ra.GetName(), Etag: ra.GetEtag()}, e.svc); err != nil {
		t.Fatal(err)
	}
	prSameEvents(t, prEvents(e, seq), []string{
		domain.TypeAPIKeyDeleted + " " + k.GetApiKey().GetName(),
		domain.TypeRobotAccountDeleted + " " + ra.GetName(),
	})
	_, err = prVerify(e, k.GetSecret())
	prWant(t, "key of deleted account", err, codes.Unauthenticated, "INVALID_CREDENTIALS")

	app, err := e.c.CreateExternalApp(ctx, &directoryv1.CreateExternalAppRequest{Parent: org, ExternalAppId: "crm",
		ExternalApp: &directoryv1.ExternalApp{DisplayName: "CRM"}}, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	ak := prCreateKey(t, e, ctx, app.GetName(), "crm key")
	_, err = e.c.DeleteExternalApp(ctx, &directoryv1.DeleteExternalAppRequest{Name: app.GetName(), Etag: "stale"}, e.svc)
	prWant(t, "app stale etag", err, codes.Aborted, "ETAG_MISMATCH")
	seq = prHead(e)
	if _, err := e.c.DeleteExternalApp(ctx, &directoryv1.DeleteExternalAppRequest{Name: app.GetName()}, e.svc); err != nil {
		t.Fatal(err)
	}
	prSameEvents(t, prEvents(e, seq), []string{
		domain.TypeAPIKeyDeleted + " " + ak.GetApiKey().GetName(),
		domain.TypeExternalAppDeleted + " " + app.GetName(),
	})
	_, err = e.c.GetExternalApp(ctx, &directoryv1.GetExternalAppRequest{Name: app.GetName()}, e.svc)
	prWant(t, "deleted app", err, codes.NotFound, "")
	_, err = prVerify(e, ak.GetSecret())
	prWant(t, "key of deleted app", err, codes.Unauthenticated, "INVALID_CREDENTIALS")
}

// R6: creates are idempotent with request_id (AIP-155); a request_id
// reused for another request is refused.
func TestR6IdempotentCreates(t *testing.T) {
	e := newEnv(t)
	su := e.signUp()
	ctx := e.asOwner(su)
	org := su.GetOrganization().GetName()

	req := &directoryv1.CreateRobotRequest{Parent: org, RequestId: prRequestID1,
		Robot: &directoryv1.Robot{DisplayName: "One", MachineName: "M1"}}
	seq := prHead(e)
	first, err := e.c.CreateRobot(ctx, req, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.c.CreateRobot(ctx, req, e.svc)
	if err != nil || !proto.Equal(first, again) {
		t.Fatalf("replay = %v, %v; want %v", again, err, first)
	}
	if evs := prEvents(e, seq); len(evs) != 2 {
		t.Fatalf("events after replay: %v", evs)
	}
	list, err := e.c.ListRobots(ctx, &directoryv1.ListRobotsRequest{Parent: org}, e.svc)
	if err != nil || len(list.GetRobots()) != 1 {
		t.Fatalf("robots = %v, %v", list, err)
	}
	_, err = e.c.CreateRobot(ctx, &directoryv1.CreateRobotRequest{Parent: org, RequestId: prRequestID1,
		Robot: &directoryv1.Robot{DisplayName: "Other", MachineName: "M1"}}, e.svc)
	prWant(t, "request_id reused", err, codes.Aborted, "REQUEST_ID_REUSED")

	raReq := &directoryv1.CreateRobotAccountRequest{Parent: org, RequestId: prRequestID2,
		RobotAccount: &directoryv1.RobotAccount{DisplayName: "Svc"}}
	ra1, err := e.c.CreateRobotAccount(ctx, raReq, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	ra2, err := e.c.CreateRobotAccount(ctx, raReq, e.svc)
	if err != nil || !proto.Equal(ra1, ra2) {
		t.Fatalf("account replay = %v, %v; want %v", ra2, err, ra1)
	}

	appReq := &directoryv1.CreateExternalAppRequest{Parent: org, RequestId: "9c0e2f4a-6b1d-4e3c-8a7f-2d5b9e1c3f04",
		ExternalApp: &directoryv1.ExternalApp{DisplayName: "CRM"}}
	a1, err := e.c.CreateExternalApp(ctx, appReq, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	a2, err := e.c.CreateExternalApp(ctx, appReq, e.svc)
	if err != nil || !proto.Equal(a1, a2) {
		t.Fatalf("app replay = %v, %v; want %v", a2, err, a1)
	}
	apps, err := e.c.ListExternalApps(ctx, &directoryv1.ListExternalAppsRequest{Parent: org}, e.svc)
	if err != nil || len(apps.GetExternalApps()) != 1 {
		t.Fatalf("apps = %v, %v", apps, err)
	}
}

// R6: lists are ordered by name, paged with tokens bound to the request,
// filtered by query, and report the event-log sequence.
func TestR6ListsPageAndFilter(t *testing.T) {
	e := newEnv(t)
	su := e.signUp()
	ctx := e.asOwner(su)
	org := su.GetOrganization().GetName()
	for i, m := range []string{"build-01", "BUILD-02", "test-01", "Test-02", "prod-01"} {
		prCreateRobot(t, e, ctx, org, fmt.Sprintf("r%d", i), fmt.Sprintf("Robot %d", i), m)
	}
	// A stand-alone account and an app, to see they do not leak into robots.
	if _, err := e.c.CreateRobotAccount(ctx, &directoryv1.CreateRobotAccountRequest{Parent: org, RobotAccountId: "zz",
		RobotAccount: &directoryv1.RobotAccount{DisplayName: "Stand-alone"}}, e.svc); err != nil {
		t.Fatal(err)
	}
	head := prHead(e)

	var names []string
	token := ""
	pages := 0
	for {
		resp, err := e.c.ListRobots(ctx, &directoryv1.ListRobotsRequest{Parent: org, PageSize: 2, PageToken: token}, e.svc)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(resp.GetRobots()) > 2 || resp.GetSequence() != head {
			t.Fatalf("page = %v (head %d)", resp, head)
		}
		for _, r := range resp.GetRobots() {
			names = append(names, strings.TrimPrefix(r.GetName(), org+"/robots/"))
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if strings.Join(names, ",") != "r0,r1,r2,r3,r4" || pages != 3 {
		t.Fatalf("robots %v in %d pages", names, pages)
	}

	// Query: case-insensitive substring of display or machine name.
	resp, err := e.c.ListRobots(ctx, &directoryv1.ListRobotsRequest{Parent: org, Query: "build", PageSize: 1}, e.svc)
	if err != nil || len(resp.GetRobots()) != 1 || resp.GetRobots()[0].GetMachineName() != "build-01" || resp.GetNextPageToken() == "" {
		t.Fatalf("query page 1 = %v, %v", resp, err)
	}
	resp2, err := e.c.ListRobots(ctx, &directoryv1.ListRobotsRequest{Parent: org, Query: "build", PageSize: 1, PageToken: resp.GetNextPageToken()}, e.svc)
	if err != nil || len(resp2.GetRobots()) != 1 || resp2.GetRobots()[0].GetMachineName() != "BUILD-02" {
		t.Fatalf("query page 2 = %v, %v", resp2, err)
	}
	_, err = e.c.ListRobots(ctx, &directoryv1.ListRobotsRequest{Parent: org, Query: "test", PageToken: resp.GetNextPageToken()}, e.svc)
	prWant(t, "token of another query", err, codes.InvalidArgument, "")
	_, err = e.c.ListRobots(ctx, &directoryv1.ListRobotsRequest{Parent: org, PageToken: "garbage"}, e.svc)
	prWant(t, "garbage token", err, codes.InvalidArgument, "")
	byDisplay, err := e.c.ListRobots(ctx, &directoryv1.ListRobotsRequest{Parent: org, Query: "ROBOT 3"}, e.svc)
	if err != nil || len(byDisplay.GetRobots()) != 1 || byDisplay.GetRobots()[0].GetMachineName() != "Test-02" {
		t.Fatalf("query on display name = %v, %v", byDisplay, err)
	}

	accounts, err := e.c.ListRobotAccounts(ctx, &directoryv1.ListRobotAccountsRequest{Parent: org}, e.svc)
	if err != nil || len(accounts.GetRobotAccounts()) != 6 || accounts.GetSequence() != head {
		t.Fatalf("accounts = %v, %v", accounts, err)
	}
	accounts, err = e.c.ListRobotAccounts(ctx, &directoryv1.ListRobotAccountsRequest{Parent: org, Query: "stand"}, e.svc)
	if err != nil || len(accounts.GetRobotAccounts()) != 1 || accounts.GetRobotAccounts()[0].GetName() != org+"/robotAccounts/zz" {
		t.Fatalf("account query = %v, %v", accounts, err)
	}
	// The query matches display names only.
	accounts, err = e.c.ListRobotAccounts(ctx, &directoryv1.ListRobotAccountsRequest{Parent: org, Query: "build"}, e.svc)
	if err != nil || len(accounts.GetRobotAccounts()) != 0 {
		t.Fatalf("account query on machine name = %v, %v", accounts, err)
	}

	for i := range 3 {
		if _, err := e.c.CreateExternalApp(ctx, &directoryv1.CreateExternalAppRequest{Parent: org, ExternalAppId: fmt.Sprintf("app%d", i),
			ExternalApp: &directoryv1.ExternalApp{DisplayName: "App"}}, e.svc); err != nil {
			t.Fatal(err)
		}
	}
	p1, err := e.c.ListExternalApps(ctx, &directoryv1.ListExternalAppsRequest{Parent: org, PageSize: 2}, e.svc)
	if err != nil || len(p1.GetExternalApps()) != 2 || p1.GetNextPageToken() == "" {
		t.Fatalf("apps page 1 = %v, %v", p1, err)
	}
	p2, err := e.c.ListExternalApps(ctx, &directoryv1.ListExternalAppsRequest{Parent: org, PageSize: 2, PageToken: p1.GetNextPageToken()}, e.svc)
	if err != nil || len(p2.GetExternalApps()) != 1 || p2.GetExternalApps()[0].GetName() != org+"/externalApps/app2" || p2.GetNextPageToken() != "" {
		t.Fatalf("apps page 2 = %v, %v", p2, err)
	}
}

// R10: an API key's secret is shown once, stored hashed (never listed), and
// works with VerifyCredential until revoked; revocation is immediate,
// recorded and idempotent.
func TestR10ApiKeyLifecycle(t *testing.T) {
	e := newEnv(t)
	su := e.signUp()
	ctx := e.asOwner(su)
	org := su.GetOrganization().GetName()
	r := prCreateRobot(t, e, ctx, org, "r1", "Build robot", "M1")
	parent := r.GetRobotAccount()

	seq := prHead(e)
	exp := timestamppb.New(time.Now().Add(24 * time.Hour).Truncate(time.Second))
	created, err := e.c.CreateApiKey(ctx, &directoryv1.CreateApiKeyRequest{Parent: parent,
		ApiKey: &directoryv1.ApiKey{DisplayName: "CI", ExpireTime: exp, Prefix: "client-set", RevokeTime: timestamppb.Now()}}, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	k := created.GetApiKey()
	secret := created.GetSecret()
	if !credential.LooksLikeAPIKey(secret) || k.GetPrefix() == "" || !strings.HasPrefix(secret, k.GetPrefix()) ||
		len(k.GetPrefix()) >= len(secret) || !strings.HasPrefix(k.GetName(), parent+"/apiKeys/") ||
		k.GetDisplayName() != "CI" || !k.GetExpireTime().AsTime().Equal(exp.AsTime()) ||
		k.GetCreateTime() == nil || k.GetRevokeTime() != nil || k.GetLastUsedTime() != nil {
		t.Fatalf("created key = %v (secret %q)", k, secret)
	}
	evs := e.eventsAfter(seq)
	prSameEvents(t, prEvents(e, seq), []string{domain.TypeAPIKeyCreated + " " + k.GetName()})
	if strings.Contains(string(evs[0].GetData().GetValue()), secret) || strings.Contains(string(evs[0].GetData().GetValue()), credential.HashAPIKey(secret)) {
		t.Fatal("the event carries the secret or its hash")
	}

	// The list shows the key without its secret.
	list, err := e.c.ListApiKeys(ctx, &directoryv1.ListApiKeysRequest{Parent: parent}, e.svc)
	if err != nil || len(list.GetApiKeys()) != 1 || !proto.Equal(list.GetApiKeys()[0], k) {
		t.Fatalf("list = %v, %v", list, err)
	}
	raw, err := proto.Marshal(list)
	if err != nil || strings.Contains(string(raw), secret) || strings.Contains(string(raw), credential.HashAPIKey(secret)) {
		t.Fatal("ListApiKeys returns the secret or its hash")
	}

	// It verifies as the robot account.
	v, err := prVerify(e, secret)
	if err != nil {
		t.Fatal(err)
	}
	if p := v.GetPrincipal(); p.GetName() != parent || p.GetKind() != directoryv1.PrincipalKind_PRINCIPAL_KIND_ROBOT_ACCOUNT ||
		p.GetOrganization() != org || p.GetSessionId() != k.GetName() {
		t.Fatalf("principal = %v", p)
	}

	// Revocation: immediate, one event, the record stays.
	seq = prHead(e)
	revoked, err := e.c.RevokeApiKey(ctx, &directoryv1.RevokeApiKeyRequest{Name: k.GetName()}, e.svc)
	if err != nil || revoked.GetRevokeTime() == nil || revoked.GetPrefix() != k.GetPrefix() {
		t.Fatalf("revoked = %v, %v", revoked, err)
	}
	prSameEvents(t, prEvents(e, seq), []string{domain.TypeAPIKeyRevoked + " " + k.GetName()})
	_, err = prVerify(e, secret)
	prWant(t, "revoked key", err, codes.Unauthenticated, "INVALID_CREDENTIALS")

	seq = prHead(e)
	again, err := e.c.RevokeApiKey(ctx, &directoryv1.RevokeApiKeyRequest{Name: k.GetName()}, e.svc)
	if err != nil || !proto.Equal(again, revoked) {
		t.Fatalf("second revoke = %v, %v; want %v", again, err, revoked)
	}
	if evs := prEvents(e, seq); len(evs) != 0 {
		t.Fatalf("second revoke emitted %v", evs)
	}
	list, err = e.c.ListApiKeys(ctx, &directoryv1.ListApiKeysRequest{Parent: parent}, e.svc)
	if err != nil || len(list.GetApiKeys()) != 0 {
		t.Fatalf("list without revoked = %v, %v", list, err)
	}
	list, err = e.c.ListApiKeys(ctx, &directoryv1.ListApiKeysRequest{Parent: parent, ShowRevoked: true}, e.svc)
	if err != nil || len(list.GetApiKeys()) != 1 || !proto.Equal(list.GetApiKeys()[0], revoked) {
		t.Fatalf("list with revoked = %v, %v", list, err)
	}

	_, err = e.c.RevokeApiKey(ctx, &directoryv1.RevokeApiKeyRequest{Name: parent + "/apiKeys/nope"}, e.svc)
	prWant(t, "revoke missing key", err, codes.NotFound, "")

	// External applications hold keys too.
	app, err := e.c.CreateExternalApp(ctx, &directoryv1.CreateExternalAppRequest{Parent: org, ExternalAppId: "crm",
		ExternalApp: &directoryv1.ExternalApp{DisplayName: "CRM"}}, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	ak := prCreateKey(t, e, ctx, app.GetName(), "crm")
	v, err = prVerify(e, ak.GetSecret())
	if err != nil || v.GetPrincipal().GetName() != app.GetName() || v.GetPrincipal().GetKind() != directoryv1.PrincipalKind_PRINCIPAL_KIND_EXTERNAL_APP ||
		v.GetPrincipal().GetDisplayName() != "CRM" {
		t.Fatalf("app key verifies as %v, %v", v, err)
	}
}

// R10: refusals of CreateApiKey and ListApiKeys.
func TestR10ApiKeyRefusals(t *testing.T) {
	e := newEnv(t)
	su := e.signUp()
	ctx := e.asOwner(su)
	org := su.GetOrganization().GetName()
	r := prCreateRobot(t, e, ctx, org, "r1", "One", "M1")

	_, err := e.c.CreateApiKey(ctx, &directoryv1.CreateApiKeyRequest{Parent: org + "/robotAccounts/nope", ApiKey: &directoryv1.ApiKey{DisplayName: "k"}}, e.svc)
	prWant(t, "missing parent", err, codes.NotFound, "")
	_, err = e.c.ListApiKeys(ctx, &directoryv1.ListApiKeysRequest{Parent: org + "/externalApps/nope"}, e.svc)
	prWant(t, "list of missing parent", err, codes.NotFound, "")
	_, err = e.c.CreateApiKey(ctx, &directoryv1.CreateApiKeyRequest{Parent: r.GetRobotAccount(),
		ApiKey: &directoryv1.ApiKey{DisplayName: "k", ExpireTime: timestamppb.New(time.Now().Add(-time.Minute))}}, e.svc)
	prWant(t, "expiry in the past", err, codes.InvalidArgument, "")
	_, err = e.c.CreateApiKey(ctx, &directoryv1.CreateApiKeyRequest{Parent: r.GetRobotAccount(), ApiKey: &directoryv1.ApiKey{}}, e.svc)
	prWant(t, "no display name", err, codes.InvalidArgument, "")
	_, err = e.c.CreateApiKey(ctx, &directoryv1.CreateApiKeyRequest{Parent: r.GetName(), ApiKey: &directoryv1.ApiKey{DisplayName: "k"}}, e.svc)
	prWant(t, "robot as parent", err, codes.InvalidArgument, "")
	list, err := e.c.ListApiKeys(ctx, &directoryv1.ListApiKeysRequest{Parent: r.GetRobotAccount()}, e.svc)
	if err != nil || len(list.GetApiKeys()) != 0 {
		t.Fatalf("refused creates left keys: %v, %v", list, err)
	}
}

// R10: a retried CreateApiKey (same request_id) returns the original key
// with an empty secret (the secret is never stored), and creates nothing.
func TestR10ApiKeyIdempotentReplayHasNoSecret(t *testing.T) {
	e := newEnv(t)
	su := e.signUp()
	ctx := e.asOwner(su)
	org := su.GetOrganization().GetName()
	r := prCreateRobot(t, e, ctx, org, "r1", "One", "M1")
	req := &directoryv1.CreateApiKeyRequest{Parent: r.GetRobotAccount(), RequestId: prRequestID1, ApiKey: &directoryv1.ApiKey{DisplayName: "CI"}}

	seq := prHead(e)
	first, err := e.c.CreateApiKey(ctx, req, e.svc)
	if err != nil || first.GetSecret() == "" {
		t.Fatalf("first = %v, %v", first, err)
	}
	replay, err := e.c.CreateApiKey(ctx, req, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	if replay.GetSecret() != "" || !proto.Equal(replay.GetApiKey(), first.GetApiKey()) {
		t.Fatalf("replay = %v; want the original key %v without secret", replay, first.GetApiKey())
	}
	if evs := prEvents(e, seq); len(evs) != 1 {
		t.Fatalf("events = %v", evs)
	}
	list, err := e.c.ListApiKeys(ctx, &directoryv1.ListApiKeysRequest{Parent: r.GetRobotAccount()}, e.svc)
	if err != nil || len(list.GetApiKeys()) != 1 {
		t.Fatalf("list = %v, %v", list, err)
	}
	if _, err := prVerify(e, first.GetSecret()); err != nil {
		t.Fatalf("original secret: %v", err)
	}
	_, err = e.c.CreateApiKey(ctx, &directoryv1.CreateApiKeyRequest{Parent: r.GetRobotAccount(), RequestId: prRequestID1,
		ApiKey: &directoryv1.ApiKey{DisplayName: "other"}}, e.svc)
	prWant(t, "request_id reused", err, codes.Aborted, "REQUEST_ID_REUSED")
}

// R10: ListApiKeys is newest first and pages.
func TestR10ListApiKeysNewestFirstPaged(t *testing.T) {
	clk := &prClock{}
	e := newPrEnv(t, clk)
	su := e.signUp()
	ctx := e.asOwner(su)
	org := su.GetOrganization().GetName()
	r := prCreateRobot(t, e, ctx, org, "r1", "One", "M1")
	var want []string
	for i := range 5 {
		k := prCreateKey(t, e, ctx, r.GetRobotAccount(), fmt.Sprintf("key %d", i))
		want = append([]string{k.GetApiKey().GetName()}, want...)
		clk.advance(time.Second)
	}
	// Revoke the middle one: hidden unless show_revoked.
	if _, err := e.c.RevokeApiKey(ctx, &directoryv1.RevokeApiKeyRequest{Name: want[2]}, e.svc); err != nil {
		t.Fatal(err)
	}
	list := func(show bool) []string {
		var names []string
		token := ""
		for {
			resp, err := e.c.ListApiKeys(ctx, &directoryv1.ListApiKeysRequest{Parent: r.GetRobotAccount(), PageSize: 2, PageToken: token, ShowRevoked: show}, e.svc)
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.GetApiKeys()) > 2 {
				t.Fatalf("page of %d", len(resp.GetApiKeys()))
			}
			for i, k := range resp.GetApiKeys() {
				names = append(names, k.GetName())
				if i > 0 && !resp.GetApiKeys()[i-1].GetCreateTime().AsTime().After(k.GetCreateTime().AsTime()) {
					t.Fatalf("keys not newest first: %v", resp.GetApiKeys())
				}
			}
			if token = resp.GetNextPageToken(); token == "" {
				return names
			}
		}
	}
	if got := list(true); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("with revoked: %v\nwant %v", got, want)
	}
	wantActive := []string{want[0], want[1], want[3], want[4]}
	if got := list(false); strings.Join(got, ",") != strings.Join(wantActive, ",") {
		t.Fatalf("without revoked: %v\nwant %v", got, wantActive)
	}
	tok, err := e.c.ListApiKeys(ctx, &directoryv1.ListApiKeysRequest{Parent: r.GetRobotAccount(), PageSize: 1}, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.c.ListApiKeys(ctx, &directoryv1.ListApiKeysRequest{Parent: r.GetRobotAccount(), PageSize: 1, ShowRevoked: true, PageToken: tok.GetNextPageToken()}, e.svc)
	prWant(t, "token with other show_revoked", err, codes.InvalidArgument, "")
}

// R10: LookupAPIKey (through VerifyCredential) accepts a good secret,
// refuses unknown, garbage, revoked and expired ones, and keeps
// last_used_time within about a minute.
func TestR10LookupAPIKey(t *testing.T) {
	clk := &prClock{}
	e := newPrEnv(t, clk)
	su := e.signUp()
	ctx := e.asOwner(su)
	org := su.GetOrganization().GetName()
	r := prCreateRobot(t, e, ctx, org, "r1", "One", "M1")
	parent := r.GetRobotAccount()
	created := prCreateKey(t, e, ctx, parent, "good")
	lastUsed := func() *timestamppb.Timestamp {
		t.Helper()
		list, err := e.c.ListApiKeys(ctx, &directoryv1.ListApiKeysRequest{Parent: parent, ShowRevoked: true}, e.svc)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range list.GetApiKeys() {
			if k.GetName() == created.GetApiKey().GetName() {
				return k.GetLastUsedTime()
			}
		}
		t.Fatal("key not listed")
		return nil
	}

	seq := prHead(e)
	v, err := prVerify(e, created.GetSecret())
	if err != nil || v.GetPrincipal().GetName() != parent || v.GetPrincipal().GetDisplayName() != "One" {
		t.Fatalf("verify = %v, %v", v, err)
	}
	first := lastUsed()
	if first == nil {
		t.Fatal("last_used_time not set by a successful lookup")
	}
	// Within a minute: not rewritten.
	clk.advance(30 * time.Second)
	if _, err := prVerify(e, created.GetSecret()); err != nil {
		t.Fatal(err)
	}
	if got := lastUsed(); !got.AsTime().Equal(first.AsTime()) {
		t.Fatalf("last_used_time moved within a minute: %v -> %v", first.AsTime(), got.AsTime())
	}
	// Over a minute later: refreshed.
	clk.advance(time.Minute)
	if _, err := prVerify(e, created.GetSecret()); err != nil {
		t.Fatal(err)
	}
	if got := lastUsed(); !got.AsTime().After(first.AsTime().Add(time.Minute)) {
		t.Fatalf("last_used_time not refreshed: %v -> %v", first.AsTime(), got.AsTime())
	}
	// Lookups emit no events.
	if evs := prEvents(e, seq); len(evs) != 0 {
		t.Fatalf("lookups emitted %v", evs)
	}

	unknown, err := credential.NewAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	for name, secret := range map[string]string{
		"unknown":      unknown.Secret,
		"garbage":      "not an api key",
		"marker only":  credential.APIKeyMarker,
		"truncated":    created.GetSecret()[:len(created.GetSecret())-1],
		"prefix shown": created.GetApiKey().GetPrefix(),
	} {
		_, err := prVerify(e, secret)
		prWant(t, name, err, codes.Unauthenticated, "INVALID_CREDENTIALS")
	}

	// Expiry: expire_time <= now refuses with API_KEY_REVOKED.
	expiring, err := e.c.CreateApiKey(ctx, &directoryv1.CreateApiKeyRequest{Parent: parent,
		ApiKey: &directoryv1.ApiKey{DisplayName: "short", ExpireTime: timestamppb.New(clk.now().Add(time.Hour))}}, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	v, err = prVerify(e, expiring.GetSecret())
	if err != nil {
		t.Fatal(err)
	}
	if until := v.GetCacheUntil().AsTime(); until.After(expiring.GetApiKey().GetExpireTime().AsTime()) {
		t.Fatalf("cache_until %v after the key's expiry", until)
	}
	clk.advance(time.Hour)
	_, err = prVerify(e, expiring.GetSecret())
	prWant(t, "expired key", err, codes.FailedPrecondition, "API_KEY_REVOKED")

	// Revocation: the index entry is gone, so the secret is simply unknown.
	if _, err := e.c.RevokeApiKey(ctx, &directoryv1.RevokeApiKeyRequest{Name: created.GetApiKey().GetName()}, e.svc); err != nil {
		t.Fatal(err)
	}
	_, err = prVerify(e, created.GetSecret())
	prWant(t, "revoked key", err, codes.Unauthenticated, "INVALID_CREDENTIALS")
}
