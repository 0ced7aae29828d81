package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"google.golang.org/grpc/status"

	directoryv1 "steward.dev/gen/steward/directory/v1"
)

func (a *app) loginCommand() *cobra.Command {
	var email, totp string
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "login --org ORG --email EMAIL [--password-stdin] [--totp CODE]",
		Short: "Sign in with a password (and a TOTP code) and keep the token",
		Long: `login signs in to the organization with email and password (SignIn) and keeps
the access token, its expiry, the organization and the services' addresses in
the config file (mode 0600).

The password is asked for without echo on a terminal, or read from the first
line of standard input with --password-stdin. When the account needs a TOTP
code, give it with --totp, or type it when asked.`,
		Example: `  steward login --org acme --email ada@acme.example
  printf '%s\n' "$PASSWORD" | steward login --org acme --email ada@acme.example --password-stdin --totp 123456`,
		Args: nArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			org, err := a.orgName()
			if err != nil {
				return err
			}
			if email == "" {
				email = a.cfg.Email
			}
			if email == "" {
				return usageErrorf("--email is required")
			}
			var password string
			switch {
			case passwordStdin:
				password, err = readLine(a.stdin)
				if err != nil {
					return localError(fmt.Errorf("reading the password from standard input: %w", err))
				}
			case a.stdinTTY():
				password, err = a.prompt("Password for "+email+": ", true)
				if err != nil {
					return err
				}
			default:
				return usageErrorf("standard input is not a terminal: pass the password with --password-stdin")
			}
			if password == "" {
				return usageErrorf("empty password")
			}
			conn, err := a.conn(a.server)
			if err != nil {
				return err
			}
			dir := directoryv1.NewDirectoryServiceClient(conn)
			signIn := func(code string) (*directoryv1.SignInResponse, error) {
				ctx, cancel := a.publicCall(cmd)
				defer cancel()
				return dir.SignIn(ctx, &directoryv1.SignInRequest{Organization: org, Credential: &directoryv1.SignInRequest_Password{
					Password: &directoryv1.PasswordCredential{Email: email, Password: password, TotpCode: code}}})
			}
			resp, err := signIn(totp)
			if st, ok := status.FromError(err); ok && err != nil && totp == "" && reasonOf(st) == "TOTP_REQUIRED" && a.stdinTTY() && !passwordStdin {
				code, perr := a.prompt("TOTP code: ", false)
				if perr != nil {
					return perr
				}
				resp, err = signIn(code)
			}
			if err != nil {
				return err
			}
			cfg := a.cfg
			cfg.Organization, cfg.Principal, cfg.Email = org, resp.GetPrincipal(), email
			cfg.Directory, cfg.Access, cfg.Licensing, cfg.Audit = a.server, a.access, a.licensing, a.audit
			cfg.AccessToken, cfg.ExpireTime = resp.GetAccessToken(), resp.GetExpireTime().AsTime()
			if err := cfg.Save(a.configPath); err != nil {
				return localError(err)
			}
			fmt.Fprintf(a.stderr, "Logged in to %s as %s; the token expires at %s.\n", org, resp.GetPrincipal(),
				cfg.ExpireTime.Local().Format(time.RFC3339))
			if resp.GetTotpEnrollmentRequired() {
				fmt.Fprintln(a.stderr, "This account needs a TOTP authenticator: until it is enrolled the token is good only for enrolling it.")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&email, "email", "", "email of the account (default: the last login's)")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of standard input")
	cmd.Flags().StringVar(&totp, "totp", "", "current TOTP code, for accounts with MFA")
	return cmd
}

func (a *app) logoutCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Forget the access token (the organization and addresses stay)",
		Args:  nArgs(0, 0),
		RunE: func(*cobra.Command, []string) error {
			a.cfg.Logout()
			if err := a.cfg.Save(a.configPath); err != nil {
				return localError(err)
			}
			fmt.Fprintln(a.stderr, "Logged out.")
			return nil
		},
	}
}

func (a *app) whoamiCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show the organization, user and token expiry of the login",
		Args:  nArgs(0, 0),
		RunE: func(*cobra.Command, []string) error {
			if a.cfg.AccessToken == "" {
				return errNotLoggedIn
			}
			state := "valid"
			if !a.cfg.LoggedIn(a.now()) {
				state = "expired"
			}
			t := newTable("ORGANIZATION", "PRINCIPAL", "EMAIL", "EXPIRES", "TOKEN")
			t.add(a.cfg.Organization, a.cfg.Principal, a.cfg.Email, a.cfg.ExpireTime.UTC().Format(time.RFC3339), state)
			if a.output == formatJSON {
				fmt.Fprintf(a.stdout, "{\n  \"organization\": %q,\n  \"principal\": %q,\n  \"email\": %q,\n  \"expireTime\": %q,\n  \"expired\": %t\n}\n",
					a.cfg.Organization, a.cfg.Principal, a.cfg.Email, a.cfg.ExpireTime.UTC().Format(time.RFC3339), state == "expired")
				return nil
			}
			return t.write(a.stdout)
		},
	}
}

// stdinTTY reports whether standard input is a terminal.
func (a *app) stdinTTY() bool {
	f, ok := a.stdin.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// prompt asks on stderr and reads a line from the terminal, without echo
// when secret.
func (a *app) prompt(question string, secret bool) (string, error) {
	fmt.Fprint(a.stderr, question)
	if secret {
		f := a.stdin.(*os.File)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.stderr)
		if err != nil {
			return "", localError(err)
		}
		return string(b), nil
	}
	s, err := readLine(a.stdin)
	return s, localError(err)
}

// readLine reads one line from r, without its line ending. It reads a byte
// at a time so that nothing after the line is consumed.
func readLine(r io.Reader) (string, error) {
	var b strings.Builder
	buf := make([]byte, 1)
	for {
		n, err := r.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				break
			}
			b.WriteByte(buf[0])
		}
		if errors.Is(err, io.EOF) {
			if b.Len() == 0 {
				return "", io.ErrUnexpectedEOF
			}
			break
		}
		if err != nil {
			return "", err
		}
	}
	return strings.TrimSuffix(b.String(), "\r"), nil
}
