package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "steward.dev/gen/steward/directory/v1"
)

// dirCall runs one authenticated call of a directory command.
func (a *app) dirCall(cmd *cobra.Command, run func(directoryv1.DirectoryServiceClient, ctxCall) error) error {
	return withClient(a, cmd, a.server, directoryv1.NewDirectoryServiceClient, run)
}

func userRow(t *table, u *directoryv1.User) {
	t.add(last(u.GetName()), u.GetEmail(), u.GetNickname(), u.GetDisplayName(), enumWord(u.GetState()), last(u.GetDepartment()), yesNo(u.GetOwner()), yesNo(u.GetMfaRequired()))
}

func usersTable(users ...*directoryv1.User) *table {
	t := newTable("ID", "EMAIL", "NICKNAME", "DISPLAY NAME", "STATE", "DEPARTMENT", "OWNER", "MFA")
	for _, u := range users {
		userRow(t, u)
	}
	return t
}

func (a *app) usersCommand() *cobra.Command {
	cmd := group("users", "List, show, create, deactivate, activate and delete users", "user")

	var list directoryv1.ListUsersRequest
	var state string
	ls := &cobra.Command{
		Use: "list [--query TEXT] [--group GROUP] [--department DEPT] [--state active|inactive]", Short: "List users", Aliases: []string{"ls"},
		Args: nArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			org, err := a.orgName()
			if err != nil {
				return err
			}
			list.Parent = org
			if list.Group != "" {
				list.Group = expand(org, "groups", list.Group)
			}
			if list.Department != "" {
				list.Department = expand(org, "departments", list.Department)
			}
			switch state {
			case "":
			case "active":
				list.State = directoryv1.User_STATE_ACTIVE
			case "inactive":
				list.State = directoryv1.User_STATE_INACTIVE
			default:
				return usageErrorf("--state %q: want active or inactive", state)
			}
			return a.dirCall(cmd, func(dir directoryv1.DirectoryServiceClient, ctx ctxCall) error {
				resp, err := dir.ListUsers(ctx, &list)
				if err != nil {
					return err
				}
				defer a.morePages(resp.GetNextPageToken())
				return a.render(resp, func() *table { return usersTable(resp.GetUsers()...) })
			})
		},
	}
	ls.Flags().StringVar(&list.Query, "query", "", "match nickname, email or display name")
	ls.Flags().StringVar(&list.Group, "group", "", "only members of this group")
	ls.Flags().StringVar(&list.Department, "department", "", "only users of this department")
	ls.Flags().StringVar(&state, "state", "", "active or inactive")
	pageFlags(ls, &list.PageSize, &list.PageToken)

	get := &cobra.Command{
		Use: "get USER", Short: "Show a user", Args: nArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := a.orgName()
			if err != nil {
				return err
			}
			name := a.principal(org, args[0])
			if err != nil {
				return err
			}
			return a.dirCall(cmd, func(dir directoryv1.DirectoryServiceClient, ctx ctxCall) error {
				u, err := dir.GetUser(ctx, &directoryv1.GetUserRequest{Name: name})
				if err != nil {
					return err
				}
				return a.render(u, func() *table { return fields(u) })
			})
		},
	}

	var create directoryv1.CreateUserRequest
	var user directoryv1.User
	var passwordStdin bool
	mk := &cobra.Command{
		Use: "create --email EMAIL [--nickname NICK] [--display-name NAME] [--id ID] [--department DEPT] [--password-stdin]", Short: "Create a user",
		Args: nArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			org, err := a.orgName()
			if err != nil {
				return err
			}
			if user.Email == "" && user.ExternalSubject == "" {
				return usageErrorf("--email is required")
			}
			create.Parent, create.User = org, &user
			if user.Nickname == "" {
				user.Nickname = nicknameOf(user.Email)
			}
			if user.Department != "" {
				user.Department = expand(org, "departments", user.Department)
			}
			if passwordStdin {
				if create.InitialPassword, err = readLine(a.stdin); err != nil {
					return localError(fmt.Errorf("reading the initial password: %w", err))
				}
			}
			return a.dirCall(cmd, func(dir directoryv1.DirectoryServiceClient, ctx ctxCall) error {
				u, err := dir.CreateUser(ctx, &create)
				if err != nil {
					return err
				}
				return a.render(u, func() *table { return usersTable(u) })
			})
		},
	}
	mk.Flags().StringVar(&user.Email, "email", "", "email (required for local accounts)")
	mk.Flags().StringVar(&user.Nickname, "nickname", "", "nickname")
	mk.Flags().StringVar(&user.DisplayName, "display-name", "", "display name")
	mk.Flags().StringVar(&user.Department, "department", "", "department (default: the root department)")
	mk.Flags().StringVar(&user.ExternalSubject, "external-subject", "", "subject at the OIDC identity provider (OIDC organizations)")
	mk.Flags().BoolVar(&user.MfaRequired, "mfa-required", false, "require a TOTP code at sign-in")
	mk.Flags().StringVar(&create.UserId, "id", "", "user ID (default: chosen by the server)")
	mk.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read an initial password from the first line of standard input")

	state1 := func(use, short string, do func(directoryv1.DirectoryServiceClient, ctxCall, string) (*directoryv1.User, error)) *cobra.Command {
		return &cobra.Command{
			Use: use + " USER", Short: short, Args: nArgs(1, 1),
			RunE: func(cmd *cobra.Command, args []string) error {
				org, err := a.orgName()
				if err != nil {
					return err
				}
				name := a.principal(org, args[0])
				if err != nil {
					return err
				}
				return a.dirCall(cmd, func(dir directoryv1.DirectoryServiceClient, ctx ctxCall) error {
					u, err := do(dir, ctx, name)
					if err != nil {
						return err
					}
					return a.render(u, func() *table { return usersTable(u) })
				})
			},
		}
	}
	deact := state1("deactivate", "Deactivate a user: sign-in and tokens stop working", func(dir directoryv1.DirectoryServiceClient, ctx ctxCall, name string) (*directoryv1.User, error) {
		return dir.DeactivateUser(ctx, &directoryv1.DeactivateUserRequest{Name: name})
	})
	act := state1("activate", "Activate a deactivated user", func(dir directoryv1.DirectoryServiceClient, ctx ctxCall, name string) (*directoryv1.User, error) {
		return dir.ActivateUser(ctx, &directoryv1.ActivateUserRequest{Name: name})
	})
	del := &cobra.Command{
		Use: "delete USER", Short: "Delete a user", Aliases: []string{"rm"}, Args: nArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := a.orgName()
			if err != nil {
				return err
			}
			name := a.principal(org, args[0])
			if err != nil {
				return err
			}
			return a.dirCall(cmd, func(dir directoryv1.DirectoryServiceClient, ctx ctxCall) error {
				resp, err := dir.DeleteUser(ctx, &directoryv1.DeleteUserRequest{Name: name})
				return a.done(resp, err, "Deleted "+name+".")
			})
		},
	}
	cmd.AddCommand(ls, get, mk, deact, act, del)
	return cmd
}

// done reports a call that answers Empty: "{}" with -o json, else msg on stderr.
func (a *app) done(resp *emptypb.Empty, err error, msg string) error {
	if err != nil {
		return err
	}
	if a.output == formatJSON {
		return writeJSON(a.stdout, resp)
	}
	fmt.Fprintln(a.stderr, msg)
	return nil
}

func groupsTable(groups ...*directoryv1.Group) *table {
	t := newTable("ID", "DISPLAY NAME", "KIND", "DESCRIPTION")
	for _, g := range groups {
		t.add(last(g.GetName()), g.GetDisplayName(), enumWord(g.GetKind()), g.GetDescription())
	}
	return t
}

func (a *app) groupsCommand() *cobra.Command {
	cmd := group("groups", "List and create groups, and manage their members", "group")

	var list directoryv1.ListGroupsRequest
	ls := &cobra.Command{
		Use: "list [--query TEXT]", Short: "List groups", Aliases: []string{"ls"}, Args: nArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			org, err := a.orgName()
			if err != nil {
				return err
			}
			list.Parent = org
			return a.dirCall(cmd, func(dir directoryv1.DirectoryServiceClient, ctx ctxCall) error {
				resp, err := dir.ListGroups(ctx, &list)
				if err != nil {
					return err
				}
				defer a.morePages(resp.GetNextPageToken())
				return a.render(resp, func() *table { return groupsTable(resp.GetGroups()...) })
			})
		},
	}
	ls.Flags().StringVar(&list.Query, "query", "", "match the display name")
	pageFlags(ls, &list.PageSize, &list.PageToken)

	var g directoryv1.Group
	mk := &cobra.Command{
		Use: "create ID --display-name NAME [--description TEXT]", Short: "Create a group", Args: nArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := a.orgName()
			if err != nil {
				return err
			}
			if g.DisplayName == "" {
				g.DisplayName = args[0]
			}
			return a.dirCall(cmd, func(dir directoryv1.DirectoryServiceClient, ctx ctxCall) error {
				resp, err := dir.CreateGroup(ctx, &directoryv1.CreateGroupRequest{Parent: org, GroupId: args[0], Group: &g})
				if err != nil {
					return err
				}
				return a.render(resp, func() *table { return groupsTable(resp) })
			})
		},
	}
	mk.Flags().StringVar(&g.DisplayName, "display-name", "", "display name (default: the ID)")
	mk.Flags().StringVar(&g.Description, "description", "", "description")

	var members directoryv1.ListGroupMembersRequest
	mem := &cobra.Command{
		Use: "members GROUP", Short: "List a group's members", Args: nArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := a.resolve("groups", args[0])
			if err != nil {
				return err
			}
			members.Group = name
			return a.dirCall(cmd, func(dir directoryv1.DirectoryServiceClient, ctx ctxCall) error {
				resp, err := dir.ListGroupMembers(ctx, &members)
				if err != nil {
					return err
				}
				defer a.morePages(resp.GetNextPageToken())
				return a.render(resp, func() *table {
					t := newTable("MEMBER", "IMPLICIT", "SINCE")
					for _, m := range resp.GetMemberships() {
						t.add(m.GetMember(), yesNo(m.GetImplicit()), ts(m.GetCreateTime()))
					}
					return t
				})
			})
		},
	}
	pageFlags(mem, &members.PageSize, &members.PageToken)

	add := &cobra.Command{
		Use: "add-member GROUP MEMBER", Short: "Add a user or robot account to a group", Args: nArgs(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := a.orgName()
			if err != nil {
				return err
			}
			grp, member := expand(org, "groups", args[0]), a.principal(org, args[1])
			return a.dirCall(cmd, func(dir directoryv1.DirectoryServiceClient, ctx ctxCall) error {
				m, err := dir.AddGroupMember(ctx, &directoryv1.AddGroupMemberRequest{Group: grp, Member: member})
				if err != nil {
					return err
				}
				return a.render(m, func() *table { t := newTable("GROUP", "MEMBER"); t.add(m.GetGroup(), m.GetMember()); return t })
			})
		},
	}
	rm := &cobra.Command{
		Use: "remove-member GROUP MEMBER", Short: "Remove a member from a group", Args: nArgs(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := a.orgName()
			if err != nil {
				return err
			}
			grp, member := expand(org, "groups", args[0]), a.principal(org, args[1])
			return a.dirCall(cmd, func(dir directoryv1.DirectoryServiceClient, ctx ctxCall) error {
				resp, err := dir.RemoveGroupMember(ctx, &directoryv1.RemoveGroupMemberRequest{Group: grp, Member: member})
				return a.done(resp, err, "Removed "+member+" from "+grp+".")
			})
		},
	}
	cmd.AddCommand(ls, mk, mem, add, rm)
	return cmd
}

func (a *app) departmentsCommand() *cobra.Command {
	cmd := group("departments", "List and create departments", "department", "depts")
	table1 := func(ds ...*directoryv1.Department) *table {
		t := newTable("ID", "DISPLAY NAME", "PARENT", "ROOT")
		for _, d := range ds {
			t.add(last(d.GetName()), d.GetDisplayName(), last(d.GetParentDepartment()), yesNo(d.GetRoot()))
		}
		return t
	}
	var list directoryv1.ListDepartmentsRequest
	ls := &cobra.Command{
		Use: "list [--parent DEPT]", Short: "List departments", Aliases: []string{"ls"}, Args: nArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			org, err := a.orgName()
			if err != nil {
				return err
			}
			list.Parent = org
			if list.ParentDepartment != "" {
				list.ParentDepartment = expand(org, "departments", list.ParentDepartment)
			}
			return a.dirCall(cmd, func(dir directoryv1.DirectoryServiceClient, ctx ctxCall) error {
				resp, err := dir.ListDepartments(ctx, &list)
				if err != nil {
					return err
				}
				defer a.morePages(resp.GetNextPageToken())
				return a.render(resp, func() *table { return table1(resp.GetDepartments()...) })
			})
		},
	}
	ls.Flags().StringVar(&list.ParentDepartment, "parent", "", "only the children of this department")
	pageFlags(ls, &list.PageSize, &list.PageToken)

	var d directoryv1.Department
	mk := &cobra.Command{
		Use: "create ID [--display-name NAME] [--parent DEPT]", Short: "Create a department", Args: nArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := a.orgName()
			if err != nil {
				return err
			}
			if d.DisplayName == "" {
				d.DisplayName = args[0]
			}
			if d.ParentDepartment != "" {
				d.ParentDepartment = expand(org, "departments", d.ParentDepartment)
			}
			return a.dirCall(cmd, func(dir directoryv1.DirectoryServiceClient, ctx ctxCall) error {
				resp, err := dir.CreateDepartment(ctx, &directoryv1.CreateDepartmentRequest{Parent: org, DepartmentId: args[0], Department: &d})
				if err != nil {
					return err
				}
				return a.render(resp, func() *table { return table1(resp) })
			})
		},
	}
	mk.Flags().StringVar(&d.DisplayName, "display-name", "", "display name (default: the ID)")
	mk.Flags().StringVar(&d.ParentDepartment, "parent", "", "parent department (default: the root department)")
	cmd.AddCommand(ls, mk)
	return cmd
}

func (a *app) robotsCommand() *cobra.Command {
	cmd := group("robots", "List and create robots (machines that run automations)", "robot")
	table1 := func(rs ...*directoryv1.Robot) *table {
		t := newTable("ID", "DISPLAY NAME", "MACHINE", "ROBOT ACCOUNT")
		for _, r := range rs {
			t.add(last(r.GetName()), r.GetDisplayName(), r.GetMachineName(), r.GetRobotAccount())
		}
		return t
	}
	var list directoryv1.ListRobotsRequest
	ls := &cobra.Command{
		Use: "list [--query TEXT]", Short: "List robots", Aliases: []string{"ls"}, Args: nArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			org, err := a.orgName()
			if err != nil {
				return err
			}
			list.Parent = org
			return a.dirCall(cmd, func(dir directoryv1.DirectoryServiceClient, ctx ctxCall) error {
				resp, err := dir.ListRobots(ctx, &list)
				if err != nil {
					return err
				}
				defer a.morePages(resp.GetNextPageToken())
				return a.render(resp, func() *table { return table1(resp.GetRobots()...) })
			})
		},
	}
	ls.Flags().StringVar(&list.Query, "query", "", "match the display or machine name")
	pageFlags(ls, &list.PageSize, &list.PageToken)

	var r directoryv1.Robot
	mk := &cobra.Command{
		Use: "create ID --machine-name NAME [--display-name NAME] [--description TEXT]", Short: "Create a robot (and its robot account)", Args: nArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := a.orgName()
			if err != nil {
				return err
			}
			if r.DisplayName == "" {
				r.DisplayName = args[0]
			}
			return a.dirCall(cmd, func(dir directoryv1.DirectoryServiceClient, ctx ctxCall) error {
				resp, err := dir.CreateRobot(ctx, &directoryv1.CreateRobotRequest{Parent: org, RobotId: args[0], Robot: &r})
				if err != nil {
					return err
				}
				return a.render(resp, func() *table { return table1(resp) })
			})
		},
	}
	mk.Flags().StringVar(&r.DisplayName, "display-name", "", "display name (default: the ID)")
	mk.Flags().StringVar(&r.MachineName, "machine-name", "", "the machine's name")
	mk.Flags().StringVar(&r.Description, "description", "", "description")
	cmd.AddCommand(ls, mk)
	return cmd
}

func (a *app) robotAccountsCommand() *cobra.Command {
	cmd := group("robot-accounts", "List and create robot accounts (the principals of robots and API keys)", "robot-account")
	table1 := func(rs ...*directoryv1.RobotAccount) *table {
		t := newTable("ID", "DISPLAY NAME", "ROBOT", "DESCRIPTION")
		for _, r := range rs {
			t.add(last(r.GetName()), r.GetDisplayName(), last(r.GetRobot()), r.GetDescription())
		}
		return t
	}
	var list directoryv1.ListRobotAccountsRequest
	ls := &cobra.Command{
		Use: "list [--query TEXT]", Short: "List robot accounts", Aliases: []string{"ls"}, Args: nArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			org, err := a.orgName()
			if err != nil {
				return err
			}
			list.Parent = org
			return a.dirCall(cmd, func(dir directoryv1.DirectoryServiceClient, ctx ctxCall) error {
				resp, err := dir.ListRobotAccounts(ctx, &list)
				if err != nil {
					return err
				}
				defer a.morePages(resp.GetNextPageToken())
				return a.render(resp, func() *table { return table1(resp.GetRobotAccounts()...) })
			})
		},
	}
	ls.Flags().StringVar(&list.Query, "query", "", "match the display name")
	pageFlags(ls, &list.PageSize, &list.PageToken)

	var r directoryv1.RobotAccount
	mk := &cobra.Command{
		Use: "create ID [--display-name NAME] [--description TEXT]", Short: "Create a robot account", Args: nArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := a.orgName()
			if err != nil {
				return err
			}
			if r.DisplayName == "" {
				r.DisplayName = args[0]
			}
			return a.dirCall(cmd, func(dir directoryv1.DirectoryServiceClient, ctx ctxCall) error {
				resp, err := dir.CreateRobotAccount(ctx, &directoryv1.CreateRobotAccountRequest{Parent: org, RobotAccountId: args[0], RobotAccount: &r})
				if err != nil {
					return err
				}
				return a.render(resp, func() *table { return table1(resp) })
			})
		},
	}
	mk.Flags().StringVar(&r.DisplayName, "display-name", "", "display name (default: the ID)")
	mk.Flags().StringVar(&r.Description, "description", "", "description")
	cmd.AddCommand(ls, mk)
	return cmd
}

// keyOwner expands the owner of API keys: a bare ID is a robot account.
func (a *app) keyOwner(s string) (string, error) { return a.resolve("robotAccounts", s) }

func (a *app) apiKeysCommand() *cobra.Command {
	cmd := group("api-keys", "Create, list and revoke the API keys of robot accounts and external apps", "api-key")
	table1 := func(ks ...*directoryv1.ApiKey) *table {
		t := newTable("NAME", "DISPLAY NAME", "PREFIX", "CREATED", "EXPIRES", "LAST USED", "REVOKED")
		for _, k := range ks {
			t.add(k.GetName(), k.GetDisplayName(), k.GetPrefix(), ts(k.GetCreateTime()), ts(k.GetExpireTime()), ts(k.GetLastUsedTime()), ts(k.GetRevokeTime()))
		}
		return t
	}
	var list directoryv1.ListApiKeysRequest
	ls := &cobra.Command{
		Use: "list OWNER [--show-revoked]", Short: "List the API keys of a robot account (ID) or external app (externalApps/ID)", Aliases: []string{"ls"}, Args: nArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			owner, err := a.keyOwner(args[0])
			if err != nil {
				return err
			}
			list.Parent = owner
			return a.dirCall(cmd, func(dir directoryv1.DirectoryServiceClient, ctx ctxCall) error {
				resp, err := dir.ListApiKeys(ctx, &list)
				if err != nil {
					return err
				}
				defer a.morePages(resp.GetNextPageToken())
				return a.render(resp, func() *table { return table1(resp.GetApiKeys()...) })
			})
		},
	}
	ls.Flags().BoolVar(&list.ShowRevoked, "show-revoked", false, "include revoked keys")
	pageFlags(ls, &list.PageSize, &list.PageToken)

	var displayName string
	var expiresIn time.Duration
	mk := &cobra.Command{
		Use: "create OWNER --display-name NAME [--expires-in DURATION]", Short: "Create an API key and print its secret (shown only once)", Args: nArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			owner, err := a.keyOwner(args[0])
			if err != nil {
				return err
			}
			if displayName == "" {
				return usageErrorf("--display-name is required")
			}
			key := &directoryv1.ApiKey{DisplayName: displayName}
			if expiresIn > 0 {
				key.ExpireTime = timestamppb.New(a.now().Add(expiresIn))
			}
			return a.dirCall(cmd, func(dir directoryv1.DirectoryServiceClient, ctx ctxCall) error {
				resp, err := dir.CreateApiKey(ctx, &directoryv1.CreateApiKeyRequest{Parent: owner, ApiKey: key})
				if err != nil {
					return err
				}
				if a.output == formatJSON {
					return writeJSON(a.stdout, resp)
				}
				if err := table1(resp.GetApiKey()).write(a.stdout); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "\nsecret: %s\n", resp.GetSecret())
				fmt.Fprintln(a.stderr, "Keep the secret now: it is shown only once. Send it as \"authorization: Bearer <secret>\" (or steward --token).")
				return nil
			})
		},
	}
	mk.Flags().StringVar(&displayName, "display-name", "", "label of the key (required)")
	mk.Flags().DurationVar(&expiresIn, "expires-in", 0, "expire the key after this long, e.g. 720h (default: never)")

	rev := &cobra.Command{
		Use: "revoke KEY", Short: "Revoke an API key (its full name, as api-keys list shows it)", Args: nArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := a.resolve("", args[0])
			if err != nil {
				return err
			}
			if !strings.Contains(name, "/apiKeys/") {
				return usageErrorf("KEY is a key's name, e.g. robotAccounts/ID/apiKeys/KEY")
			}
			return a.dirCall(cmd, func(dir directoryv1.DirectoryServiceClient, ctx ctxCall) error {
				resp, err := dir.RevokeApiKey(ctx, &directoryv1.RevokeApiKeyRequest{Name: name})
				if err != nil {
					return err
				}
				return a.render(resp, func() *table { return table1(resp) })
			})
		},
	}
	cmd.AddCommand(ls, mk, rev)
	return cmd
}

// nicknameOf proposes a nickname for an email: its local part, kept to the
// characters and length a nickname allows.
func nicknameOf(email string) string {
	local, _, _ := strings.Cut(email, "@")
	var b strings.Builder
	for _, r := range local {
		if b.Len() == 16 {
			break
		}
		if r < 0x80 && (r == '.' || r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			b.WriteRune(r)
		}
	}
	return b.String()
}
