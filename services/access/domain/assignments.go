package domain

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	accessv1 "steward.dev/gen/steward/access/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/resourcename"
	"steward.dev/pkg/store"
	"steward.dev/services/access/authorizer"
	"steward.dev/services/access/catalogue"
)

// BuiltInRolePrefix is the collection of built-in role names:
// "roles/{id}".
const BuiltInRolePrefix = "roles/"

// RoleName returns the resource name of a model role ID: "roles/{id}" for a
// built-in role; a custom role's model ID is its resource name already.
func RoleName(modelID string) string {
	if catalogue.IsBuiltInRole(modelID) {
		return BuiltInRolePrefix + modelID
	}
	return modelID
}

// modelRoleID returns the model's ID of the role named name.
func modelRoleID(name string) string { return strings.TrimPrefix(name, BuiltInRolePrefix) }

// ScopeNode returns the scope-tree node a resource name lies in: the name
// cut after its last tenants, services, folders or projects segment, or its
// organization ("organizations/o1/users/u1" lies in "organizations/o1").
// Permission rules name resources; Check evaluates them at tree nodes.
func ScopeNode(name string) string {
	rest, ok := strings.CutPrefix(name, "organizations/")
	if !ok {
		return name
	}
	// end is the length of the node found so far; it starts after the
	// organization's ID, then moves past each tree collection/ID pair.
	slash := strings.IndexByte(rest, '/')
	if slash < 0 {
		return name
	}
	end := len(name) - len(rest) + slash
	for end < len(name) {
		coll, after, _ := strings.Cut(name[end+1:], "/")
		switch coll {
		case "tenants", "services", "folders", "projects":
		default:
			return name[:end]
		}
		id, _, _ := strings.Cut(after, "/")
		if id == "" {
			return name[:end]
		}
		end += 1 + len(coll) + 1 + len(id)
	}
	return name
}

// principalKindOf returns the kind of principal a resource name names.
func principalKindOf(name string) (accessv1.PrincipalKind, authorizer.PrincipalKind) {
	switch {
	case strings.Contains(name, "/users/"):
		return accessv1.PrincipalKind_PRINCIPAL_KIND_USER, authorizer.KindUser
	case strings.Contains(name, "/groups/"):
		return accessv1.PrincipalKind_PRINCIPAL_KIND_GROUP, authorizer.KindGroup
	case strings.Contains(name, "/robotAccounts/"):
		return accessv1.PrincipalKind_PRINCIPAL_KIND_ROBOT_ACCOUNT, authorizer.KindRobot
	case strings.Contains(name, "/externalApps/"):
		return accessv1.PrincipalKind_PRINCIPAL_KIND_EXTERNAL_APP, authorizer.KindExternalApp
	}
	return accessv1.PrincipalKind_PRINCIPAL_KIND_UNSPECIFIED, authorizer.KindUnspecified
}

// principalKey is the byPrincipal key of the assignment of role to
// principal at scope.
func principalKey(principal, scope, role string) []byte {
	return []byte(byPrincipal + principal + "|" + scope + "|" + role)
}

// assignmentRef returns how an index key naming something of organization
// org (a principal, a scope, a custom role) refers to the assignment named
// name: by its ID when name is org's, "organizations/o1/roleAssignments/{id}"
// (every assignment is its principal's, scope's and custom role's
// organization's), else by the whole name.
func assignmentRef(org, name string) string {
	const collection = "/roleAssignments/"
	if org != "" && len(name) > len(org)+len(collection) && name[:len(org)] == org &&
		name[len(org):len(org)+len(collection)] == collection && !strings.Contains(name[len(org)+len(collection):], "/") {
		return name[len(org)+len(collection):]
	}
	return name
}

// assignmentNamed is the inverse of assignmentRef: the name of the
// assignment ref refers to from a key of organization org.
func assignmentNamed(org, ref string) string {
	if strings.Contains(ref, "/") {
		return ref
	}
	return org + "/roleAssignments/" + ref
}

// BuiltInAssignmentID is the deterministic ID of the assignment the system
// makes of role to principal at scope, so that making it twice (replaying
// the directory's log) finds it.
func BuiltInAssignmentID(principal, role, scope string) string {
	sum := sha256.Sum256([]byte(principal + "|" + role + "|" + scope))
	return "b" + hex.EncodeToString(sum[:12])
}

// findAssignment returns the name of the assignment of role to principal at
// scope, or "".
func findAssignment(tx store.ReadTx, principal, role, scope string) (string, error) {
	b, err := tx.Get(principalKey(principal, scope, role))
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return assignmentNamed(resourcename.OrganizationOf(principal), string(b)), nil
}

// getAssignment reads the assignment named name.
func getAssignment(tx store.ReadTx, name string) (*accessv1.RoleAssignment, error) {
	a := &accessv1.RoleAssignment{}
	if err := get(tx, []byte(assignmentPrefix+name), name, a); err != nil {
		return nil, err
	}
	a.Name = name
	return a, nil
}

// putAssignment stores a under assignmentPrefix and its name, without the
// name: the key holds it (issue 13). Records stored before hold it too.
func putAssignment(tx store.Tx, a *accessv1.RoleAssignment) error {
	name := a.Name
	a.Name = ""
	err := store.PutProto(tx, []byte(assignmentPrefix+name), a)
	a.Name = name
	return err
}

// decodeAssignment decodes the assignment record stored at key k, its name
// taken from k.
func decodeAssignment(k, v []byte) (*accessv1.RoleAssignment, error) {
	a := &accessv1.RoleAssignment{}
	if err := proto.Unmarshal(v, a); err != nil {
		return nil, fmt.Errorf("domain: decoding %q: %w", k, err)
	}
	a.Name = string(k[len(assignmentPrefix):])
	return a, nil
}

// insertAssignment stores a (name, principal, role, scope, built_in and
// creator set), indexes it, emits its event and, after the commit, adds it
// to the model. The caller has checked every rule.
func (t *txn) insertAssignment(a *accessv1.RoleAssignment, message string) error {
	a.PrincipalKind, _ = principalKindOf(a.GetPrincipal())
	a.CreateTime = t.Timestamp()
	if err := putAssignment(t.Tx, a); err != nil {
		return err
	}
	if err := putIndexEntries(t.Tx, a); err != nil {
		return err
	}
	if err := t.Emit(TypeRoleAssignmentCreated, eventlogv1.Operation_OPERATION_CREATE, a.GetName(), a, message); err != nil {
		return err
	}
	ma := modelAssignment(a)
	model := t.s.model
	t.onModel(func() { _ = model.UpsertAssignment(ma) })
	return nil
}

// removeAssignment deletes a with its indexes, emits its event and, after
// the commit, removes it from the model.
func (t *txn) removeAssignment(a *accessv1.RoleAssignment, message string) error {
	if err := t.Delete([]byte(assignmentPrefix + a.GetName())); err != nil {
		return err
	}
	for _, e := range indexEntries(a) {
		if err := t.Delete(e.key); err != nil {
			return err
		}
	}
	if err := t.Emit(TypeRoleAssignmentDeleted, eventlogv1.Operation_OPERATION_DELETE, a.GetName(), a, message); err != nil {
		return err
	}
	id, model := a.GetName(), t.s.model
	t.onModel(func() { model.DeleteAssignment(id) })
	return nil
}

// DeleteRoleAssignment removes an assignment within the delegation limits
// of R17. The caller is authorized first, at the assignment's own scope:
// one who may not manage access there gets PermissionDenied and learns
// nothing else. Then the refusals: an assignment named at a scope other
// than its own is removed at its own scope (R18: a platform role is only
// shown at the services of its tenant); the owner's Owner assignment and
// the default groups' immutable assignments are never removed, whoever
// asks (R1, R5).
func (s *Service) DeleteRoleAssignment(ctx context.Context, actor Actor, req *accessv1.DeleteRoleAssignmentRequest) error {
	name := req.GetName()
	if err := visibleToActor(actor, name); err != nil {
		return err
	}
	if err := s.catchUpDirectory(ctx); err != nil {
		return err
	}
	_, err := s.update(ctx, actor, func(t *txn) error {
		a, err := getAssignment(t, name)
		if err != nil {
			return err
		}
		si, err := s.assignedScope(a.GetScope())
		if err != nil {
			return err
		}
		if err := s.mayManageAccess(actor, si); err != nil {
			return err
		}
		if sc := req.GetScope(); sc != "" && sc != a.GetScope() {
			return t.elsewhereError(a, sc)
		}
		if a.GetRole() == BuiltInRolePrefix+catalogue.RoleOwner {
			return errorf(ErrOwnerNotAssignable, "the owner's Owner role cannot be removed")
		}
		if isImmutableAssignment(a) {
			return errorWith(ErrBuiltInAssignmentImmutable, map[string]string{"scope": a.GetScope(), "role": a.GetRole(), "principal": a.GetPrincipal()},
				"role %s of %s at %s is built in and cannot be removed", t.roleDisplay(a.GetRole()), t.principalDisplay(a.GetPrincipal()), a.GetScope())
		}
		msg := fmt.Sprintf("Role %s was removed from %s at %s.", a.GetRole(), a.GetPrincipal(), a.GetScope())
		return t.removeAssignment(a, msg)
	})
	return err
}

// elsewhereError is the refusal of removing a at scope, which is not a's
// own: ErrPlatformRoleImmutable when a is a tenant's Tenant Administrator
// shown at scope, one of its services (R18), else an invalid scope. Both
// name a's own scope, where it is removed.
func (t *txn) elsewhereError(a *accessv1.RoleAssignment, scope string) error {
	own := a.GetScope()
	if si, ok := parseScope(scope); ok && si.level == catalogue.LevelService && si.tenant == own &&
		a.GetRole() == BuiltInRolePrefix+catalogue.RoleTenantAdministrator {
		return errorWith(ErrPlatformRoleImmutable, map[string]string{"scope": own},
			"role %s of %s is assigned at %s and only shown at %s as a platform role; remove it at %s",
			t.roleDisplay(a.GetRole()), t.principalDisplay(a.GetPrincipal()), own, scope, own)
	}
	return fieldError("scope", "%s is assigned at %s, not at %s; remove it there", a.GetName(), own, scope)
}

// isImmutableAssignment reports whether a is one of the default groups'
// assignments that nobody may remove (catalogue.DefaultAssignment.Immutable:
// the Administrators' Organization Administrator and Everyone's User, at
// their organization), however it was made.
func isImmutableAssignment(a *accessv1.RoleAssignment) bool {
	org := resourcename.OrganizationOf(a.GetPrincipal())
	if org == "" || a.GetScope() != org {
		return false
	}
	for _, g := range catalogue.DefaultGroups() {
		if a.GetPrincipal() != org+"/groups/"+g.ID {
			continue
		}
		for _, da := range g.Assignments {
			if da.Immutable && a.GetRole() == BuiltInRolePrefix+da.Role {
				return true
			}
		}
	}
	return false
}

// indexEntry is a key and value of an assignment index.
type indexEntry struct{ key, value []byte }

// indexEntries returns the index entries of a (keys.go): by principal, by
// scope and, for a custom role, by role.
func indexEntries(a *accessv1.RoleAssignment) []indexEntry {
	principal, scope, role, name := a.GetPrincipal(), a.GetScope(), a.GetRole(), a.GetName()
	out := make([]indexEntry, 0, 3)
	out = append(out,
		indexEntry{principalKey(principal, scope, role), []byte(assignmentRef(resourcename.OrganizationOf(principal), name))},
		indexEntry{[]byte(byScope + scope + "|" + assignmentRef(resourcename.OrganizationOf(scope), name)), nil})
	if !strings.HasPrefix(role, BuiltInRolePrefix) {
		out = append(out, indexEntry{[]byte(byRole + role + "|" + assignmentRef(resourcename.OrganizationOf(role), name)), nil})
	}
	return out
}

// putIndexEntries writes the index entries of a in tx.
func putIndexEntries(tx store.Tx, a *accessv1.RoleAssignment) error {
	for _, e := range indexEntries(a) {
		if err := tx.Put(e.key, e.value); err != nil {
			return err
		}
	}
	return nil
}

// modelAssignment is a as the model holds it.
func modelAssignment(a *accessv1.RoleAssignment) authorizer.Assignment {
	return authorizer.Assignment{ID: a.GetName(), Principal: a.GetPrincipal(), Role: modelRoleID(a.GetRole()), Scope: a.GetScope(), BuiltIn: a.GetBuiltIn()}
}

// assignmentsIndexed returns the assignments of the index entries under
// prefix, whose keys name something of organization org, in key order; ref
// returns the reference an entry holds (its value or the end of its key).
func assignmentsIndexed(tx store.ReadTx, prefix, org string, ref func(k, v []byte) ([]byte, error)) ([]*accessv1.RoleAssignment, error) {
	var names []string
	err := tx.Scan([]byte(prefix), nil, func(k, v []byte) (bool, error) {
		r, err := ref(k, v)
		if err != nil {
			return false, err
		}
		names = append(names, assignmentNamed(org, string(r)))
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]*accessv1.RoleAssignment, 0, len(names))
	for _, n := range names {
		a, err := getAssignment(tx, n)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// byName orders assignments by name.
func byName(as []*accessv1.RoleAssignment) []*accessv1.RoleAssignment {
	slices.SortFunc(as, func(a, b *accessv1.RoleAssignment) int { return strings.Compare(a.GetName(), b.GetName()) })
	return as
}

// refInValue is the reference of a byPrincipal entry: its value.
func refInValue(_, v []byte) ([]byte, error) { return v, nil }

// refInKey is the reference of a byScope or byRole entry: the end of its
// key, after its last "|".
func refInKey(k, _ []byte) ([]byte, error) {
	i := bytes.LastIndexByte(k, '|')
	if i < 0 {
		return nil, fmt.Errorf("domain: malformed index key %q", k)
	}
	return k[i+1:], nil
}

// assignmentsOfPrincipal returns principal's explicit assignments, by name.
func assignmentsOfPrincipal(tx store.ReadTx, principal string) ([]*accessv1.RoleAssignment, error) {
	as, err := assignmentsIndexed(tx, byPrincipal+principal+"|", resourcename.OrganizationOf(principal), refInValue)
	return byName(as), err
}

// assignmentsOfRole returns the assignments of the custom role named role,
// by name; built-in roles are not indexed (keys.go).
func assignmentsOfRole(tx store.ReadTx, role string) ([]*accessv1.RoleAssignment, error) {
	as, err := assignmentsIndexed(tx, byRole+role+"|", resourcename.OrganizationOf(role), refInKey)
	return byName(as), err
}

// assignmentsAt returns the assignments at scope itself, by name.
func assignmentsAt(tx store.ReadTx, scope string) ([]*accessv1.RoleAssignment, error) {
	as, err := assignmentsIndexed(tx, byScope+scope+"|", resourcename.OrganizationOf(scope), refInKey)
	return byName(as), err
}

// assignmentsUnder returns the assignments at scope, by name, then those
// below it, by scope and then ID.
func assignmentsUnder(tx store.ReadTx, scope string) ([]*accessv1.RoleAssignment, error) {
	at, err := assignmentsAt(tx, scope)
	if err != nil {
		return nil, err
	}
	below, err := assignmentsIndexed(tx, byScope+scope+"/", resourcename.OrganizationOf(scope), refInKey)
	return append(at, below...), err
}

// catalogueRole is a custom role as the model and the catalogue's
// validation see it; its ID is its resource name.
func catalogueRole(r *accessv1.Role) catalogue.Role {
	return catalogue.Role{
		ID:          r.GetName(),
		Name:        r.GetDisplayName(),
		Description: r.GetDescription(),
		Level:       catalogue.Level(r.GetLevel()),
		ServiceType: r.GetServiceType(),
		Permissions: r.GetPermissions(),
		Assignable:  true,
	}
}

// lookupRole returns the role named name ("roles/{id}" built-in, or a custom
// role of the organization).
func lookupRole(tx store.ReadTx, name string) (catalogue.Role, *accessv1.Role, error) {
	if id, ok := strings.CutPrefix(name, BuiltInRolePrefix); ok {
		r, found := catalogue.LookupBuiltInRole(id)
		if !found {
			return catalogue.Role{}, nil, errorf(ErrNotFound, "%s not found", name)
		}
		return r, BuiltInRole(r), nil
	}
	r := &accessv1.Role{}
	if err := get(tx, customRoleKey(name), name, r); err != nil {
		return catalogue.Role{}, nil, err
	}
	return catalogueRole(r), r, nil
}

// customRoleKey is the store key of the custom role named
// "organizations/{o}/roles/{r}".
func customRoleKey(name string) []byte { return []byte(rolePrefix + name) }

// BuiltInRole returns the API form of a built-in role.
func BuiltInRole(r catalogue.Role) *accessv1.Role {
	return &accessv1.Role{
		Name:        BuiltInRolePrefix + r.ID,
		DisplayName: r.Name,
		Description: r.Description,
		Level:       accessv1.Level(r.Level),
		ServiceType: r.ServiceType,
		Permissions: r.Permissions,
		BuiltIn:     true,
		Assignable:  r.Assignable,
	}
}
