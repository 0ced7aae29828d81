package domain

// The access review (issue 14): who holds a permission at a scope, where a
// principal holds it, and — for a denied check — which grants would allow
// it and who may make them. Every question may be asked about the past
// (as_of, history.go).

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	accessv1 "steward.dev/gen/steward/access/v1"
	"steward.dev/pkg/csvsafe"
	"steward.dev/pkg/pagetoken"
	"steward.dev/pkg/resourcename"
	"steward.dev/services/access/authorizer"
	"steward.dev/services/access/catalogue"
)

const (
	// defaultReviewPage is the page size of the review lists when the
	// request names none.
	defaultReviewPage = 100
	// maxGrantors is how many grantors a possible grant names.
	maxGrantors = 20
	// exportHoldersPage is how many holders the holders export reads from
	// the model at a time.
	exportHoldersPage = 1000
)

// HolderColumns is the header of ExportPermissionHolders' CSV.
var HolderColumns = []string{
	"Principal ID", "Principal type", "Principal display name", "Principal email", "Status",
	"Role assignment ID", "Role ID", "Role name", "Assigned at", "Inherited from group ID", "Inherited from group name",
}

// modelAt returns the model to answer from — the live one, or with at the
// one rebuilt for that moment (ModelAt) — and the access and directory
// sequences it reflects.
func (s *Service) modelAt(ctx context.Context, at *accessv1.AsOf) (*authorizer.Model, uint64, uint64, error) {
	if at == nil {
		return s.model, s.applied.get(), s.directoryCursor(), nil
	}
	q := AsOf{Sequence: at.GetSequence()} // ModelAt refuses neither or both
	if t := at.GetTime(); t != nil {
		if err := t.CheckValid(); err != nil {
			return nil, 0, 0, fieldError("as_of.time", "%v", err)
		}
		q.Time = t.AsTime()
	}
	m, pt, err := s.ModelAt(ctx, q)
	if err != nil {
		return nil, 0, 0, err
	}
	return m, pt.Sequence, pt.DirectorySequence, nil
}

// asOfKey is as_of in page-token fingerprints: a page continues only the
// question about the same moment.
func asOfKey(at *accessv1.AsOf) string {
	switch {
	case at == nil:
		return ""
	case at.GetTime() != nil:
		return at.GetTime().AsTime().UTC().Format(time.RFC3339Nano)
	}
	return "#" + strconv.FormatUint(at.GetSequence(), 10)
}

// reviewPageSize is a request's page size, defaulted.
func reviewPageSize(n int32) int {
	if n <= 0 {
		return defaultReviewPage
	}
	return int(n)
}

// reviewError maps the model's refusals of a review question about
// permission (and principal) to the request's fields.
func reviewError(err error, permission, principal string) error {
	switch {
	case errors.Is(err, authorizer.ErrUnknownPermission):
		return fieldError("permission", "%q is not a permission of the catalogue", permission)
	case errors.Is(err, authorizer.ErrInvalidScope):
		return fieldError("scope", "not a node of the scope tree")
	case errors.Is(err, authorizer.ErrUnknownPrincipal):
		return errorf(ErrNotFound, "%s not found", principal)
	}
	return err
}

// ListPermissionHolders lists every user, robot account and external app
// holding req's permission at req's scope, with each way it holds it, and
// apart the principals that would hold it but are not active (issue 14).
// Pages run over principal names, holders and inactive together.
func (s *Service) ListPermissionHolders(ctx context.Context, actor Actor, req *accessv1.ListPermissionHoldersRequest) (*accessv1.ListPermissionHoldersResponse, error) {
	if err := checkVisible(actor, req.GetScope()); err != nil {
		return nil, err
	}
	scope := ScopeNode(req.GetScope())
	if err := s.mayReview(actor, scope, "seeing who holds "+req.GetPermission()); err != nil {
		return nil, err
	}
	fp := pagetoken.Fingerprint("ListPermissionHolders", scope, req.GetPermission(), asOfKey(req.GetAsOf()))
	after, err := pagetoken.Decode(req.GetPageToken(), fp)
	if err != nil {
		return nil, fieldError("page_token", "not a token of this question")
	}
	m, seq, dseq, err := s.modelAt(ctx, req.GetAsOf())
	if err != nil {
		return nil, err
	}
	page, more, err := m.Holders(req.GetPermission(), scope, string(after), reviewPageSize(req.GetPageSize()))
	if err != nil {
		return nil, reviewError(err, req.GetPermission(), "")
	}
	resp := &accessv1.ListPermissionHoldersResponse{Sequence: seq, DirectorySequence: dseq}
	for _, h := range page {
		ph := apiHolder(h)
		if h.Principal.Status == authorizer.StatusActive {
			resp.Holders = append(resp.Holders, ph)
		} else {
			resp.Inactive = append(resp.Inactive, ph)
		}
	}
	if more && len(page) > 0 {
		resp.NextPageToken = pagetoken.Encode([]byte(page[len(page)-1].Principal.ID), fp)
	}
	return resp, nil
}

// apiHolder is a model holder in the API's form.
func apiHolder(h authorizer.Holder) *accessv1.PermissionHolder {
	return &accessv1.PermissionHolder{
		Principal:     h.Principal.ID,
		PrincipalKind: principalKinds[h.Principal.Kind],
		DisplayName:   h.Principal.DisplayName,
		Email:         h.Principal.Email,
		Sources:       apiSources(h.Sources),
	}
}

// apiSources are model holding sources in the API's form.
func apiSources(src []authorizer.HoldingSource) []*accessv1.HoldingSource {
	out := make([]*accessv1.HoldingSource, len(src))
	for i, r := range src {
		out[i] = &accessv1.HoldingSource{
			Assignment:       r.Assignment,
			Role:             RoleName(r.Role),
			RoleDisplayName:  r.RoleName,
			Scope:            r.Scope,
			Group:            r.Group,
			GroupDisplayName: r.GroupName,
		}
	}
	return out
}

// ExportPermissionHolders writes ListPermissionHolders' whole answer as
// CSV (HolderColumns): one row per holder and source, inactive principals
// with their status, handed to emit in chunks of about ExportChunkSize.
// The export is recorded first (R27); when that fails nothing is
// exported. emit must not keep chunk after it returns.
func (s *Service) ExportPermissionHolders(ctx context.Context, actor Actor, req *accessv1.ExportPermissionHoldersRequest, emit func(chunk []byte) error) error {
	if err := checkVisible(actor, req.GetScope()); err != nil {
		return err
	}
	scope := ScopeNode(req.GetScope())
	if err := s.mayReview(actor, scope, "exporting who holds "+req.GetPermission()); err != nil {
		return err
	}
	m, _, _, err := s.modelAt(ctx, req.GetAsOf())
	if err != nil {
		return err
	}
	// Refuse a bad question before recording it.
	if _, _, err := m.Holders(req.GetPermission(), scope, "", 1); err != nil {
		return reviewError(err, req.GetPermission(), "")
	}
	msg := fmt.Sprintf("The holders of %s at %s were exported as CSV.", req.GetPermission(), scope)
	if err := s.recordRead(ctx, actor, TypePermissionHoldersExported, "ExportPermissionHolders", scope, msg); err != nil {
		return err
	}
	buf := csvsafe.AppendFields(make([]byte, 0, ExportChunkSize+4096), HolderColumns...)
	buf = append(buf, '\n')
	after := ""
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		page, more, err := m.Holders(req.GetPermission(), scope, after, exportHoldersPage)
		if err != nil {
			return reviewError(err, req.GetPermission(), "")
		}
		for _, h := range page {
			p := h.Principal
			for _, src := range h.Sources {
				buf = append(csvsafe.AppendFields(buf, p.ID, p.Kind.String(), p.DisplayName, p.Email, p.Status.String(),
					src.Assignment, RoleName(src.Role), src.RoleName, src.Scope, src.Group, src.GroupName), '\n')
			}
			if len(buf) >= ExportChunkSize {
				if err := emit(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
		if !more || len(page) == 0 {
			break
		}
		after = page[len(page)-1].Principal.ID
	}
	return emit(buf)
}

// ListPermittedScopes lists every scope of req's subtree where req's
// principal holds req's permission, in name order, with the grants that
// make it hold there (issue 14).
func (s *Service) ListPermittedScopes(ctx context.Context, actor Actor, req *accessv1.ListPermittedScopesRequest) (*accessv1.ListPermittedScopesResponse, error) {
	if err := checkVisible(actor, req.GetPrincipal()); err != nil {
		return nil, err
	}
	if err := checkVisible(actor, req.GetScope()); err != nil {
		return nil, err
	}
	root := ScopeNode(req.GetScope())
	if !actor.SpeaksFor(req.GetPrincipal()) {
		if err := s.mayReview(actor, root, "seeing where "+req.GetPrincipal()+" holds "+req.GetPermission()); err != nil {
			return nil, err
		}
	}
	fp := pagetoken.Fingerprint("ListPermittedScopes", req.GetPrincipal(), req.GetPermission(), root, asOfKey(req.GetAsOf()))
	after, err := pagetoken.Decode(req.GetPageToken(), fp)
	if err != nil {
		return nil, fieldError("page_token", "not a token of this question")
	}
	m, seq, dseq, err := s.modelAt(ctx, req.GetAsOf())
	if err != nil {
		return nil, err
	}
	page, more, err := m.PermittedScopes(req.GetPrincipal(), req.GetPermission(), root, string(after), reviewPageSize(req.GetPageSize()))
	if err != nil {
		return nil, reviewError(err, req.GetPermission(), req.GetPrincipal())
	}
	resp := &accessv1.ListPermittedScopesResponse{Sequence: seq, DirectorySequence: dseq}
	for _, ps := range page {
		resp.Scopes = append(resp.Scopes, &accessv1.PermittedScope{
			Scope:       ps.Scope.Name,
			DisplayName: ps.Scope.DisplayName,
			Sources:     apiSources(ps.Sources),
		})
	}
	if more && len(page) > 0 {
		resp.NextPageToken = pagetoken.Encode([]byte(page[len(page)-1].Scope.Name), fp)
	}
	return resp, nil
}

// possibleGrants answers "what would allow it" for a denied check of
// principal, permission and the scope node scope on the live model: from
// scope up to its organization, the roles holding the permission that may
// be assigned there (fewest permissions first) and who may assign each
// (R17: may manage access there, and holds every permission of the role
// there). Nothing for a principal no grant can help: unknown, not active,
// or of another organization than scope.
func (s *Service) possibleGrants(ctx context.Context, principal, permission, scope string) ([]*accessv1.PossibleGrant, error) {
	p, ok := s.model.LookupPrincipal(principal)
	if !ok || p.Status != authorizer.StatusActive || p.Organization != resourcename.OrganizationOf(scope) {
		return nil, nil
	}
	roles, err := s.rolesHolding(ctx, p.Organization, permission)
	if err != nil || len(roles) == 0 {
		return nil, err
	}
	var out []*accessv1.PossibleGrant
	for sc := scope; sc != ""; sc, _ = resourcename.Parent(sc) {
		if _, _, known := s.model.LookupScope(sc); !known {
			continue // a node the directory does not know (any more)
		}
		si, err := s.assignedScope(sc)
		if err != nil {
			return nil, err
		}
		g := &accessv1.PossibleGrant{Scope: sc}
		var grantors []string // who may manage access at sc, computed once
		for _, r := range roles {
			if catalogue.ValidatePlacement(r, si.level, si.serviceType) != nil {
				continue
			}
			if grantors == nil {
				if grantors, err = s.accessManagers(si); err != nil {
					return nil, err
				}
			}
			gr := &accessv1.GrantableRole{Role: RoleName(r.ID), DisplayName: r.Name, PermissionCount: int32(len(r.Permissions)), BuiltIn: r.BuiltIn}
			for _, x := range grantors {
				if s.noEscalation(Actor{Name: x, Organization: p.Organization}, []catalogue.Role{r}, sc) != nil {
					continue
				}
				gr.GrantorCount++
				if len(gr.Grantors) < maxGrantors {
					gr.Grantors = append(gr.Grantors, x)
				}
			}
			g.Roles = append(g.Roles, gr)
		}
		if len(g.Roles) > 0 {
			out = append(out, g)
		}
	}
	return out, nil
}

// rolesHolding returns the built-in roles and org's custom roles holding
// permission, fewest permissions first, then by name.
func (s *Service) rolesHolding(ctx context.Context, org, permission string) ([]catalogue.Role, error) {
	var out []catalogue.Role
	for _, r := range catalogue.BuiltInRoles() {
		if slices.Contains(r.Permissions, permission) {
			out = append(out, r)
		}
	}
	custom, err := s.customRoles(ctx, org)
	if err != nil {
		return nil, err
	}
	for _, r := range custom {
		if slices.Contains(r.GetPermissions(), permission) {
			out = append(out, catalogueRole(r))
		}
	}
	slices.SortStableFunc(out, func(a, b catalogue.Role) int {
		if d := len(a.Permissions) - len(b.Permissions); d != 0 {
			return d
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

// accessManagers returns, in name order, the active principals of si's
// organization who may manage access at si (mayManageAccess): the holders
// of the permissions R17 asks for there, each confirmed by the rule itself.
func (s *Service) accessManagers(si scopeInfo) ([]string, error) {
	candidates := map[string]bool{}
	add := func(permission, scope string) error {
		if scope == "" {
			return nil
		}
		holders, _, err := s.model.Holders(permission, scope, "", 0)
		if errors.Is(err, authorizer.ErrUnknownPermission) {
			return nil // a service type without that permission
		}
		if err != nil {
			return err
		}
		for _, h := range holders {
			if h.Principal.Status == authorizer.StatusActive {
				candidates[h.Principal.ID] = true
			}
		}
		return nil
	}
	perms := [][2]string{{permUsersEdit, si.org}, {permServicesUsersEdit, si.org}, {permTenantUsersEdit, si.tenant}}
	if si.level == catalogue.LevelFolder && si.serviceType != "" {
		perms = append(perms, [2]string{si.serviceType + suffixRolesEdit, si.name}, [2]string{si.serviceType + suffixFolderUsersEdit, si.name})
	}
	for _, pc := range perms {
		if err := add(pc[0], pc[1]); err != nil {
			return nil, err
		}
	}
	out := make([]string, 0, len(candidates))
	for x := range candidates {
		if s.mayManageAccess(Actor{Name: x, Organization: si.org}, si) == nil {
			out = append(out, x)
		}
	}
	slices.Sort(out)
	return out, nil
}
