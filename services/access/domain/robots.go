package domain

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	accessv1 "steward.dev/gen/steward/access/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/pagetoken"
	"steward.dev/pkg/records"
	"steward.dev/pkg/resourcename"
	"steward.dev/pkg/store"
)

// Robot usage scopes (R20, seed 000 "Configure on-premises robots for an
// account"). An account (user or robot account) has at most one stored
// RobotUsageScope, at usagePrefix + "{account}/robotUsageScope"; without
// one it may use every robot of its organization (MODE_ALL).
//
// The scopes name directory objects (the account, the robots) that the
// directory may delete later. The directory feed follows those deletions in
// the transaction that applies them (directory.go): deleting a user or robot
// account deletes its stored scope (one TypeRobotUsageScopeDeleted event),
// and deleting a robot removes it from every stored scope that lists it (one
// TypeRobotUsageScopeSet event per changed scope), so a later account or
// robot of the same name inherits nothing. Decisions also look the account
// and the robots up in the directory mirror: an account that is unknown is
// not found, one that is not active (a deactivated user) may use no robot.

// robotUsageSuffix ends the name of an account's robot usage scope.
const robotUsageSuffix = "/robotUsageScope"

// robotUsageKey is the store key of the robot usage scope named name.
func robotUsageKey(name string) []byte { return []byte(usagePrefix + name) }

// robotUsageVisible returns ErrNotFound when a user actor looks at an
// account of another organization.
func robotUsageVisible(actor Actor, name string) error {
	if !actor.IsService() && actor.Organization != resourcename.OrganizationOf(name) {
		return errorf(ErrNotFound, "%s not found", name)
	}
	return nil
}

// robotUsageAccount checks that account is a user or robot account the
// directory knows, and visible to actor, and returns what the mirror knows
// of it.
func (s *Service) robotUsageAccount(actor Actor, account string) (MirrorPrincipal, error) {
	if err := robotUsageVisible(actor, account); err != nil {
		return MirrorPrincipal{}, err
	}
	kind, _ := principalKindOf(account)
	if kind != accessv1.PrincipalKind_PRINCIPAL_KIND_USER && kind != accessv1.PrincipalKind_PRINCIPAL_KIND_ROBOT_ACCOUNT {
		return MirrorPrincipal{}, errorf(ErrNotFound, "%s not found", account)
	}
	p, ok := s.Mirror().Principal(account)
	if !ok {
		return MirrorPrincipal{}, errorf(ErrNotFound, "%s not found", account)
	}
	return p, nil
}

// defaultRobotUsageScope is the scope of an account that has none stored:
// every robot (MODE_ALL).
func defaultRobotUsageScope(name string) *accessv1.RobotUsageScope {
	u := &accessv1.RobotUsageScope{Name: name, Mode: accessv1.RobotUsageScope_MODE_ALL}
	records.SetEtag(u)
	return u
}

// readRobotUsageScope returns the scope named name, the default when none
// is stored.
func readRobotUsageScope(tx store.ReadTx, name string) (*accessv1.RobotUsageScope, bool, error) {
	u := &accessv1.RobotUsageScope{}
	err := store.GetProto(tx, robotUsageKey(name), u)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return defaultRobotUsageScope(name), false, nil
	case err != nil:
		return nil, false, err
	}
	return u, true, nil
}

// GetRobotUsageScope returns the robot usage scope req.Name of an existing
// account; an account without one has MODE_ALL (R20).
func (s *Service) GetRobotUsageScope(ctx context.Context, actor Actor, req *accessv1.GetRobotUsageScopeRequest) (*accessv1.RobotUsageScope, error) {
	name := req.GetName()
	if _, err := s.robotUsageAccount(actor, strings.TrimSuffix(name, robotUsageSuffix)); err != nil {
		return nil, err
	}
	var out *accessv1.RobotUsageScope
	err := s.view(ctx, func(tx store.ReadTx) error {
		var err error
		out, _, err = readRobotUsageScope(tx, name)
		return err
	})
	return out, err
}

// SetRobotUsageScope replaces an account's robot usage scope (R20). The
// account must be a user or robot account the directory knows; every listed
// robot must be a robot of the account's organization (a field error
// otherwise). With MODE_ALL the listed robots are kept but not consulted.
// A non-empty etag must be the current one (the default scope's when none is
// stored). A change is stored with a new etag and update_time and recorded as
// one TypeRobotUsageScopeSet event; setting what is stored already changes
// nothing.
func (s *Service) SetRobotUsageScope(ctx context.Context, actor Actor, req *accessv1.SetRobotUsageScopeRequest) (*accessv1.RobotUsageScope, error) {
	in := req.GetRobotUsageScope()
	name := in.GetName()
	account := strings.TrimSuffix(name, robotUsageSuffix)
	if _, err := s.robotUsageAccount(actor, account); err != nil {
		return nil, err
	}
	org, m := resourcename.OrganizationOf(account), s.Mirror()
	for i, r := range in.GetRobots() {
		field := fmt.Sprintf("robot_usage_scope.robots[%d]", i)
		if resourcename.OrganizationOf(r) != org {
			return nil, fieldError(field, "%s is not a robot of %s", r, org)
		}
		if _, ok := m.Robot(r); !ok {
			return nil, fieldError(field, "robot %s not found", r)
		}
	}
	var out *accessv1.RobotUsageScope
	_, err := s.update(ctx, actor, func(t *txn) error {
		cur, stored, err := readRobotUsageScope(t, name)
		if err != nil {
			return err
		}
		if e := in.GetEtag(); e != "" && e != cur.GetEtag() {
			return errorWith(ErrEtagMismatch, map[string]string{"resource": name},
				"%s was changed since it was read (etag %s, current %s)", name, e, cur.GetEtag())
		}
		if stored && cur.GetMode() == in.GetMode() && slices.Equal(cur.GetRobots(), in.GetRobots()) {
			out = cur
			return nil
		}
		u := &accessv1.RobotUsageScope{Name: name, Mode: in.GetMode(), Robots: slices.Clone(in.GetRobots()), UpdateTime: t.Timestamp()}
		records.SetEtag(u)
		if err := store.PutProto(t.Tx, robotUsageKey(name), u); err != nil {
			return err
		}
		op := eventlogv1.Operation_OPERATION_UPDATE
		if !stored {
			op = eventlogv1.Operation_OPERATION_CREATE
		}
		if err := t.Emit(TypeRobotUsageScopeSet, op, name, u, robotUsageMessage(account, u)); err != nil {
			return err
		}
		out = u
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// robotUsageMessage is the audit text of a robot usage scope change.
func robotUsageMessage(account string, u *accessv1.RobotUsageScope) string {
	if u.GetMode() == accessv1.RobotUsageScope_MODE_ALL {
		return fmt.Sprintf("Robot usage scope of %s set to all robots", account)
	}
	return fmt.Sprintf("Robot usage scope of %s set to the logged-in robot and %d specified robots", account, len(u.GetRobots()))
}

// robotUsageOf returns the account's effective scope (the default when
// none is stored).
func (s *Service) robotUsageOf(ctx context.Context, account string) (*accessv1.RobotUsageScope, error) {
	var u *accessv1.RobotUsageScope
	err := s.view(ctx, func(tx store.ReadTx) error {
		var err error
		u, _, err = readRobotUsageScope(tx, account+robotUsageSuffix)
		return err
	})
	return u, err
}

// CheckRobotUse answers whether an account may run on a robot (R20, seed
// 000):
//
//   - the robot must be a robot of the account's organization that the
//     directory knows, else the run is refused;
//   - a manual run (from the robot client) runs only on the robot the
//     account is logged in to, whatever its scope;
//   - a remote run (schedule, API trigger, MCP tool call) may use every robot
//     of the organization with MODE_ALL, and the logged-in robot plus the
//     listed robots with MODE_SPECIFIED.
//
// An account that is not active (a deactivated user) is refused every run.
// An unknown account, or one of another organization for a user actor, is
// ErrNotFound. Who may ask is the server's concern.
func (s *Service) CheckRobotUse(ctx context.Context, actor Actor, req *accessv1.CheckRobotUseRequest) (*accessv1.CheckRobotUseResponse, error) {
	account, robot, loggedIn := req.GetAccount(), req.GetRobot(), req.GetLoggedInRobot()
	p, err := s.robotUsageAccount(actor, account)
	if err != nil {
		return nil, err
	}
	deny := func(format string, args ...any) (*accessv1.CheckRobotUseResponse, error) {
		return &accessv1.CheckRobotUseResponse{Reason: fmt.Sprintf(format, args...)}, nil
	}
	allow := func(format string, args ...any) (*accessv1.CheckRobotUseResponse, error) {
		return &accessv1.CheckRobotUseResponse{Allowed: true, Reason: fmt.Sprintf(format, args...)}, nil
	}
	if !p.Active {
		return deny("%s is not active and may use no robot", account)
	}
	org := resourcename.OrganizationOf(account)
	if resourcename.OrganizationOf(robot) != org {
		return deny("%s is not a robot of %s", robot, org)
	}
	if _, ok := s.Mirror().Robot(robot); !ok {
		return deny("robot %s not found", robot)
	}
	if req.GetMode() == accessv1.CheckRobotUseRequest_MODE_MANUAL {
		switch {
		case loggedIn == "":
			return deny("a manual run uses only the robot the account is logged in to, and %s is logged in to none", account)
		case robot != loggedIn:
			return deny("a manual run uses only the robot the account is logged in to (%s)", loggedIn)
		}
		return allow("manual run on the robot the account is logged in to")
	}
	u, err := s.robotUsageOf(ctx, account)
	if err != nil {
		return nil, err
	}
	switch {
	case u.GetMode() != accessv1.RobotUsageScope_MODE_SPECIFIED:
		return allow("the robot usage scope of %s is all robots", account)
	case robot == loggedIn:
		return allow("remote run on the robot the account is logged in to")
	case slices.Contains(u.GetRobots(), robot):
		return allow("%s is in the robot usage scope of %s", robot, account)
	}
	return deny("%s is not in the robot usage scope of %s (the logged-in robot and the specified robots)", robot, account)
}

// ListUsableRobots lists, by name, the directory's robots of the account's
// organization that the account may use remotely (R20: robot monitoring
// shows only these): all of them with MODE_ALL, the listed ones that still
// exist with MODE_SPECIFIED, none when the account is not active. The
// logged-in robot is not known here.
func (s *Service) ListUsableRobots(ctx context.Context, actor Actor, req *accessv1.ListUsableRobotsRequest) (*accessv1.ListUsableRobotsResponse, error) {
	account := req.GetAccount()
	p, err := s.robotUsageAccount(actor, account)
	if err != nil {
		return nil, err
	}
	fp := pagetoken.Fingerprint("usableRobots", account)
	after, err := pagetoken.Decode(req.GetPageToken(), fp)
	if err != nil {
		return nil, fieldError("page_token", "invalid page token (it must come from a previous page of the same request)")
	}
	if !p.Active {
		// A deactivated user may use no robot.
		return &accessv1.ListUsableRobotsResponse{}, nil
	}
	u, err := s.robotUsageOf(ctx, account)
	if err != nil {
		return nil, err
	}
	var listed map[string]bool
	if u.GetMode() == accessv1.RobotUsageScope_MODE_SPECIFIED {
		listed = make(map[string]bool, len(u.GetRobots()))
		for _, r := range u.GetRobots() {
			listed[r] = true
		}
	}
	robots := s.Mirror().Robots(resourcename.OrganizationOf(account)) // sorted by name
	size := records.PageSize(req.GetPageSize())
	resp := &accessv1.ListUsableRobotsResponse{}
	for _, r := range robots {
		if after != nil && r.Name <= string(after) {
			continue
		}
		if listed != nil && !listed[r.Name] {
			continue
		}
		if len(resp.Robots) == size {
			resp.NextPageToken = pagetoken.Encode([]byte(resp.Robots[size-1].GetName()), fp)
			break
		}
		resp.Robots = append(resp.Robots, &accessv1.UsableRobot{Name: r.Name, DisplayName: r.DisplayName, MachineName: r.MachineName})
	}
	return resp, nil
}

// deleteRobotUsageScope deletes, in t, the stored robot usage scope of
// account, which the directory deleted, with one TypeRobotUsageScopeDeleted
// event; an account without one changes nothing. display names the account
// in the audit message.
func (t *txn) deleteRobotUsageScope(account, display string) error {
	name := account + robotUsageSuffix
	u, stored, err := readRobotUsageScope(t, name)
	if err != nil || !stored {
		return err
	}
	if err := t.Delete(robotUsageKey(name)); err != nil {
		return err
	}
	return t.Emit(TypeRobotUsageScopeDeleted, eventlogv1.Operation_OPERATION_DELETE, name, u,
		fmt.Sprintf("Robot usage scope of %s was deleted because %s was deleted.", display, display))
}

// removeRobotFromUsageScopes removes, in t, the robot the directory deleted
// from every stored robot usage scope of its organization that lists it
// (whatever the scope's mode: a MODE_ALL scope keeps its list for a later
// switch back), each with a new etag and update_time and one
// TypeRobotUsageScopeSet event. display names the robot in the audit
// message.
func (t *txn) removeRobotFromUsageScopes(robot, display string) error {
	org := resourcename.OrganizationOf(robot)
	if org == "" {
		return nil
	}
	var changed []*accessv1.RobotUsageScope
	err := t.Scan([]byte(usagePrefix+org+"/"), nil, func(k, v []byte) (bool, error) {
		u := &accessv1.RobotUsageScope{}
		if err := proto.Unmarshal(v, u); err != nil {
			return false, fmt.Errorf("domain: robot usage scope %s: %w", k, err)
		}
		if slices.Contains(u.GetRobots(), robot) {
			changed = append(changed, u)
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, u := range changed {
		u.Robots = slices.DeleteFunc(u.GetRobots(), func(r string) bool { return r == robot })
		u.UpdateTime = t.Timestamp()
		records.SetEtag(u)
		if err := store.PutProto(t.Tx, robotUsageKey(u.GetName()), u); err != nil {
			return err
		}
		account := strings.TrimSuffix(u.GetName(), robotUsageSuffix)
		msg := fmt.Sprintf("Robot %s was removed from the robot usage scope of %s because it was deleted.", display, t.principalDisplay(account))
		if err := t.Emit(TypeRobotUsageScopeSet, eventlogv1.Operation_OPERATION_UPDATE, u.GetName(), u, msg); err != nil {
			return err
		}
	}
	return nil
}
