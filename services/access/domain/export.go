package domain

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	accessv1 "steward.dev/gen/steward/access/v1"
	"steward.dev/pkg/csvsafe"
	"steward.dev/pkg/resourcename"
	"steward.dev/pkg/store"
	"steward.dev/services/access/catalogue"
)

// ExportColumns is the header row of the role-assignment export (R19): the
// fields of seed 002's "导出角色分配" table, in its order, in English. The
// seed keeps ServiceName, CreatedBy, FolderKey and ProjectId untranslated;
// those are used as they are.
var ExportColumns = []string{
	"ID",
	"Role Name",
	"Role ID",
	"Role Description",
	"Role Type",
	"Role Assignment Type",
	"Scope",
	"Scope with Display Name",
	"ServiceName",
	"Security Principal ID",
	"Security Principal Type",
	"Security Principal Email",
	"Security Principal Display Name",
	"Inherited From Group Name",
	"Inherited From Group ID",
	"Tenant Name",
	"Organization Name",
	"Organization ID",
	"Tenant ID",
	"CreatedBy",
	"Created By: Display Name",
	"Creation Date",
	"Folder Name",
	"FolderKey",
	"ProjectId",
}

// Values of the type columns of the export.
const (
	// ExportBuiltIn marks a built-in role or a system-made assignment.
	ExportBuiltIn = "Built-in"
	// ExportCustom marks a custom role or an assignment a person made.
	ExportCustom = "Custom"
)

const (
	// exportBatch is how many assignments one short read transaction of the
	// export reads.
	exportBatch = 256
	// ExportChunkSize is the size past which the export hands its buffered
	// CSV to emit (one HttpBody message each).
	ExportChunkSize = 512 << 10
)

// exportRole is what the export shows of a role.
type exportRole struct {
	name, id, description, serviceType string
	builtIn                            bool
}

// exportItem is one assignment read by the export, with its role.
type exportItem struct {
	a    *accessv1.RoleAssignment
	role exportRole
}

// ExportRoleAssignments writes every role assignment of the organization
// req.Parent as CSV (R19): the ExportColumns header, then, in store key
// order, one row per assignment and, for an assignment to a group, one
// inherited row per member of the group (every user of the organization for
// Everyone), naming the member as principal and the group in the
// inherited-from columns. Memory stays constant whatever the organization's
// size: assignments are read exportBatch at a time, each batch in its own
// short read transaction continuing after the last key read, and the CSV is
// handed to emit in chunks of about ExportChunkSize bytes (the header alone
// when there is nothing else). emit must not keep chunk after it returns.
// Users of another organization get ErrNotFound. Before anything is
// emitted the export is recorded (recordExport, R27): when that fails,
// nothing is exported.
func (s *Service) ExportRoleAssignments(ctx context.Context, actor Actor, req *accessv1.ExportRoleAssignmentsRequest, emit func(chunk []byte) error) error {
	return s.exportRoleAssignments(ctx, actor, req, emit, exportMemberCache)
}

// exportRoleAssignments is ExportRoleAssignments keeping at most
// cacheLimit bytes of encoded member columns (exporter.members).
func (s *Service) exportRoleAssignments(ctx context.Context, actor Actor, req *accessv1.ExportRoleAssignmentsRequest, emit func(chunk []byte) error, cacheLimit int) error {
	org := req.GetParent()
	if !actor.IsService() && actor.Organization != org {
		return errorf(ErrNotFound, "%s not found", org)
	}
	if err := s.recordExport(ctx, actor, org); err != nil {
		return err
	}
	x := &exporter{ctx: ctx, s: s, org: org, emit: emit, orgName: s.Mirror().OrganizationName(org),
		buf: make([]byte, 0, ExportChunkSize+4096), cacheLimit: cacheLimit}
	if err := x.row(ExportColumns); err != nil {
		return err
	}
	prefix := []byte(assignmentPrefix + org + "/roleAssignments/")
	var start []byte
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch, next, err := s.exportBatch(ctx, prefix, start)
		if err != nil {
			return err
		}
		for _, it := range batch {
			if err := x.assignment(it); err != nil {
				return err
			}
		}
		if next == nil {
			break
		}
		start = next
	}
	return x.flush(true)
}

// exportAction is the audit action of an export: the method's name.
const exportAction = "ExportRoleAssignments"

// recordExport appends, in its own transaction, the
// access.role_assignments.exported event of actor's export of org's role
// assignments (R27): resource org, audit action exportAction, the actor's
// request ID and address. A robot account or external app calling with an
// API key is recorded as itself (the key's principal, as refusals and the
// directory record it), the key named in the message.
func (s *Service) recordExport(ctx context.Context, actor Actor, org string) error {
	msg := fmt.Sprintf("Role assignments of %s were exported as CSV.", org)
	return s.recordRead(ctx, actor, TypeRoleAssignmentsExported, exportAction, org, msg)
}

// recordRead records, before anything is sent, that actor read resource
// through action (an export, R27); an API key's principal is the actor.
func (s *Service) recordRead(ctx context.Context, actor Actor, typ, action, resource, msg string) error {
	if principal := KeyPrincipal(actor.Name); principal != "" {
		msg = strings.TrimSuffix(msg, ".") + " with API key " + actor.Name + "."
		actor.Name = principal
	}
	_, err := s.update(ctx, actor, func(t *txn) error {
		return t.EmitRead(typ, action, resource, msg)
	})
	if err != nil {
		return fmt.Errorf("access: recording %s of %s: %w", action, resource, err)
	}
	return nil
}

// exportBatch reads up to exportBatch assignments under prefix from start
// (inclusive; nil for the first) in one read transaction, with their roles.
// next is where the following batch starts, nil after the last.
func (s *Service) exportBatch(ctx context.Context, prefix, start []byte) ([]exportItem, []byte, error) {
	var (
		items []exportItem
		next  []byte
	)
	err := s.view(ctx, func(tx store.ReadTx) error {
		items, next = items[:0], nil
		roles := map[string]exportRole{}
		return tx.Scan(prefix, start, func(k, v []byte) (bool, error) {
			if len(items) == exportBatch {
				next = bytes.Clone(k)
				return false, nil
			}
			a, err := decodeAssignment(k, v)
			if err != nil {
				return false, err
			}
			r, ok := roles[a.GetRole()]
			if !ok {
				r = exportRoleOf(tx, a.GetRole())
				roles[a.GetRole()] = r
			}
			items = append(items, exportItem{a: a, role: r})
			return true, nil
		})
	})
	return items, next, err
}

// exportRoleOf returns what the export shows of the role named name; a
// role that no longer exists shows its name only.
func exportRoleOf(tx store.ReadTx, name string) exportRole {
	r := exportRole{id: name, builtIn: strings.HasPrefix(name, BuiltInRolePrefix)}
	cr, ar, err := lookupRole(tx, name)
	if err != nil {
		return r
	}
	r.name, r.description, r.serviceType, r.builtIn = ar.GetDisplayName(), ar.GetDescription(), cr.ServiceType, ar.GetBuiltIn()
	return r
}

// exporter renders the export's rows into a buffer it empties into emit.
type exporter struct {
	ctx     context.Context
	s       *Service
	org     string
	orgName string
	emit    func([]byte) error
	// buf holds the CSV not yet emitted.
	buf []byte
	// head and tail are the encoded fixed columns of a group assignment's
	// inherited rows, reused.
	head, tail []byte
	// members holds the encoded principal columns of the members of the
	// groups exported so far, while they fit in exportMemberCache bytes
	// (cached counts them, up to cacheLimit): a group assigned many times is read and
	// encoded once per export.
	members            map[string]*memberColumns
	cached, cacheLimit int
}

// exportMemberCache bounds the bytes of encoded member columns one export
// keeps (exporter.members): a few megabytes, whatever the organization.
const exportMemberCache = 16 << 20

// memberColumns are the encoded principal columns (9 to 12) of a group's
// members, in member order: member i's are cols[ends[i-1]:ends[i]].
type memberColumns struct {
	cols []byte
	ends []int
}

// row writes one CSV record, every cell neutralized
// (csvsafe.AppendFields: CSV injection; display names, role names and
// descriptions come from users, and none of them may run in the
// spreadsheet of whoever opens the export), and emits the buffer once it
// is large enough.
func (x *exporter) row(rec []string) error {
	x.buf = append(csvsafe.AppendFields(x.buf, rec...), '\n')
	return x.flush(false)
}

// flush hands the buffered CSV to emit when it holds at least
// ExportChunkSize bytes, or whatever it holds when final.
func (x *exporter) flush(final bool) error {
	if len(x.buf) == 0 || (!final && len(x.buf) < ExportChunkSize) {
		return nil
	}
	err := x.emit(x.buf)
	x.buf = x.buf[:0]
	return err
}

// assignment writes the rows of one assignment: its own, and for a group
// one inherited row per member.
func (x *exporter) assignment(it exportItem) error {
	a, m := it.a, x.s.Mirror()
	rec := make([]string, len(ExportColumns))
	rec[0] = a.GetName()
	rec[1] = it.role.name
	rec[2] = it.role.id
	rec[3] = it.role.description
	rec[4] = exportType(it.role.builtIn)
	rec[5] = exportType(a.GetBuiltIn())
	x.scopeColumns(rec, a.GetScope(), it.role.serviceType)
	rec[16] = x.orgName
	rec[17] = x.org
	if c := a.GetCreator(); c != "" {
		rec[19] = c
		if p, ok := m.Principal(c); ok {
			rec[20] = p.DisplayName
		}
	}
	if t := a.GetCreateTime(); t != nil {
		rec[21] = t.AsTime().UTC().Format(time.RFC3339)
	}
	x.principalColumns(rec, a.GetPrincipal())
	if err := x.row(rec); err != nil {
		return err
	}
	kind, _ := principalKindOf(a.GetPrincipal())
	if kind != accessv1.PrincipalKind_PRINCIPAL_KIND_GROUP {
		return nil
	}
	group := a.GetPrincipal()
	groupName := group
	if g, ok := m.Principal(group); ok && g.DisplayName != "" {
		groupName = g.DisplayName
	}
	rec[13], rec[14] = groupName, group
	// Only the principal columns (9 to 12) differ from one member's row to
	// the next: the others are encoded once.
	x.head = append(csvsafe.AppendFields(x.head[:0], rec[:9]...), ',')
	x.tail = append(append(x.tail[:0], ','), csvsafe.AppendFields(nil, rec[13:]...)...)
	member := func(cols []byte) error {
		x.buf = append(x.buf, x.head...)
		x.buf = append(x.buf, cols...)
		x.buf = append(append(x.buf, x.tail...), '\n')
		return x.flush(false)
	}
	if mc, ok := x.members[group]; ok {
		start := 0
		for _, end := range mc.ends {
			if err := member(mc.cols[start:end]); err != nil {
				return err
			}
			start = end
		}
		return nil
	}
	// The first export of group reads and encodes its members, and keeps
	// them while the cache has room: a group that does not fit is read
	// again at its next assignment.
	mc, keep := &memberColumns{}, true
	err := x.s.forEachMember(x.ctx, group, func(name string) error {
		x.principalColumns(rec, name)
		start := len(mc.cols)
		mc.cols = csvsafe.AppendFields(mc.cols, rec[9:13]...)
		err := member(mc.cols[start:])
		if keep && x.cached+len(mc.cols)+8*len(mc.ends) <= x.cacheLimit {
			mc.ends = append(mc.ends, len(mc.cols))
		} else {
			keep, mc.cols, mc.ends = false, mc.cols[:0], nil
		}
		return err
	})
	if err != nil || !keep {
		return err
	}
	if x.members == nil {
		x.members = make(map[string]*memberColumns)
	}
	x.members[group] = mc
	x.cached += len(mc.cols) + 8*len(mc.ends)
	return nil
}

// forEachMember calls fn with each member of group in name order (every
// user of the organization for Everyone), reading the stored directory
// facts exportBatch keys at a time, each batch in its own short read
// transaction: the export's memory does not grow with the group.
func (s *Service) forEachMember(ctx context.Context, group string, fn func(member string) error) error {
	prefix, cut := dirMemberPrefix+group+"|", len(dirMemberPrefix+group+"|")
	if g, ok := s.Mirror().Principal(group); ok && g.Everyone {
		prefix = dirPrincipalPrefix + resourcename.OrganizationOf(group) + "/users/"
		cut = len(dirPrincipalPrefix)
	}
	var start []byte
	for {
		var members []string
		var next []byte
		err := s.view(ctx, func(tx store.ReadTx) error {
			return tx.Scan([]byte(prefix), start, func(k, _ []byte) (bool, error) {
				if len(members) == exportBatch {
					next = append([]byte(nil), k...)
					return false, nil
				}
				members = append(members, string(k[cut:]))
				return true, nil
			})
		})
		if err != nil {
			return err
		}
		for _, m := range members {
			if err := fn(m); err != nil {
				return err
			}
		}
		if next == nil {
			return nil
		}
		start = next
	}
}

// principalColumns fills the security principal columns for principal.
func (x *exporter) principalColumns(rec []string, principal string) {
	rec[9] = principal
	rec[10] = exportPrincipalType(principal)
	rec[11], rec[12] = "", ""
	if p, ok := x.s.Mirror().Principal(principal); ok {
		rec[11], rec[12] = p.Email, p.DisplayName
	}
}

// scopeColumns fills the scope, service, tenant, folder and project columns
// from the scope tree path of scope.
func (x *exporter) scopeColumns(rec []string, scope, roleServiceType string) {
	m := x.s.Mirror()
	rec[6] = scope
	parts := strings.Split(scope, "/")
	var path []string
	for i := 1; i < len(parts); i += 2 {
		node := strings.Join(parts[:i+1], "/")
		display := parts[i]
		if i == 1 {
			if x.orgName != "" {
				display = x.orgName
			}
		} else if sc, ok := m.Scope(node); ok && sc.DisplayName != "" {
			display = sc.DisplayName
		}
		path = append(path, display)
		switch parts[i-1] {
		case "tenants":
			rec[15], rec[18] = display, node
		case "services":
			rec[8] = display
		case "folders":
			rec[22], rec[23] = display, node
		case "projects":
			rec[24] = node
		}
	}
	rec[7] = strings.Join(path, " / ")
	if rec[8] == "" && roleServiceType != "" {
		// A service role shown above its services: name the service type.
		if st, ok := catalogue.LookupServiceType(roleServiceType); ok && st.DisplayName != "" {
			rec[8] = st.DisplayName
		} else {
			rec[8] = roleServiceType
		}
	}
}

// exportType is the role type / assignment type column value.
func exportType(builtIn bool) string {
	if builtIn {
		return ExportBuiltIn
	}
	return ExportCustom
}

// exportPrincipalType is the security principal type column value.
func exportPrincipalType(principal string) string {
	switch k, _ := principalKindOf(principal); k {
	case accessv1.PrincipalKind_PRINCIPAL_KIND_USER:
		return "User"
	case accessv1.PrincipalKind_PRINCIPAL_KIND_GROUP:
		return "Group"
	case accessv1.PrincipalKind_PRINCIPAL_KIND_ROBOT_ACCOUNT:
		return "Robot account"
	case accessv1.PrincipalKind_PRINCIPAL_KIND_EXTERNAL_APP:
		return "External application"
	}
	return ""
}
