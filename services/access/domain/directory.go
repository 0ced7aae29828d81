package domain

// The directory feed: access follows the directory's event log (a
// pkg/eventlog Consumer whose Apply is ApplyDirectoryEvent) and keeps the
// facts it needs — principals, memberships, scope nodes, robots — in its own
// store under "dir/", so a restart rebuilds the authorization model and the
// Mirror without replaying the directory. The same transaction makes the
// built-in assignments the directory's events call for (R1, R5, R6, R13)
// and advances the consumer's cursor, so each event is applied exactly once.
// The model and the Mirror follow after the commit.

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/resourcename"
	"steward.dev/pkg/store"
	"steward.dev/services/access/authorizer"
	"steward.dev/services/access/catalogue"
)

// The states of a service's Shared folder (dirSharedPrefix). A service
// access saw created waits for its Shared folder (pending) to make the
// default groups' folder roles there; a service without a state was made
// before services came with a Shared folder, and its default groups' folder
// roles sit at the service until its Shared folder appears. Either way the
// Shared folder is handled once (done): a folder re-created later under the
// same name gets nothing.
const (
	sharedPending = "pending"
	sharedDone    = "done"
)

// directoryActor is who access's events made from the directory's events
// are attributed to.
var directoryActor = Actor{Name: "services/directory", DisplayName: "directory"}

// directoryState is the Service's state about the directory: the Mirror.
type directoryState struct {
	mirror *Mirror
}

// dirPrincipal is a stored principal (its name is the key).
type dirPrincipal struct {
	Kind         accessv1.PrincipalKind `json:"kind"`
	Active       bool                   `json:"active"`
	Organization string                 `json:"organization"`
	DisplayName  string                 `json:"display_name,omitempty"`
	Email        string                 `json:"email,omitempty"`
	Everyone     bool                   `json:"everyone,omitempty"`
}

// dirScope is a stored scope node (its name is the key).
type dirScope struct {
	DisplayName string `json:"display_name,omitempty"`
	ServiceType string `json:"service_type,omitempty"`
}

// dirRobot is a stored robot (its name is the key).
type dirRobot struct {
	DisplayName string `json:"display_name,omitempty"`
	MachineName string `json:"machine_name,omitempty"`
}

// SetDirectoryFeed gives the service the consumer that applies the
// directory's events, whose cursor Check's consistency wait follows.
func (s *Service) SetDirectoryFeed(c *eventlog.Consumer) {
	s.feed = c
}

// Mirror returns the in-memory copy of the directory facts access follows.
func (s *Service) Mirror() *Mirror {
	if s.dir == nil {
		return nil
	}
	return s.dir.mirror
}

// directoryCursor returns the directory sequence applied so far.
func (s *Service) directoryCursor() uint64 {
	if s.replica != nil {
		return s.replica.directory.get()
	}
	if s.feed == nil {
		return 0
	}
	return s.feed.Cursor()
}

// ApplyDirectoryEvent applies one event of the directory's log inside the
// consumer's transaction tx (which also advances its cursor): it stores the
// directory facts, makes or removes the assignments the event calls for
// (one access event each) and, after the commit, updates the model and the
// Mirror. Event types access does not follow are ignored.
func (s *Service) ApplyDirectoryEvent(tx store.Tx, ev *eventlogv1.Event) error {
	actor := directoryActor
	actor.RequestID = ev.GetAudit().GetRequestId()
	t := s.begin(tx, actor)
	if err := t.applyDirectoryEvent(ev); err != nil {
		return err
	}
	t.noteCommit()
	return nil
}

// applyDirectoryEvent is ApplyDirectoryEvent in t: the fact the event
// states (decodeDirectoryEvent) stored, then the built-in assignments it
// calls for.
func (t *txn) applyDirectoryEvent(ev *eventlogv1.Event) error {
	f, err := decodeDirectoryEvent(ev)
	if err != nil {
		return err
	}
	if err := t.storeFact(f); err != nil {
		return err
	}
	return t.seedFor(f)
}

// factOp is the kind of fact a directory event states.
type factOp uint8

// The facts of the directory access follows.
const (
	factNone factOp = iota // an event access does not follow
	factPutScope
	factDeleteScope
	factPutPrincipal
	factDeletePrincipal
	factPutMembership
	factDeleteMembership
	factPutRobot
	factDeleteRobot
	factPutAPIKey
	factDeleteAPIKey
)

// directoryFact is what one directory event tells access, decoded once by
// decodeDirectoryEvent for both the feed (storeFact and seedFor: the store,
// the built-in assignments, the model after the commit) and the history
// (history_replay.go: a model of the past). applyFact is its effect on a
// model, the same for both.
type directoryFact struct {
	typ directoryv1.EventType
	op  factOp
	// name is what a delete removes.
	name string
	// scope is the scope to put; inherit says it is a folder or project,
	// whose type is its service's (resolved before applyFact).
	scope      MirrorScope
	inherit    bool
	principal  MirrorPrincipal
	membership authorizer.Membership
	robot      MirrorRobot
	key        authorizer.APIKey
	// dropUsage: the deleted principal's robot usage scope goes with it
	// (R20).
	dropUsage bool
	// What the built-in assignments need (seedFor): the created service,
	// the Shared folder created or named, an owner created, a default
	// group or a robot account created.
	service      *directoryv1.Service
	sharedFolder *directoryv1.Folder
	owner        bool
	defaultGroup bool
	robotAccount bool
}

// decodeDirectoryEvent returns the fact ev states; factNone for the event
// types access does not follow and for memberships across organizations.
func decodeDirectoryEvent(ev *eventlogv1.Event) (directoryFact, error) {
	typ, _ := eventlog.ParseType[directoryv1.EventType](ev.GetType())
	f := directoryFact{typ: typ}
	switch typ {
	case directoryv1.EventType_EVENT_TYPE_ORGANIZATION_CREATED:
		o := &directoryv1.Organization{}
		f.op = factPutScope
		return f, f.decodeScope(ev, o, func() { f.scope = MirrorScope{Name: o.GetName(), DisplayName: o.GetDisplayName()} })

	case directoryv1.EventType_EVENT_TYPE_TENANT_CREATED, directoryv1.EventType_EVENT_TYPE_TENANT_UPDATED:
		m := &directoryv1.Tenant{}
		f.op = factPutScope
		return f, f.decodeScope(ev, m, func() { f.scope = MirrorScope{Name: m.GetName(), DisplayName: m.GetDisplayName()} })

	case directoryv1.EventType_EVENT_TYPE_SERVICE_CREATED, directoryv1.EventType_EVENT_TYPE_SERVICE_UPDATED:
		m := &directoryv1.Service{}
		f.op = factPutScope
		return f, f.decodeScope(ev, m, func() {
			f.scope = MirrorScope{Name: m.GetName(), DisplayName: m.GetDisplayName(), ServiceType: m.GetType()}
			if typ == directoryv1.EventType_EVENT_TYPE_SERVICE_CREATED {
				f.service = m
			}
		})

	case directoryv1.EventType_EVENT_TYPE_FOLDER_CREATED, directoryv1.EventType_EVENT_TYPE_FOLDER_UPDATED:
		m := &directoryv1.Folder{}
		f.op, f.inherit = factPutScope, true
		return f, f.decodeScope(ev, m, func() {
			f.scope = MirrorScope{Name: m.GetName(), DisplayName: m.GetDisplayName()}
			// The directory creates the Shared folder with its service, and
			// names an existing one (created, or updated when a folder of
			// that name was there already) when it migrates older services.
			if svc := serviceNodeOf(m.GetName()); svc != "" && m.GetName() == sharedFolderOf(svc) {
				f.sharedFolder = m
			}
		})

	case directoryv1.EventType_EVENT_TYPE_PROJECT_CREATED, directoryv1.EventType_EVENT_TYPE_PROJECT_UPDATED:
		m := &directoryv1.Project{}
		f.op, f.inherit = factPutScope, true
		return f, f.decodeScope(ev, m, func() { f.scope = MirrorScope{Name: m.GetName(), DisplayName: m.GetDisplayName()} })

	case directoryv1.EventType_EVENT_TYPE_TENANT_DELETED, directoryv1.EventType_EVENT_TYPE_SERVICE_DELETED, directoryv1.EventType_EVENT_TYPE_FOLDER_DELETED, directoryv1.EventType_EVENT_TYPE_PROJECT_DELETED:
		f.op = factDeleteScope
		return f, f.named(ev)

	case directoryv1.EventType_EVENT_TYPE_USER_CREATED, directoryv1.EventType_EVENT_TYPE_USER_UPDATED, directoryv1.EventType_EVENT_TYPE_USER_ACTIVATED, directoryv1.EventType_EVENT_TYPE_USER_DEACTIVATED,
		directoryv1.EventType_EVENT_TYPE_USER_PROVISIONED, directoryv1.EventType_EVENT_TYPE_USER_GROUPS_ASSIGNED, directoryv1.EventType_EVENT_TYPE_TOTP_ENROLLED:
		u := &directoryv1.User{}
		if err := decodeEvent(ev, u); err != nil {
			return f, err
		}
		display := u.GetDisplayName()
		if display == "" {
			display = u.GetNickname()
		}
		f.op, f.principal = factPutPrincipal, MirrorPrincipal{
			Name: u.GetName(), Kind: accessv1.PrincipalKind_PRINCIPAL_KIND_USER, DisplayName: display,
			Email: u.GetEmail(), Organization: resourcename.OrganizationOf(u.GetName()), Active: u.GetState() == directoryv1.User_STATE_ACTIVE,
		}
		f.owner = typ == directoryv1.EventType_EVENT_TYPE_USER_CREATED && u.GetOwner()
		return f, nil

	case directoryv1.EventType_EVENT_TYPE_GROUP_CREATED, directoryv1.EventType_EVENT_TYPE_GROUP_UPDATED:
		g := &directoryv1.Group{}
		if err := decodeEvent(ev, g); err != nil {
			return f, err
		}
		f.op, f.principal = factPutPrincipal, MirrorPrincipal{
			Name: g.GetName(), Kind: accessv1.PrincipalKind_PRINCIPAL_KIND_GROUP, DisplayName: g.GetDisplayName(),
			Organization: resourcename.OrganizationOf(g.GetName()), Active: true,
			Everyone: g.GetDefaultGroup() == directoryv1.Group_DEFAULT_GROUP_EVERYONE,
		}
		f.defaultGroup = typ == directoryv1.EventType_EVENT_TYPE_GROUP_CREATED && g.GetKind() == directoryv1.Group_KIND_DEFAULT
		return f, nil

	case directoryv1.EventType_EVENT_TYPE_ROBOT_ACCOUNT_CREATED, directoryv1.EventType_EVENT_TYPE_ROBOT_ACCOUNT_UPDATED:
		ra := &directoryv1.RobotAccount{}
		if err := decodeEvent(ev, ra); err != nil {
			return f, err
		}
		f.op, f.principal = factPutPrincipal, MirrorPrincipal{
			Name: ra.GetName(), Kind: accessv1.PrincipalKind_PRINCIPAL_KIND_ROBOT_ACCOUNT, DisplayName: ra.GetDisplayName(),
			Organization: resourcename.OrganizationOf(ra.GetName()), Active: true,
		}
		f.robotAccount = typ == directoryv1.EventType_EVENT_TYPE_ROBOT_ACCOUNT_CREATED
		return f, nil

	case directoryv1.EventType_EVENT_TYPE_EXTERNAL_APP_CREATED, directoryv1.EventType_EVENT_TYPE_EXTERNAL_APP_UPDATED:
		app := &directoryv1.ExternalApp{}
		if err := decodeEvent(ev, app); err != nil {
			return f, err
		}
		f.op, f.principal = factPutPrincipal, MirrorPrincipal{
			Name: app.GetName(), Kind: accessv1.PrincipalKind_PRINCIPAL_KIND_EXTERNAL_APP, DisplayName: app.GetDisplayName(),
			Organization: resourcename.OrganizationOf(app.GetName()), Active: true,
		}
		return f, nil

	case directoryv1.EventType_EVENT_TYPE_USER_DELETED, directoryv1.EventType_EVENT_TYPE_GROUP_DELETED, directoryv1.EventType_EVENT_TYPE_ROBOT_ACCOUNT_DELETED, directoryv1.EventType_EVENT_TYPE_EXTERNAL_APP_DELETED:
		f.op = factDeletePrincipal
		f.dropUsage = typ == directoryv1.EventType_EVENT_TYPE_USER_DELETED || typ == directoryv1.EventType_EVENT_TYPE_ROBOT_ACCOUNT_DELETED
		return f, f.named(ev)

	case directoryv1.EventType_EVENT_TYPE_GROUP_MEMBER_ADDED, directoryv1.EventType_EVENT_TYPE_GROUP_MEMBER_REMOVED:
		m := &directoryv1.GroupMembership{}
		if err := decodeEvent(ev, m); err != nil {
			return f, err
		}
		f.membership = authorizer.Membership{Group: m.GetGroup(), Member: m.GetMember()}
		if typ == directoryv1.EventType_EVENT_TYPE_GROUP_MEMBER_REMOVED {
			f.op = factDeleteMembership
			return f, nil
		}
		// A group has members of its own organization only; a membership
		// across organizations must never grant anything, so it is not
		// followed (the model's Check denies across organizations as well).
		if org := resourcename.OrganizationOf(m.GetGroup()); org != "" && resourcename.OrganizationOf(m.GetMember()) == org {
			f.op = factPutMembership
		}
		return f, nil

	case directoryv1.EventType_EVENT_TYPE_ROBOT_CREATED, directoryv1.EventType_EVENT_TYPE_ROBOT_UPDATED:
		r := &directoryv1.Robot{}
		if err := decodeEvent(ev, r); err != nil {
			return f, err
		}
		f.op, f.robot = factPutRobot, MirrorRobot{Name: r.GetName(), DisplayName: r.GetDisplayName(), MachineName: r.GetMachineName()}
		return f, nil

	case directoryv1.EventType_EVENT_TYPE_ROBOT_DELETED:
		f.op = factDeleteRobot
		return f, f.named(ev)

	case directoryv1.EventType_EVENT_TYPE_API_KEY_CREATED, directoryv1.EventType_EVENT_TYPE_API_KEY_UPDATED, directoryv1.EventType_EVENT_TYPE_API_KEY_REVOKED, directoryv1.EventType_EVENT_TYPE_API_KEY_DELETED:
		return f, f.decodeAPIKey(ev) // apikeys.go
	}
	return f, nil
}

// decodeScope decodes ev's data into m and, on success, calls set to fill
// f's scope from it.
func (f *directoryFact) decodeScope(ev *eventlogv1.Event, m proto.Message, set func()) error {
	if err := decodeEvent(ev, m); err != nil {
		return err
	}
	set()
	return nil
}

// named sets f's name to the resource ev names, which a delete needs.
func (f *directoryFact) named(ev *eventlogv1.Event) error {
	if ev.GetResource() == "" {
		return fmt.Errorf("domain: directory event %d (%s) names no resource", ev.GetSequence(), f.typ)
	}
	f.name = ev.GetResource()
	return nil
}

// storeFact writes f to the store (with the assignment removals a
// deletion calls for, one access event each) and, after the commit,
// applies it to the model and the Mirror.
func (t *txn) storeFact(f directoryFact) error {
	switch f.op {
	case factPutScope:
		if f.inherit {
			typ, err := t.serviceTypeOf(f.scope.Name)
			if err != nil {
				return err
			}
			f.scope.ServiceType, f.inherit = typ, false
		}
		return t.putScope(f.scope)
	case factDeleteScope:
		return t.deleteScope(f.name)
	case factPutPrincipal:
		return t.putPrincipal(f.principal)
	case factDeletePrincipal:
		if f.dropUsage {
			if err := t.deleteRobotUsageScope(f.name, t.principalDisplay(f.name)); err != nil {
				return err
			}
		}
		return t.deletePrincipal(f.name)
	case factPutMembership:
		return t.putMembership(f.membership.Group, f.membership.Member)
	case factDeleteMembership:
		return t.deleteMembership(f.membership.Group, f.membership.Member)
	case factPutRobot:
		return t.putRobot(f.robot)
	case factDeleteRobot:
		return t.deleteRobot(f.name)
	case factPutAPIKey:
		return t.putAPIKey(f.key)
	case factDeleteAPIKey:
		return t.deleteAPIKey(f.key.ID)
	}
	return nil
}

// seedFor makes the built-in assignments f calls for (R1, R5, R6, R13).
func (t *txn) seedFor(f directoryFact) error {
	p := f.principal
	switch {
	case f.service != nil:
		return t.seedService(f.service)
	case f.sharedFolder != nil:
		return t.seedSharedFolder(serviceNodeOf(f.sharedFolder.GetName()), f.sharedFolder)
	case f.owner:
		return t.seed(p.Name, catalogue.RoleOwner, p.Organization,
			fmt.Sprintf("Role Owner was bound to %s, the owner of organization %s.", p.DisplayName, t.scopeDisplay(p.Organization)))
	case f.defaultGroup:
		return t.seedDefaultGroup(p)
	case f.robotAccount:
		return t.seedRobotAccount(p)
	}
	return nil
}

// onCommitApply applies f to the live model once t commits.
func (t *txn) onCommitApply(f directoryFact) {
	model := t.s.model
	t.onModel(func() { applyFact(model, f) })
}

// applyFact applies f to m: what the feed does to the live model after
// each commit, and the history to a model of the past. A scope to inherit
// its service's type takes it from m. Facts the model does not hold
// (robots) and those it refuses (a malformed scope name) change nothing.
func applyFact(m *authorizer.Model, f directoryFact) {
	switch f.op {
	case factPutScope:
		if f.inherit {
			svc, _, _ := m.LookupScope(serviceNodeOf(f.scope.Name))
			f.scope.ServiceType = svc.ServiceType
		}
		_ = m.UpsertScope(modelScope(f.scope))
	case factDeleteScope:
		m.DeleteScope(f.name)
	case factPutPrincipal:
		_ = m.UpsertPrincipal(modelPrincipal(f.principal))
	case factDeletePrincipal:
		m.DeletePrincipal(f.name)
	case factPutMembership:
		_ = m.UpsertMembership(f.membership)
	case factDeleteMembership:
		m.DeleteMembership(f.membership)
	case factPutAPIKey:
		_ = m.UpsertAPIKey(f.key)
	case factDeleteAPIKey:
		m.DeleteAPIKey(f.key.ID)
	}
}

// sharedFolderID is the ID of the Shared folder the directory creates with
// every Orchestrator service (its CreateService contract,
// proto/steward/directory/v1/directory_service.proto).
const sharedFolderID = "shared"

// sharedFolderOf returns the name of the Shared folder of service.
func sharedFolderOf(service string) string { return service + "/folders/" + sharedFolderID }

// decodeEvent unmarshals the event's data into m. Data of the wrong type is
// an error: the consumer retries rather than losing a fact.
func decodeEvent(ev *eventlogv1.Event, m proto.Message) error {
	if ev.GetData() == nil {
		return fmt.Errorf("domain: directory event %d (%s) has no data", ev.GetSequence(), ev.GetType())
	}
	if err := ev.GetData().UnmarshalTo(m); err != nil {
		return fmt.Errorf("domain: directory event %d (%s): %w", ev.GetSequence(), ev.GetType(), err)
	}
	return nil
}

// putJSON stores v as JSON at key.
func putJSON(tx store.Tx, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Put([]byte(key), b)
}

// keysUnder returns the keys with prefix (copied).
func keysUnder(tx store.ReadTx, prefix string) ([]string, error) {
	var keys []string
	err := tx.Scan([]byte(prefix), nil, func(k, _ []byte) (bool, error) {
		keys = append(keys, string(k))
		return true, nil
	})
	return keys, err
}

// ---- Scope nodes ----

// putScope stores a scope node and, after the commit, puts it in the model
// (which the Mirror reads). A service's type is indexed for the seeding of robot
// accounts.
func (t *txn) putScope(sc MirrorScope) error {
	if err := putJSON(t.Tx, dirScopePrefix+sc.Name, dirScope{DisplayName: sc.DisplayName, ServiceType: sc.ServiceType}); err != nil {
		return err
	}
	if isServiceNode(sc.Name) {
		if err := t.Put([]byte(dirServicePrefix+sc.Name), []byte(sc.ServiceType)); err != nil {
			return err
		}
	}
	t.onCommitApply(directoryFact{op: factPutScope, scope: sc})
	return nil
}

// putChildScope stores a folder or project, which inherits its service's
// type.
func (t *txn) putChildScope(name, display string) error {
	typ, err := t.serviceTypeOf(name)
	if err != nil {
		return err
	}
	return t.putScope(MirrorScope{Name: name, DisplayName: display, ServiceType: typ})
}

// serviceTypeOf returns the type of the service that name is or lies in,
// "" above services or when the service is unknown.
func (t *txn) serviceTypeOf(name string) (string, error) {
	svc := serviceNodeOf(name)
	if svc == "" {
		return "", nil
	}
	b, err := t.Get([]byte(dirServicePrefix + svc))
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	return string(b), err
}

// isServiceNode reports whether name is "organizations/{o}/tenants/{t}/services/{s}".
func isServiceNode(name string) bool {
	parts := strings.Split(name, "/")
	return len(parts) == 6 && parts[0] == "organizations" && parts[2] == "tenants" && parts[4] == "services"
}

// serviceNodeOf returns the service node name is or lies in, or "".
func serviceNodeOf(name string) string {
	parts := strings.SplitN(name, "/", 7)
	if len(parts) < 6 || parts[0] != "organizations" || parts[2] != "tenants" || parts[4] != "services" {
		return ""
	}
	return strings.Join(parts[:6], "/")
}

// deleteScope removes the scope node name and its subtree: every stored
// assignment there (one access event each), the stored nodes and, after the
// commit, the model's copy.
func (t *txn) deleteScope(name string) error {
	as, err := assignmentsUnder(t, name)
	if err != nil {
		return err
	}
	display := t.scopeDisplay(name)
	for _, a := range as {
		msg := fmt.Sprintf("Role %s of %s at %s was removed because %s was deleted.",
			t.roleDisplay(a.GetRole()), t.principalDisplay(a.GetPrincipal()), t.scopeDisplay(a.GetScope()), display)
		if err := t.removeAssignment(a, msg); err != nil {
			return err
		}
	}
	for _, prefix := range []string{dirScopePrefix, dirServicePrefix, dirSharedPrefix} {
		keys, err := keysUnder(t, prefix+name+"/")
		if err != nil {
			return err
		}
		keys = append(keys, prefix+name)
		for _, k := range keys {
			if err := t.Delete([]byte(k)); err != nil {
				return err
			}
		}
	}
	t.onCommitApply(directoryFact{op: factDeleteScope, name: name})
	return nil
}

// scopeDisplay returns the display name of the stored scope node name, or
// name itself.
func (t *txn) scopeDisplay(name string) string {
	var sc dirScope
	if b, err := t.Get([]byte(dirScopePrefix + name)); err == nil && json.Unmarshal(b, &sc) == nil && sc.DisplayName != "" {
		return sc.DisplayName
	}
	return name
}

// ---- Principals and memberships ----

// putPrincipal stores a principal and, after the commit, puts it in the
// model (which the Mirror reads).
func (t *txn) putPrincipal(p MirrorPrincipal) error {
	rec := dirPrincipal{Kind: p.Kind, Active: p.Active, Organization: p.Organization, DisplayName: p.DisplayName, Email: p.Email, Everyone: p.Everyone}
	if err := putJSON(t.Tx, dirPrincipalPrefix+p.Name, rec); err != nil {
		return err
	}
	t.onCommitApply(directoryFact{op: factPutPrincipal, principal: p})
	return nil
}

// getPrincipal reads the stored principal name.
func getDirPrincipal(tx store.ReadTx, name string) (dirPrincipal, bool, error) {
	var p dirPrincipal
	b, err := tx.Get([]byte(dirPrincipalPrefix + name))
	if errors.Is(err, store.ErrNotFound) {
		return p, false, nil
	}
	if err != nil {
		return p, false, err
	}
	return p, true, json.Unmarshal(b, &p)
}

// principalDisplay returns the display name of the stored principal name,
// or name itself.
func (t *txn) principalDisplay(name string) string {
	if p, ok, err := getDirPrincipal(t, name); err == nil && ok && p.DisplayName != "" {
		return p.DisplayName
	}
	return name
}

// roleDisplay returns the display name of the role named name, or name.
func (t *txn) roleDisplay(name string) string {
	if _, r, err := lookupRole(t, name); err == nil && r.GetDisplayName() != "" {
		return r.GetDisplayName()
	}
	return name
}

// deletePrincipal removes the principal name: every assignment to it (one
// access event each), its stored memberships (either side) and record and,
// after the commit, the model's copy.
func (t *txn) deletePrincipal(name string) error {
	as, err := assignmentsOfPrincipal(t, name)
	if err != nil {
		return err
	}
	display := t.principalDisplay(name)
	for _, a := range as {
		msg := fmt.Sprintf("Role %s of %s at %s was removed because %s was deleted.",
			t.roleDisplay(a.GetRole()), display, t.scopeDisplay(a.GetScope()), display)
		if err := t.removeAssignment(a, msg); err != nil {
			return err
		}
	}
	// Memberships as a member, then as a group.
	for _, side := range []struct{ prefix, other string }{{dirMemberOfPrefix, dirMemberPrefix}, {dirMemberPrefix, dirMemberOfPrefix}} {
		keys, err := keysUnder(t, side.prefix+name+"|")
		if err != nil {
			return err
		}
		for _, k := range keys {
			_, other, _ := strings.Cut(k[len(side.prefix):], "|")
			if err := t.Delete([]byte(k)); err != nil {
				return err
			}
			if err := t.Delete([]byte(side.other + other + "|" + name)); err != nil {
				return err
			}
		}
	}
	if err := t.Delete([]byte(dirPrincipalPrefix + name)); err != nil {
		return err
	}
	t.onCommitApply(directoryFact{op: factDeletePrincipal, name: name})
	return nil
}

// putMembership stores that member belongs to group (R14).
func (t *txn) putMembership(group, member string) error {
	if group == "" || member == "" {
		return nil
	}
	if err := t.Put([]byte(dirMemberPrefix+group+"|"+member), nil); err != nil {
		return err
	}
	if err := t.Put([]byte(dirMemberOfPrefix+member+"|"+group), nil); err != nil {
		return err
	}
	t.onCommitApply(directoryFact{op: factPutMembership, membership: authorizer.Membership{Group: group, Member: member}})
	return nil
}

// deleteMembership removes member from group; what it inherited through the
// group is gone after the commit (R14).
func (t *txn) deleteMembership(group, member string) error {
	if err := t.Delete([]byte(dirMemberPrefix + group + "|" + member)); err != nil {
		return err
	}
	if err := t.Delete([]byte(dirMemberOfPrefix + member + "|" + group)); err != nil {
		return err
	}
	t.onCommitApply(directoryFact{op: factDeleteMembership, membership: authorizer.Membership{Group: group, Member: member}})
	return nil
}

// ---- Robots ----

func (t *txn) putRobot(r MirrorRobot) error {
	if err := putJSON(t.Tx, dirRobotPrefix+r.Name, dirRobot{DisplayName: r.DisplayName, MachineName: r.MachineName}); err != nil {
		return err
	}
	m := t.s.Mirror()
	t.onModel(func() { m.putRobot(r) })
	return nil
}

// deleteRobot removes the robot name and takes it out of every robot usage
// scope that lists it (R20).
func (t *txn) deleteRobot(name string) error {
	display := name
	var r dirRobot
	if b, err := t.Get([]byte(dirRobotPrefix + name)); err == nil && json.Unmarshal(b, &r) == nil && r.DisplayName != "" {
		display = r.DisplayName
	}
	if err := t.removeRobotFromUsageScopes(name, display); err != nil {
		return err
	}
	if err := t.Delete([]byte(dirRobotPrefix + name)); err != nil {
		return err
	}
	m := t.s.Mirror()
	t.onModel(func() { m.deleteRobot(name) })
	return nil
}

// ---- Built-in assignments (R1, R5, R6, R13) ----

// seed makes the built-in assignment of the built-in role roleID to
// principal at scope, unless the principal already holds that role there.
// The system is its creator ("").
func (t *txn) seed(principal, roleID, scope, message string) error {
	if !catalogue.IsBuiltInRole(roleID) {
		return nil
	}
	role := BuiltInRolePrefix + roleID
	existing, err := findAssignment(t, principal, role, scope)
	if err != nil || existing != "" {
		return err
	}
	a := &accessv1.RoleAssignment{
		Name:      resourcename.OrganizationOf(scope) + "/roleAssignments/" + BuiltInAssignmentID(principal, role, scope),
		Principal: principal,
		Role:      role,
		Scope:     scope,
		BuiltIn:   true,
	}
	return t.insertAssignment(a, message)
}

// defaultGroupOf returns the catalogue's default group whose ID is the last
// segment of group's name.
func defaultGroupOf(group string) (catalogue.DefaultGroup, bool) {
	id := group[strings.LastIndexByte(group, '/')+1:]
	for _, g := range catalogue.DefaultGroups() {
		if g.ID == id {
			return g, true
		}
	}
	return catalogue.DefaultGroup{}, false
}

// seedDefaultGroup makes a default group's sign-up assignments at its
// organization (CATALOGUE.md "Default groups").
func (t *txn) seedDefaultGroup(g MirrorPrincipal) error {
	dg, ok := defaultGroupOf(g.Name)
	if !ok {
		return nil
	}
	for _, da := range dg.Assignments {
		if da.When != catalogue.OnOrganizationCreated {
			continue
		}
		msg := fmt.Sprintf("Role %s was assigned to default group %s at organization %s.",
			builtInRoleDisplay(da.Role), g.DisplayName, t.scopeDisplay(g.Organization))
		if err := t.seed(g.Name, da.Role, g.Organization, msg); err != nil {
			return err
		}
	}
	return nil
}

// seedService makes the assignments a new service calls for: its creator
// gets the Administrator role of its type (R13), each default group its
// service assignments for that type (R5), and, for an orchestrator, every
// robot account of the organization the Robot role (R6); an orchestrator's
// default folder roles wait for its Shared folder (seedSharedFolder).
func (t *txn) seedService(svc *directoryv1.Service) error {
	name, typ, org := svc.GetName(), svc.GetType(), resourcename.OrganizationOf(svc.GetName())
	display := svc.GetDisplayName()
	if c := svc.GetCreator(); c != "" && resourcename.OrganizationOf(c) == org {
		switch kind, _ := principalKindOf(c); kind {
		case accessv1.PrincipalKind_PRINCIPAL_KIND_USER, accessv1.PrincipalKind_PRINCIPAL_KIND_ROBOT_ACCOUNT, accessv1.PrincipalKind_PRINCIPAL_KIND_EXTERNAL_APP:
			role := catalogue.AdministratorRoleID(typ)
			msg := fmt.Sprintf("Role %s was assigned to %s, who created service %s.", builtInRoleDisplay(role), t.principalDisplay(c), display)
			if err := t.seed(c, role, name, msg); err != nil {
				return err
			}
		}
	}
	for _, dg := range catalogue.DefaultGroups() {
		group := org + "/groups/" + dg.ID
		p, ok, err := getDirPrincipal(t, group)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		for _, da := range dg.Assignments {
			if da.When != catalogue.OnServiceCreated || da.ServiceType != typ {
				continue
			}
			msg := fmt.Sprintf("Role %s was assigned to default group %s at new service %s.", builtInRoleDisplay(da.Role), p.DisplayName, display)
			if err := t.seed(group, da.Role, name, msg); err != nil {
				return err
			}
		}
	}
	if typ != catalogue.ServiceTypeOrchestrator {
		return nil
	}
	// The default groups' folder roles wait for the service's Shared
	// folder, which the directory creates right after it.
	if err := t.Put([]byte(dirSharedPrefix+name), []byte(sharedPending)); err != nil {
		return err
	}
	accounts, err := keysUnder(t, dirPrincipalPrefix+org+"/robotAccounts/")
	if err != nil {
		return err
	}
	for _, k := range accounts {
		ra := k[len(dirPrincipalPrefix):]
		msg := fmt.Sprintf("Role Robot was assigned to robot account %s at new service %s.", t.principalDisplay(ra), display)
		if err := t.seed(ra, catalogue.RoleRobot, name, msg); err != nil {
			return err
		}
	}
	return nil
}

// seedSharedFolder makes the default groups' folder roles of the service
// svc at its Shared folder f (CATALOGUE.md "Default groups"), once per
// service. For a service access saw created (pending) they are made there;
// for one created before services came with a Shared folder, each folder
// role a default group holds at the whole service moves to the Shared
// folder: removed at the service and made at the folder, one event each.
func (t *txn) seedSharedFolder(svc string, f *directoryv1.Folder) error {
	key := []byte(dirSharedPrefix + svc)
	state, err := t.Get(key)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if string(state) == sharedDone {
		return nil
	}
	typ, err := t.serviceTypeOf(svc)
	if err != nil {
		return err
	}
	org, folder := resourcename.OrganizationOf(svc), f.GetName()
	svcDisplay, folderDisplay := t.scopeDisplay(svc), f.GetDisplayName()
	for _, dg := range catalogue.DefaultGroups() {
		group := org + "/groups/" + dg.ID
		p, ok, err := getDirPrincipal(t, group)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		for _, da := range dg.Assignments {
			if da.When != catalogue.OnSharedFolderCreated || da.ServiceType != typ {
				continue
			}
			role := builtInRoleDisplay(da.Role)
			if string(state) == sharedPending {
				msg := fmt.Sprintf("Role %s was assigned to default group %s at folder %s of new service %s.", role, p.DisplayName, folderDisplay, svcDisplay)
				if err := t.seed(group, da.Role, folder, msg); err != nil {
					return err
				}
				continue
			}
			at, err := findAssignment(t, group, BuiltInRolePrefix+da.Role, svc)
			if err != nil {
				return err
			}
			if at == "" {
				continue
			}
			a, err := getAssignment(t, at)
			if err != nil {
				return err
			}
			msg := fmt.Sprintf("Role %s of default group %s at service %s was moved to its folder %s: a default group's folder role holds in that folder only.",
				role, p.DisplayName, svcDisplay, folderDisplay)
			if err := t.removeAssignment(a, msg); err != nil {
				return err
			}
			msg = fmt.Sprintf("Role %s was assigned to default group %s at folder %s of service %s, moved from the service.", role, p.DisplayName, folderDisplay, svcDisplay)
			if err := t.seed(group, da.Role, folder, msg); err != nil {
				return err
			}
		}
	}
	return t.Put(key, []byte(sharedDone))
}

// seedRobotAccount gives a new robot account the Robot role at every
// orchestrator service of its organization (R6).
func (t *txn) seedRobotAccount(ra MirrorPrincipal) error {
	type svc struct{ name, typ string }
	var services []svc
	prefix := dirServicePrefix + ra.Organization + "/"
	err := t.Scan([]byte(prefix), nil, func(k, v []byte) (bool, error) {
		services = append(services, svc{string(k[len(dirServicePrefix):]), string(v)})
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, sv := range services {
		if sv.typ != catalogue.ServiceTypeOrchestrator {
			continue
		}
		msg := fmt.Sprintf("Role Robot was assigned to new robot account %s at service %s.", ra.DisplayName, t.scopeDisplay(sv.name))
		if err := t.seed(ra.Name, catalogue.RoleRobot, sv.name, msg); err != nil {
			return err
		}
	}
	return nil
}

// builtInRoleDisplay returns the name of the built-in role id.
func builtInRoleDisplay(id string) string {
	if r, ok := catalogue.LookupBuiltInRole(id); ok {
		return r.Name
	}
	return id
}

// ---- The model (after commit, and at startup); the Mirror reads it ----

// modelScope is sc as the model holds it.
func modelScope(sc MirrorScope) authorizer.Scope {
	return authorizer.Scope{Name: sc.Name, ServiceType: sc.ServiceType, DisplayName: sc.DisplayName}
}

// modelPrincipal is p as the model holds it.
func modelPrincipal(p MirrorPrincipal) authorizer.Principal {
	_, kind := principalKindOf(p.Name)
	status := authorizer.StatusInactive
	if p.Active {
		status = authorizer.StatusActive
	}
	return authorizer.Principal{
		ID: p.Name, Kind: kind, Status: status, Organization: p.Organization,
		Everyone: p.Everyone, DisplayName: p.DisplayName, Email: p.Email,
	}
}
