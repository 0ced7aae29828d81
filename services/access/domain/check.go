package domain

// The permission Check (R16), its batch form, the "Check Permissions" view
// (R14, R15) and the explicit-roles listing (R15, 003 GetRoles).

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	accessv1 "steward.dev/gen/steward/access/v1"
	"steward.dev/pkg/resourcename"
	"steward.dev/pkg/store"
	"steward.dev/services/access/authorizer"
	"steward.dev/services/access/catalogue"
)

// MaxBatchCheck is the most items one BatchCheck answers.
const MaxBatchCheck = 1000

// ConsistencyWait bounds how long Check waits for a consistency token.
const ConsistencyWait = time.Second

// checkVisible refuses, as not found, a name of another organization than
// the actor's; services see every organization.
func checkVisible(actor Actor, name string) error {
	if actor.IsService() || resourcename.OrganizationOf(name) == actor.Organization {
		return nil
	}
	return errorf(ErrNotFound, "%s not found", name)
}

// Check answers whether req's principal holds req's permission at the
// scope-tree node req's resource lies in (R16), after waiting (at most
// ConsistencyWait) for the consistency tokens. Principals that are not
// active or unknown are denied; with explain the response carries the
// explanation.
func (s *Service) Check(ctx context.Context, actor Actor, req *accessv1.CheckPermissionRequest) (*accessv1.CheckPermissionResponse, error) {
	if err := checkVisible(actor, req.GetPrincipal()); err != nil {
		return nil, err
	}
	if err := checkVisible(actor, req.GetScope()); err != nil {
		return nil, err
	}
	scope := ScopeNode(req.GetScope())
	if req.GetExplain() {
		if err := s.mayExplain(actor, req.GetPrincipal(), scope); err != nil {
			return nil, err
		}
	}
	m, seq, dseq := s.model, uint64(0), uint64(0)
	var err error
	if req.GetAsOf() != nil {
		m, seq, dseq, err = s.modelAt(ctx, req.GetAsOf())
	} else {
		seq, dseq, err = s.consistent(ctx, req.GetAtLeastSequence(), req.GetAtLeastDirectorySequence())
	}
	if err != nil {
		return nil, err
	}
	d := m.Check(req.GetPrincipal(), req.GetPermission(), scope)
	resp := &accessv1.CheckPermissionResponse{Allowed: d.Allowed, Reason: d.Reason(), Sequence: seq, DirectorySequence: dseq}
	if req.GetExplain() {
		if resp.Explanation, err = explanation(m, req.GetPrincipal(), scope, false); err != nil {
			return nil, err
		}
		// What would allow it is asked of today's roles and grantors: a
		// denial in the past has no one to ask any more.
		if !d.Allowed && req.GetAsOf() == nil {
			if resp.PossibleGrants, err = s.possibleGrants(ctx, req.GetPrincipal(), req.GetPermission(), scope); err != nil {
				return nil, err
			}
		}
	}
	return resp, nil
}

// BatchCheck answers up to MaxBatchCheck checks under one consistency wait
// (the highest token of the batch and its items) and one model read lock,
// one decision per item in order.
func (s *Service) BatchCheck(ctx context.Context, actor Actor, req *accessv1.BatchCheckPermissionRequest) (*accessv1.BatchCheckPermissionResponse, error) {
	items := req.GetItems()
	if len(items) == 0 || len(items) > MaxBatchCheck {
		return nil, fieldError("items", "must hold 1 to %d checks, not %d", MaxBatchCheck, len(items))
	}
	atLeast, atLeastDir := req.GetAtLeastSequence(), req.GetAtLeastDirectorySequence()
	qs := make([]authorizer.CheckItem, len(items))
	for i, it := range items {
		if err := checkVisible(actor, it.GetPrincipal()); err != nil {
			return nil, err
		}
		if err := checkVisible(actor, it.GetScope()); err != nil {
			return nil, err
		}
		atLeast = max(atLeast, it.GetAtLeastSequence())
		atLeastDir = max(atLeastDir, it.GetAtLeastDirectorySequence())
		qs[i] = authorizer.CheckItem{Principal: it.GetPrincipal(), Permission: it.GetPermission(), Scope: ScopeNode(it.GetScope())}
		if req.GetExplain() {
			if err := s.mayExplain(actor, qs[i].Principal, qs[i].Scope); err != nil {
				return nil, err
			}
		}
	}
	seq, dseq, err := s.consistent(ctx, atLeast, atLeastDir)
	if err != nil {
		return nil, err
	}
	ds := s.model.CheckBatch(qs, make([]authorizer.Decision, 0, len(qs)))
	resp := &accessv1.BatchCheckPermissionResponse{Results: make([]*accessv1.CheckPermissionResponse, len(ds))}
	// One allocation for every result message instead of one each.
	results := make([]accessv1.CheckPermissionResponse, len(ds))
	for i, d := range ds {
		r := &results[i]
		r.Allowed, r.Reason, r.Sequence, r.DirectorySequence = d.Allowed, d.Reason(), seq, dseq
		if req.GetExplain() {
			if r.Explanation, err = explanation(s.model, qs[i].Principal, qs[i].Scope, false); err != nil {
				return nil, err
			}
		}
		resp.Results[i] = r
	}
	return resp, nil
}

// ExplainPermissions returns every effective role of req's principal at
// req's scope (and, with subtree, below it) with where it comes from, and
// the permissions that follow at the scope (R14, R15).
func (s *Service) ExplainPermissions(ctx context.Context, actor Actor, req *accessv1.ExplainPermissionsRequest) (*accessv1.Explanation, error) {
	if err := checkVisible(actor, req.GetPrincipal()); err != nil {
		return nil, err
	}
	if err := checkVisible(actor, req.GetScope()); err != nil {
		return nil, err
	}
	scope := ScopeNode(req.GetScope())
	if err := s.mayExplain(actor, req.GetPrincipal(), scope); err != nil {
		return nil, err
	}
	m, _, _, err := s.modelAt(ctx, req.GetAsOf())
	if err != nil {
		return nil, err
	}
	return explanation(m, req.GetPrincipal(), scope, req.GetSubtree())
}

// mayExplain applies CATALOGUE.md's "see a user's effective permissions
// (Check Permissions view): users.view and roles.view" to a user, robot or
// app actor asking about another principal at the scope node scope: at a
// service or below, {type}.users.view and {type}.roles.view there (the
// permissions of the service's type that the catalogue has); at the
// organization or a tenant, users.view there. Services, and a principal
// asking about itself, may always. ErrPermissionDenied names what is
// missing; a service the directory mirror does not know is ErrNotFound.
func (s *Service) mayExplain(actor Actor, principal, scope string) error {
	if actor.IsService() || actor.SpeaksFor(principal) {
		return nil
	}
	return s.mayReview(actor, scope, "seeing the effective permissions of "+principal)
}

// mayReview applies the Check Permissions view's rule (mayExplain) to a
// user, robot or app actor asking what, about anyone, at the scope node
// scope: at a service or below {type}.users.view and {type}.roles.view
// there, at the organization or a tenant users.view there. Services may
// always.
func (s *Service) mayReview(actor Actor, scope, what string) error {
	if actor.IsService() {
		return nil
	}
	si, ok := parseScope(scope)
	if !ok {
		return fieldError("scope", "%q is not a node of the scope tree", scope)
	}
	need := []string{permUsersView}
	if si.service != "" {
		svc, ok := s.Mirror().Scope(si.service)
		if !ok {
			return errorf(ErrNotFound, "scope %s not found", scope)
		}
		need = need[:0]
		for _, suffix := range []string{suffixUsersView, suffixRolesView} {
			if _, known := catalogue.LookupPermission(svc.ServiceType + suffix); known {
				need = append(need, svc.ServiceType+suffix)
			}
		}
		if len(need) == 0 {
			// A type without access permissions: nobody but services
			// and the principal itself sees into it.
			need = append(need, svc.ServiceType+suffixUsersView)
		}
	}
	var missing []string
	for _, p := range need {
		if !s.holds(actor, p, scope) {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return errorWith(ErrPermissionDenied, map[string]string{"permission": strings.Join(missing, ","), "scope": scope},
		"permission denied: %s at %s needs %s", what, scope, strings.Join(missing, " and "))
}

// ListPrincipalRoles lists req's principal's explicit assignments only,
// by scope, then role, then name (R15): roles inherited through groups
// are not listed.
func (s *Service) ListPrincipalRoles(ctx context.Context, actor Actor, req *accessv1.ListPrincipalRolesRequest) (*accessv1.ListPrincipalRolesResponse, error) {
	principal := req.GetPrincipal()
	if err := checkVisible(actor, principal); err != nil {
		return nil, err
	}
	var as []*accessv1.RoleAssignment
	err := s.view(ctx, func(tx store.ReadTx) error {
		var err error
		as, err = assignmentsOfPrincipal(tx, principal)
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(as, func(a, b *accessv1.RoleAssignment) int {
		return cmp.Or(cmp.Compare(a.GetScope(), b.GetScope()), cmp.Compare(a.GetRole(), b.GetRole()), cmp.Compare(a.GetName(), b.GetName()))
	})
	return &accessv1.ListPrincipalRolesResponse{RoleAssignments: as}, nil
}

// explanation is m's explanation of principal at the scope node scope in
// the API's form. An unknown principal, or one that is not active,
// holds nothing and says so in status. For an API key it lists the roles
// of the key's principal but only the permissions the key holds (those its
// creator holds too, C4).
func explanation(m *authorizer.Model, principal, scope string, subtree bool) (*accessv1.Explanation, error) {
	if k, ok := m.LookupAPIKey(principal); ok {
		out, err := explanation(m, k.Principal, scope, subtree)
		if err != nil || out.GetStatus() != "" {
			return out, err
		}
		out.Principal = principal
		held := out.Permissions[:0]
		for _, p := range out.GetPermissions() {
			if m.Check(principal, p.GetPermission(), scope).Allowed {
				held = append(held, p)
			}
		}
		out.Permissions = held
		return out, nil
	}
	out := &accessv1.Explanation{Principal: principal, Scope: scope}
	ex, err := m.Explain(principal, scope, subtree)
	switch {
	case errors.Is(err, authorizer.ErrUnknownPrincipal):
		out.Status = "unknown: the principal does not exist or was deleted, and holds nothing"
		return out, nil
	case errors.Is(err, authorizer.ErrInvalidScope):
		return nil, fieldError("scope", "%q is not a node of the scope tree", scope)
	case err != nil:
		return nil, err
	}
	if ex.Status != authorizer.StatusActive {
		out.Status = ex.Status.String() + ": the principal is not active and holds nothing"
		return out, nil
	}
	out.Sources = make([]*accessv1.Source, len(ex.Roles))
	for i, r := range ex.Roles {
		out.Sources[i] = &accessv1.Source{
			Assignment:       r.Assignment,
			Role:             RoleName(r.Role),
			RoleDisplayName:  r.RoleName,
			Scope:            r.Scope,
			Group:            r.Group,
			GroupDisplayName: r.GroupName,
			Position:         r.Position.String(),
			BuiltIn:          r.BuiltIn,
		}
	}
	out.Permissions = make([]*accessv1.EffectivePermission, len(ex.Permissions))
	for i, p := range ex.Permissions {
		src := make([]int32, len(p.Sources))
		for j, k := range p.Sources {
			src[j] = int32(k)
		}
		out.Permissions[i] = &accessv1.EffectivePermission{Permission: p.Permission, Sources: src}
	}
	return out, nil
}

// consistent waits, within ConsistencyWait, until access has applied its
// own log up to atLeast and the directory's up to atLeastDir (0: no
// wait), and returns the sequences the model reflects from then on.
func (s *Service) consistent(ctx context.Context, atLeast, atLeastDir uint64) (seq, dseq uint64, err error) {
	if atLeast > 0 || atLeastDir > 0 {
		wctx, cancel := context.WithTimeout(ctx, ConsistencyWait)
		defer cancel()
		if atLeastDir > 0 {
			if err := s.waitDirectory(wctx, atLeastDir); err != nil {
				return 0, 0, s.notConsistent(ctx, err, "directory", atLeastDir, s.directoryCursor())
			}
		}
		if atLeast > 0 {
			if err := s.applied.wait(wctx, atLeast); err != nil {
				return 0, 0, s.notConsistent(ctx, err, "access", atLeast, s.applied.get())
			}
		}
	}
	// The directory cursor advances after the model applied its events, so
	// the decision that follows reflects at least dseq.
	return s.applied.get(), s.directoryCursor(), nil
}

// notConsistent is ErrNotYetConsistent naming the log and the sequences,
// or the caller's own context error.
func (s *Service) notConsistent(ctx context.Context, cause error, log string, want, at uint64) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errorWith(ErrNotYetConsistent,
		map[string]string{"log": log, "sequence": strconv.FormatUint(want, 10), "applied": strconv.FormatUint(at, 10)},
		"access has not applied %s sequence %d within %s (it is at %d): %v", log, want, ConsistencyWait, at, cause)
}

// waitDirectory waits until the directory feed applied seq.
func (s *Service) waitDirectory(ctx context.Context, seq uint64) error {
	if s.feed == nil {
		return errors.New("access does not follow a directory")
	}
	if s.replica != nil {
		return s.replica.directory.wait(ctx, seq)
	}
	return s.feed.WaitFor(ctx, seq)
}

// catchUpDirectory waits, at most ConsistencyWait, until the directory feed
// has applied the directory's current head (Options.DirectoryHead), so that
// a change of role assignments sees what the directory has just done.
// Without DirectoryHead it returns at once.
func (s *Service) catchUpDirectory(ctx context.Context) error {
	if s.directoryHead == nil || s.feed == nil {
		return nil
	}
	head, err := s.directoryHead(ctx)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, ConsistencyWait)
	defer cancel()
	if err := s.waitDirectory(wctx, head); err != nil {
		return s.notConsistent(ctx, err, "directory", head, s.directoryCursor())
	}
	return nil
}
