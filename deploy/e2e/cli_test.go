//go:build e2e

package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// stewardCLI runs the real steward binary (from STEWARD_BIN) against a
// suite, as a person would: with its own HOME and XDG_CONFIG_HOME.
type stewardCLI struct {
	t    *testing.T
	bin  string
	home string
	env  []string
}

// newCLI returns a steward command line for s with a fresh home directory.
func (s *suite) newCLI(t *testing.T) *stewardCLI {
	t.Helper()
	bin := filepath.Join(os.Getenv("STEWARD_BIN"), "steward")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%v: build it with make build", err)
	}
	home := t.TempDir()
	env := []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "PATH=" + os.Getenv("PATH"),
		"STEWARD_SERVER=" + s.addrs["directory"], "STEWARD_ACCESS=" + s.addrs["access"],
		"STEWARD_LICENSING=" + s.addrs["licensing"], "STEWARD_AUDIT=" + s.addrs["audit"]}
	return &stewardCLI{t: t, bin: bin, home: home, env: env}
}

// run runs steward with args and stdin, and returns its exit code and output.
func (c *stewardCLI) run(stdin string, args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = c.env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		c.t.Fatalf("steward %s: %v", strings.Join(args, " "), err)
	}
	return code, out.String(), errb.String()
}

// must runs steward and fails the test unless it exits with want.
func (c *stewardCLI) must(want int, stdin string, args ...string) (stdout, stderr string) {
	c.t.Helper()
	code, stdout, stderr := c.run(stdin, args...)
	if code != want {
		c.t.Fatalf("steward %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, stdout, stderr)
	}
	return stdout, stderr
}

// TestCLI is issue 15's command-line client against the real suite: login
// with --password-stdin (the token kept 0600), users create and list (the
// JSON parsed), check allowed and denied, who-can, a command the signed-in
// user may not run (exit 3, the missing permission in words), a wrong
// password, and the audit log searched and verified.
func TestCLI(t *testing.T) {
	s := launch(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := s.signUpOrg(ctx, "cli")
	owner := s.newCLI(t)

	owner.must(0, o.password+"\n", "login", "--org", "cli", "--email", o.email, "--password-stdin")
	fi, err := os.Stat(filepath.Join(owner.home, ".config", "steward", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("config file mode %#o, want 0600", fi.Mode().Perm())
	}
	who, _ := owner.must(0, "", "whoami")
	if !strings.Contains(who, o.owner) {
		t.Errorf("whoami =\n%s\nwant %s", who, o.owner)
	}

	const annPassword = "ann's long enough password"
	owner.must(0, annPassword+"\n", "users", "create", "--email", "ann@cli.example", "--id", "ann", "--password-stdin")
	out, _ := owner.must(0, "", "users", "list", "-o", "json")
	var users struct {
		Users []struct{ Name, Email, State string }
	}
	if err := json.Unmarshal([]byte(out), &users); err != nil {
		t.Fatalf("users list -o json: %v\n%s", err, out)
	}
	var names []string
	for _, u := range users.Users {
		names = append(names, u.Name)
	}
	ann := o.org + "/users/ann"
	if !slices.Contains(names, ann) || !slices.Contains(names, o.owner) {
		t.Errorf("users list -o json names %q, want ann and the owner", names)
	}
	table, _ := owner.must(0, "", "users", "list")
	if !strings.HasPrefix(table, "ID ") || !strings.Contains(table, "ann@cli.example") {
		t.Errorf("users list =\n%s", table)
	}

	s.awaitAllowed(ctx, ann, "users.view", o.org) // access follows the directory asynchronously
	if out, _ := owner.must(0, "", "check", "ann", "users.view"); !strings.Contains(out, "allowed") {
		t.Errorf("check ann users.view =\n%s", out)
	}
	if out, _ := owner.must(6, "", "check", "ann", "users.create", "--explain"); !strings.Contains(out, "denied") || !strings.Contains(out, "roles/organization-administrator") {
		t.Errorf("check ann users.create --explain =\n%s\nwant denied and the role that would grant it", out)
	}
	out, _ = owner.must(0, "", "who-can", "users.create", "-o", "json")
	var holders struct{ Holders []struct{ Principal string } }
	if err := json.Unmarshal([]byte(out), &holders); err != nil || len(holders.Holders) == 0 || holders.Holders[0].Principal != o.owner {
		t.Errorf("who-can users.create -o json: %v, %+v, want the owner alone", err, holders)
	}
	if out, _ := owner.must(0, "", "who-can", "users.create"); !strings.Contains(out, "Owner at "+o.org) {
		t.Errorf("who-can users.create =\n%s\nwant the owner through Owner", out)
	}

	// Ann may not create users: exit 3, and the missing permission in words.
	annCLI := s.newCLI(t)
	annCLI.must(0, annPassword+"\n", "login", "--org", "cli", "--email", "ann@cli.example", "--password-stdin")
	_, stderr := annCLI.must(3, "", "users", "create", "--email", "zed@cli.example")
	if !strings.Contains(stderr, "missing permission: users.create on "+o.org) {
		t.Errorf("ann's users create: stderr\n%s\nwant the missing permission", stderr)
	}
	if _, stderr := annCLI.must(3, "wrong password\n", "login", "--org", "cli", "--email", "ann@cli.example", "--password-stdin"); !strings.Contains(stderr, "INVALID_CREDENTIALS") {
		t.Errorf("wrong password: stderr\n%s", stderr)
	}
	owner.must(2, "", "users", "get", "nobody")

	// The audit log has ann's creation (audit ingests asynchronously).
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, _ := owner.must(0, "", "audit", "search", "--filter", `action = "user.created"`, "-o", "json")
		if strings.Contains(out, ann) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit search: no directory.user.created event for ann after 15s:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if out, _ := owner.must(0, "", "audit", "search"); !strings.Contains(out, "directory.user.created") {
		t.Errorf("audit search =\n%s", out)
	}
	if out, _ := owner.must(0, "", "audit", "verify"); !strings.HasPrefix(strings.SplitN(out, "\n", 2)[1], "ok ") {
		t.Errorf("audit verify =\n%s", out)
	}
	csv := filepath.Join(t.TempDir(), "audit.csv")
	owner.must(0, "", "audit", "export", "-f", csv)
	if b, err := os.ReadFile(csv); err != nil || !strings.Contains(string(b), "directory.user.created") {
		t.Errorf("audit export: %v\n%s", err, b)
	}
	owner.must(0, "", "logout")
	owner.must(3, "", "users", "list")
}
