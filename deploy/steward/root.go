package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"steward.dev/deploy/steward/internal/config"
)

// Default addresses: those of `make run`.
const (
	defaultDirectory = "127.0.0.1:7001"
	defaultAccess    = "127.0.0.1:7002"
	defaultLicensing = "127.0.0.1:7003"
	defaultAudit     = "127.0.0.1:7004"
)

// envPrefix prefixes the environment variables that set the global flags.
const envPrefix = "STEWARD_"

// app is one run of the command: its streams, global flags, config and
// connections.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	now            func() time.Time
	getenv         func(string) string

	// Global flags.
	server, access, licensing, audit string
	org, output, configPath, token   string
	timeout                          time.Duration

	cfg   *config.Config
	conns map[string]*grpc.ClientConn
}

// newApp returns an app reading and writing the given streams.
func newApp(stdin io.Reader, stdout, stderr io.Writer) *app {
	return &app{stdin: stdin, stdout: stdout, stderr: stderr, now: time.Now, getenv: os.Getenv, conns: map[string]*grpc.ClientConn{}}
}

// run executes the command line args and returns the exit code, having
// printed any error to stderr.
func (a *app) run(args []string) int {
	defer a.close()
	root := a.rootCommand()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return ExitOK
	}
	describe(a.stderr, err)
	code := ExitCode(err)
	if code == ExitUsage {
		fmt.Fprintln(a.stderr, "Run 'steward --help' (or 'steward COMMAND --help') for usage.")
	}
	return code
}

func (a *app) close() {
	for _, c := range a.conns {
		c.Close()
	}
}

// rootCommand builds the command tree.
func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "steward",
		Short: "Steward's command line: directory, access, licensing and audit over gRPC",
		Long: `steward talks to Steward's services over gRPC with the generated clients.

Start with 'steward login --org ORG --email EMAIL'; the session (organization,
addresses, access token and its expiry) is kept in
$XDG_CONFIG_HOME/steward/config.json (mode 0600). Every global flag can also
be set by an environment variable (STEWARD_SERVER, STEWARD_ACCESS, ...), which
a flag on the command line overrides; addresses not given either way are
those of the last login, else the defaults of 'make run'.

Names: where a command takes a user, group, scope or other object, give its
resource name ("organizations/acme/users/ann"), a name relative to the
organization ("users/ann", "tenants/t1/services/s1"), or a bare ID where the
kind is plain ("ann" for a user). A scope left out, "" or "." is the
organization itself.

Output: tables for people; '-o json' prints the server's response as
protojson, for scripts.

` + exitCodesHelp,
		SilenceUsage:      true,
		SilenceErrors:     true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error { return a.setup(cmd) },
		Args:              cobra.NoArgs,
		RunE:              func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErrorf("%v", err) })

	pf := root.PersistentFlags()
	pf.StringVar(&a.server, "server", defaultDirectory, "directory service address")
	pf.StringVar(&a.access, "access", defaultAccess, "access service address")
	pf.StringVar(&a.licensing, "licensing", defaultLicensing, "licensing service address")
	pf.StringVar(&a.audit, "audit", defaultAudit, "audit service address")
	pf.StringVar(&a.org, "org", "", "organization ID or name (default: the one logged in to)")
	pf.StringVarP(&a.output, "output", "o", formatTable, "output format: table or json")
	pf.StringVar(&a.configPath, "config", "", "config file (default: the user config directory's steward/config.json)")
	pf.StringVar(&a.token, "token", "", "credential to send instead of the login's token: an access token or API key")
	pf.DurationVar(&a.timeout, "timeout", 30*time.Second, "deadline of each call")
	pf.VisitAll(func(f *pflag.Flag) { f.Usage += " (env " + envName(f.Name) + ")" })
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{formatTable, formatJSON}, cobra.ShellCompDirectiveNoFileComp))

	root.AddCommand(
		a.loginCommand(), a.logoutCommand(), a.whoamiCommand(),
		a.usersCommand(), a.groupsCommand(), a.departmentsCommand(),
		a.robotsCommand(), a.robotAccountsCommand(), a.apiKeysCommand(),
		a.rolesCommand(), a.assignmentsCommand(),
		a.checkCommand(), a.explainCommand(), a.whoCanCommand(), a.whereCanCommand(),
		a.licensesCommand(), a.leasesCommand(),
		a.auditCommand(),
	)
	return root
}

// envName is the environment variable of the global flag name:
// STEWARD_SERVER for "server".
func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// setup applies the environment and the config file to the global flags
// not given on the command line, and checks the output format.
func (a *app) setup(cmd *cobra.Command) error {
	var errs []string
	cmd.Root().PersistentFlags().VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		if v := a.getenv(envName(f.Name)); v != "" {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Sprintf("%s=%q: %v", envName(f.Name), v, err))
			}
			f.Changed = true
		}
	})
	if len(errs) > 0 {
		return usageErrorf("%s", strings.Join(errs, "; "))
	}
	if a.output != formatTable && a.output != formatJSON {
		return usageErrorf("-o %q: want table or json", a.output)
	}
	if a.configPath == "" {
		p, err := config.DefaultPath()
		if err != nil {
			return localError(err)
		}
		a.configPath = p
	}
	cfg, err := config.Load(a.configPath)
	if err != nil {
		return localError(err)
	}
	a.cfg = cfg
	pf := cmd.Root().PersistentFlags()
	for flag, saved := range map[string]string{"server": cfg.Directory, "access": cfg.Access, "licensing": cfg.Licensing, "audit": cfg.Audit} {
		if f := pf.Lookup(flag); f != nil && !f.Changed && saved != "" {
			_ = f.Value.Set(saved)
		}
	}
	return nil
}

// orgName returns the organization's resource name: --org (an ID or a
// name), else the login's.
func (a *app) orgName() (string, error) {
	o := a.org
	if o == "" && a.cfg != nil {
		o = a.cfg.Organization
	}
	if o == "" && a.token == "" && (a.cfg == nil || a.cfg.AccessToken == "") {
		return "", errNotLoggedIn
	}
	if o == "" {
		return "", usageErrorf("no organization: pass --org ORG or run `steward login`")
	}
	if !strings.HasPrefix(o, "organizations/") {
		o = "organizations/" + o
	}
	return o, nil
}

// resolve expands a name given on the command line: a resource name stays
// as it is ("organizations/..."), a relative name ("users/ann") is put under
// the organization, and a bare ID gets kind ("ann" -> ".../users/ann").
func (a *app) resolve(kind, s string) (string, error) {
	org, err := a.orgName()
	if err != nil {
		return "", err
	}
	return expand(org, kind, s), nil
}

// expand is resolve with the organization given.
func expand(org, kind, s string) string {
	switch {
	case strings.HasPrefix(s, "organizations/"):
		return s
	case strings.Contains(s, "/"):
		return org + "/" + s
	case kind == "":
		return org + "/" + s
	default:
		return org + "/" + kind + "/" + s
	}
}

// principal expands a principal: "me" is the logged-in user, a bare ID is
// a user, others as resolve.
func (a *app) principal(org, s string) string {
	if s == "me" && a.cfg != nil && a.cfg.Principal != "" {
		return a.cfg.Principal
	}
	return expand(org, "users", s)
}

// scope expands a scope: "", "." or the organization's ID mean the
// organization; others as resolve without a kind.
func (a *app) scope(s string) (string, error) {
	org, err := a.orgName()
	if err != nil {
		return "", err
	}
	return expandScope(org, s), nil
}

// expandScope is scope with the organization given.
func expandScope(org, s string) string {
	if s == "" || s == "." || s == strings.TrimPrefix(org, "organizations/") {
		return org
	}
	return expand(org, "", s)
}

// role expands a role: a bare ID is a built-in role ("roles/ID"), "roles/ID"
// stays, and a custom role is "organizations/ORG/roles/ID".
func role(s string) string {
	if strings.Contains(s, "/") {
		return s
	}
	return "roles/" + s
}

// call returns a context for one authenticated call: the deadline of
// --timeout and "authorization: Bearer <token>", from --token or the login.
func (a *app) call(cmd *cobra.Command) (context.Context, context.CancelFunc, error) {
	tok := a.token
	if tok == "" {
		switch {
		case a.cfg == nil || a.cfg.AccessToken == "":
			return nil, nil, errNotLoggedIn
		case !a.cfg.LoggedIn(a.now()):
			return nil, nil, &exitError{code: ExitDenied, err: fmt.Errorf("the session expired at %s: run `steward login`", a.cfg.ExpireTime.Local().Format(time.RFC3339))}
		}
		tok = a.cfg.AccessToken
	}
	ctx, cancel := a.publicCall(cmd)
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok), cancel, nil
}

// publicCall returns a context for an unauthenticated call (SignIn).
func (a *app) publicCall(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), a.timeout)
}

// conn returns the (lazily made) connection to addr.
func (a *app) conn(addr string) (*grpc.ClientConn, error) {
	if c, ok := a.conns[addr]; ok {
		return c, nil
	}
	c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, usageErrorf("address %q: %v", addr, err)
	}
	a.conns[addr] = c
	return c, nil
}

// withClient runs one authenticated call of a command: run gets the client
// newClient makes on the connection to addr, and the call's context.
func withClient[C any](a *app, cmd *cobra.Command, addr string, newClient func(grpc.ClientConnInterface) C, run func(C, ctxCall) error) error {
	c, err := a.conn(addr)
	if err != nil {
		return err
	}
	ctx, cancel, err := a.call(cmd)
	if err != nil {
		return err
	}
	defer cancel()
	return run(newClient(c), ctx)
}

// render prints m: protojson with -o json, else the table t builds.
func (a *app) render(m proto.Message, t func() *table) error {
	if a.output == formatJSON {
		return writeJSON(a.stdout, m)
	}
	return t().write(a.stdout)
}

// morePages tells a person, on stderr, how to ask for the next page.
func (a *app) morePages(token string) {
	if token != "" && a.output != formatJSON {
		fmt.Fprintf(a.stderr, "(more results: repeat with --page-token %s)\n", token)
	}
}

// group returns a command that only holds subcommands: run with an unknown
// subcommand it is a usage error.
func group(use, short string, aliases ...string) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Aliases: aliases,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return cmd.Help()
		},
	}
}

// nArgs checks the number of positional arguments: between min and max.
func nArgs(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < min || len(args) > max {
			if min == max {
				return usageErrorf("%s takes %d argument(s), got %d: %s", cmd.CommandPath(), min, len(args), cmd.Use)
			}
			return usageErrorf("%s takes %d to %d arguments, got %d: %s", cmd.CommandPath(), min, max, len(args), cmd.Use)
		}
		return nil
	}
}

// pageFlags adds --page-size and --page-token to a list command.
func pageFlags(cmd *cobra.Command, size *int32, token *string) {
	cmd.Flags().Int32Var(size, "page-size", 0, "results per page (0: the server's default)")
	cmd.Flags().StringVar(token, "page-token", "", "page to show, from a previous answer")
}

// ctxCall is the context of one call, with its deadline and credential.
type ctxCall = context.Context
