package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	accessv1 "steward.dev/gen/steward/access/v1"
)

// accCall runs one authenticated call of an access command.
func (a *app) accCall(cmd *cobra.Command, run func(accessv1.AccessServiceClient, ctxCall) error) error {
	return withClient(a, cmd, a.access, accessv1.NewAccessServiceClient, run)
}

// level parses a role level word.
func level(s string) (accessv1.Level, error) {
	switch strings.ToLower(s) {
	case "":
		return accessv1.Level_LEVEL_UNSPECIFIED, nil
	case "organization", "org":
		return accessv1.Level_LEVEL_ORGANIZATION, nil
	case "tenant":
		return accessv1.Level_LEVEL_TENANT, nil
	case "service":
		return accessv1.Level_LEVEL_SERVICE, nil
	case "folder":
		return accessv1.Level_LEVEL_FOLDER, nil
	}
	return 0, usageErrorf("level %q: want organization, tenant, service or folder", s)
}

func rolesTable(rs ...*accessv1.Role) *table {
	t := newTable("NAME", "DISPLAY NAME", "LEVEL", "SERVICE TYPE", "PERMISSIONS", "BUILT-IN", "ASSIGNABLE")
	for _, r := range rs {
		t.add(r.GetName(), r.GetDisplayName(), enumWord(r.GetLevel()), r.GetServiceType(), fmt.Sprint(len(r.GetPermissions())), yesNo(r.GetBuiltIn()), yesNo(r.GetAssignable()))
	}
	return t
}

func (a *app) rolesCommand() *cobra.Command {
	cmd := group("roles", "List, show and create roles", "role")
	var list accessv1.ListRolesRequest
	var lvl string
	ls := &cobra.Command{
		Use: "list [--level LEVEL] [--service-type TYPE]", Short: "List the built-in and custom roles", Aliases: []string{"ls"}, Args: nArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			org, err := a.orgName()
			if err != nil {
				return err
			}
			list.Parent = org
			if list.Level, err = level(lvl); err != nil {
				return err
			}
			return a.accCall(cmd, func(acc accessv1.AccessServiceClient, ctx ctxCall) error {
				resp, err := acc.ListRoles(ctx, &list)
				if err != nil {
					return err
				}
				defer a.morePages(resp.GetNextPageToken())
				return a.render(resp, func() *table { return rolesTable(resp.GetRoles()...) })
			})
		},
	}
	ls.Flags().StringVar(&lvl, "level", "", "organization, tenant, service or folder")
	ls.Flags().StringVar(&list.ServiceType, "service-type", "", "only roles of this service type")
	pageFlags(ls, &list.PageSize, &list.PageToken)

	get := &cobra.Command{
		Use: "get ROLE", Short: "Show a role and its permissions (roles/ID, or organizations/ORG/roles/ID)", Args: nArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.accCall(cmd, func(acc accessv1.AccessServiceClient, ctx ctxCall) error {
				r, err := acc.GetRole(ctx, &accessv1.GetRoleRequest{Name: role(args[0])})
				if err != nil {
					return err
				}
				return a.render(r, func() *table { return fields(r) })
			})
		},
	}

	var r accessv1.Role
	var createLevel string
	mk := &cobra.Command{
		Use: "create ID --permission PERM... [--level LEVEL] [--display-name NAME]", Short: "Create a custom role", Args: nArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := a.orgName()
			if err != nil {
				return err
			}
			if r.Level, err = level(createLevel); err != nil {
				return err
			}
			if r.DisplayName == "" {
				r.DisplayName = args[0]
			}
			return a.accCall(cmd, func(acc accessv1.AccessServiceClient, ctx ctxCall) error {
				resp, err := acc.CreateRole(ctx, &accessv1.CreateRoleRequest{Parent: org, RoleId: args[0], Role: &r})
				if err != nil {
					return err
				}
				return a.render(resp, func() *table { return rolesTable(resp) })
			})
		},
	}
	mk.Flags().StringVar(&r.DisplayName, "display-name", "", "display name (default: the ID)")
	mk.Flags().StringVar(&r.Description, "description", "", "description")
	mk.Flags().StringVar(&createLevel, "level", "organization", "organization, tenant, service or folder")
	mk.Flags().StringVar(&r.ServiceType, "service-type", "", "service type, for service and folder roles")
	mk.Flags().StringSliceVar(&r.Permissions, "permission", nil, "a permission of the role (repeat, or separate with commas)")
	cmd.AddCommand(ls, get, mk)
	return cmd
}

func assignmentsTable(as ...*accessv1.RoleAssignment) *table {
	t := newTable("NAME", "PRINCIPAL", "ROLE", "SCOPE", "BUILT-IN", "CREATED")
	for _, x := range as {
		t.add(last(x.GetName()), x.GetPrincipal(), x.GetRole(), x.GetScope(), yesNo(x.GetBuiltIn()), ts(x.GetCreateTime()))
	}
	return t
}

func (a *app) assignmentsCommand() *cobra.Command {
	cmd := group("assignments", "List, create and delete role assignments", "assignment", "role-assignments")
	var list accessv1.ListRoleAssignmentsRequest
	ls := &cobra.Command{
		Use: "list [--scope SCOPE] [--principal PRINCIPAL]", Short: "List role assignments", Aliases: []string{"ls"}, Args: nArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			org, err := a.orgName()
			if err != nil {
				return err
			}
			list.Parent = org
			if cmd.Flags().Changed("scope") {
				list.Scope = expandScope(org, list.Scope)
			}
			if list.Principal != "" {
				list.Principal = a.principal(org, list.Principal)
			}
			return a.accCall(cmd, func(acc accessv1.AccessServiceClient, ctx ctxCall) error {
				resp, err := acc.ListRoleAssignments(ctx, &list)
				if err != nil {
					return err
				}
				defer a.morePages(resp.GetNextPageToken())
				return a.render(resp, func() *table { return assignmentsTable(resp.GetRoleAssignments()...) })
			})
		},
	}
	ls.Flags().StringVar(&list.Scope, "scope", "", "only assignments at this scope")
	ls.Flags().StringVar(&list.Principal, "principal", "", "only assignments of this principal")
	pageFlags(ls, &list.PageSize, &list.PageToken)

	var scope string
	mk := &cobra.Command{
		Use:   "create PRINCIPAL ROLE... [--scope SCOPE]",
		Short: "Assign roles to a user, group, robot account or external app at a scope",
		Long: `create assigns roles to PRINCIPAL at --scope (default: the organization).
A ROLE is a built-in role's ID or name ("organization-administrator",
"roles/organization-administrator"), or a custom role's full name
("organizations/acme/roles/auditor"); 'steward roles list' shows them.`,
		Example: `  steward assignments create ann organization-administrator
  steward assignments create groups/ops roles/service-viewer --scope tenants/t1/services/s1`,
		Args: nArgs(2, 64),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := a.orgName()
			if err != nil {
				return err
			}
			req := &accessv1.CreateRoleAssignmentRequest{Parent: org, Principal: a.principal(org, args[0]), Scope: expandScope(org, scope)}
			for _, r := range args[1:] {
				req.Roles = append(req.Roles, role(r))
			}
			return a.accCall(cmd, func(acc accessv1.AccessServiceClient, ctx ctxCall) error {
				resp, err := acc.CreateRoleAssignment(ctx, req)
				if err != nil {
					return err
				}
				return a.render(resp, func() *table { return assignmentsTable(resp.GetRoleAssignments()...) })
			})
		},
	}
	mk.Flags().StringVar(&scope, "scope", "", "where the roles apply (default: the organization)")

	var delScope string
	del := &cobra.Command{
		Use: "delete ASSIGNMENT [--scope SCOPE]", Short: "Delete a role assignment (its ID or name)", Aliases: []string{"rm"}, Args: nArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := a.orgName()
			if err != nil {
				return err
			}
			req := &accessv1.DeleteRoleAssignmentRequest{Name: expand(org, "roleAssignments", args[0])}
			if delScope != "" {
				req.Scope = expandScope(org, delScope)
			}
			return a.accCall(cmd, func(acc accessv1.AccessServiceClient, ctx ctxCall) error {
				resp, err := acc.DeleteRoleAssignment(ctx, req)
				return a.done(resp, err, "Deleted "+req.Name+".")
			})
		},
	}
	del.Flags().StringVar(&delScope, "scope", "", "the assignment's scope, when known (authorizes a scope administrator)")
	cmd.AddCommand(ls, mk, del)
	return cmd
}

// sourcesWords describes the sources of a holding: "Role via Group at scope".
func sourcesWords(ss []*accessv1.HoldingSource) string {
	parts := make([]string, 0, len(ss))
	for _, s := range ss {
		w := s.GetRole()
		if s.GetRoleDisplayName() != "" {
			w = s.GetRoleDisplayName()
		}
		if s.GetGroup() != "" {
			g := s.GetGroupDisplayName()
			if g == "" {
				g = last(s.GetGroup())
			}
			w += " via " + g
		}
		w += " at " + s.GetScope()
		parts = append(parts, w)
	}
	return strings.Join(parts, "; ")
}

func explanationTable(e *accessv1.Explanation) *table {
	t := newTable("PERMISSION", "FROM")
	srcs := e.GetSources()
	for _, p := range e.GetPermissions() {
		var from []string
		for _, i := range p.GetSources() {
			if int(i) < len(srcs) {
				s := srcs[i]
				w := s.GetRoleDisplayName()
				if w == "" {
					w = s.GetRole()
				}
				if s.GetGroup() != "" {
					g := s.GetGroupDisplayName()
					if g == "" {
						g = last(s.GetGroup())
					}
					w += " via " + g
				}
				from = append(from, w+" at "+s.GetScope())
			}
		}
		t.add(p.GetPermission(), strings.Join(from, "; "))
	}
	return t
}

func (a *app) checkCommand() *cobra.Command {
	var explain bool
	cmd := &cobra.Command{
		Use:   "check PRINCIPAL PERMISSION [SCOPE] [--explain]",
		Short: "Does PRINCIPAL hold PERMISSION at SCOPE? Exit 0 when allowed, 6 when denied",
		Example: `  steward check ann users.edit
  steward check groups/ops licenses.view tenants/t1 --explain`,
		Args: nArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := a.orgName()
			if err != nil {
				return err
			}
			scope := org
			if len(args) == 3 {
				scope = expandScope(org, args[2])
			}
			req := &accessv1.CheckPermissionRequest{Principal: a.principal(org, args[0]), Permission: args[1], Scope: scope, Explain: explain}
			var resp *accessv1.CheckPermissionResponse
			err = a.accCall(cmd, func(acc accessv1.AccessServiceClient, ctx ctxCall) error {
				resp, err = acc.CheckPermission(ctx, req)
				return err
			})
			if err != nil {
				return err
			}
			if err := a.render(resp, func() *table {
				verdict := "denied"
				if resp.GetAllowed() {
					verdict = "allowed"
				}
				t := newTable("PRINCIPAL", "PERMISSION", "SCOPE", "ANSWER", "REASON")
				t.add(req.Principal, req.Permission, req.Scope, verdict, resp.GetReason())
				return t
			}); err != nil {
				return err
			}
			if a.output != formatJSON {
				if e := resp.GetExplanation(); e != nil && len(e.GetPermissions()) > 0 {
					fmt.Fprintln(a.stdout)
					_ = explanationTable(e).write(a.stdout)
				}
				if g := resp.GetPossibleGrants(); len(g) > 0 {
					fmt.Fprintln(a.stdout, "\nRoles that would grant it:")
					t := newTable("SCOPE", "ROLE", "DISPLAY NAME", "WHO CAN GRANT")
					for _, pg := range g {
						for _, r := range pg.GetRoles() {
							t.add(pg.GetScope(), r.GetRole(), r.GetDisplayName(), strings.Join(r.GetGrantors(), ", "))
						}
					}
					_ = t.write(a.stdout)
				}
			}
			if !resp.GetAllowed() {
				return &exitError{code: ExitCheckDenied, err: errCheckDenied}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&explain, "explain", false, "also say which roles grant it, or which would")
	return cmd
}

// errCheckDenied is check's "denied": printed already, so run prints nothing more.
var errCheckDenied = errSilent("denied")

// errSilent is an error run does not print (its command printed the answer).
type errSilent string

func (e errSilent) Error() string { return string(e) }

func (a *app) explainCommand() *cobra.Command {
	var subtree bool
	cmd := &cobra.Command{
		Use:   "explain PRINCIPAL [SCOPE] [--subtree]",
		Short: "List PRINCIPAL's effective permissions at SCOPE and the roles they come from",
		Args:  nArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := a.orgName()
			if err != nil {
				return err
			}
			scope := org
			if len(args) == 2 {
				scope = expandScope(org, args[1])
			}
			return a.accCall(cmd, func(acc accessv1.AccessServiceClient, ctx ctxCall) error {
				e, err := acc.ExplainPermissions(ctx, &accessv1.ExplainPermissionsRequest{Principal: a.principal(org, args[0]), Scope: scope, Subtree: subtree})
				if err != nil {
					return err
				}
				return a.render(e, func() *table {
					if e.GetStatus() != "" {
						fmt.Fprintf(a.stderr, "status: %s\n", e.GetStatus())
					}
					return explanationTable(e)
				})
			})
		},
	}
	cmd.Flags().BoolVar(&subtree, "subtree", false, "include the assignments below SCOPE")
	return cmd
}

func (a *app) whoCanCommand() *cobra.Command {
	var req accessv1.ListPermissionHoldersRequest
	cmd := &cobra.Command{
		Use:   "who-can PERMISSION [SCOPE]",
		Short: "List who holds PERMISSION at SCOPE, and through which roles and groups",
		Example: `  steward who-can users.edit
  steward who-can licenses.view tenants/t1 -o json`,
		Args: nArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := a.orgName()
			if err != nil {
				return err
			}
			req.Permission, req.Scope = args[0], org
			if len(args) == 2 {
				req.Scope = expandScope(org, args[1])
			}
			return a.accCall(cmd, func(acc accessv1.AccessServiceClient, ctx ctxCall) error {
				resp, err := acc.ListPermissionHolders(ctx, &req)
				if err != nil {
					return err
				}
				defer a.morePages(resp.GetNextPageToken())
				return a.render(resp, func() *table {
					t := newTable("PRINCIPAL", "KIND", "DISPLAY NAME", "EMAIL", "THROUGH", "ACTIVE")
					for _, h := range resp.GetHolders() {
						t.add(h.GetPrincipal(), enumWord(h.GetPrincipalKind()), h.GetDisplayName(), h.GetEmail(), sourcesWords(h.GetSources()), "yes")
					}
					for _, h := range resp.GetInactive() {
						t.add(h.GetPrincipal(), enumWord(h.GetPrincipalKind()), h.GetDisplayName(), h.GetEmail(), sourcesWords(h.GetSources()), "no")
					}
					return t
				})
			})
		},
	}
	pageFlags(cmd, &req.PageSize, &req.PageToken)
	return cmd
}

func (a *app) whereCanCommand() *cobra.Command {
	var req accessv1.ListPermittedScopesRequest
	var scope string
	cmd := &cobra.Command{
		Use:   "where-can PRINCIPAL PERMISSION [--scope SCOPE]",
		Short: "List the scopes where PRINCIPAL holds PERMISSION",
		Args:  nArgs(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := a.orgName()
			if err != nil {
				return err
			}
			req.Principal, req.Permission, req.Scope = a.principal(org, args[0]), args[1], expandScope(org, scope)
			return a.accCall(cmd, func(acc accessv1.AccessServiceClient, ctx ctxCall) error {
				resp, err := acc.ListPermittedScopes(ctx, &req)
				if err != nil {
					return err
				}
				defer a.morePages(resp.GetNextPageToken())
				return a.render(resp, func() *table {
					t := newTable("SCOPE", "DISPLAY NAME", "THROUGH")
					for _, s := range resp.GetScopes() {
						t.add(s.GetScope(), s.GetDisplayName(), sourcesWords(s.GetSources()))
					}
					return t
				})
			})
		},
	}
	cmd.Flags().StringVar(&scope, "scope", "", "only scopes at or below this one (default: the organization)")
	pageFlags(cmd, &req.PageSize, &req.PageToken)
	return cmd
}
