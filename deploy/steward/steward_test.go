package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"steward.dev/deploy/steward/internal/config"
	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
)

// withDetails returns a status error with code, message and details.
func withDetails(t *testing.T, c codes.Code, msg string, details ...*errdetails.ErrorInfo) error {
	t.Helper()
	st := status.New(c, msg)
	for _, d := range details {
		var err error
		if st, err = st.WithDetails(d); err != nil {
			t.Fatal(err)
		}
	}
	return st.Err()
}

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, ExitOK},
		{"usage", usageErrorf("bad"), ExitUsage},
		{"cobra's own error", errors.New(`unknown command "x" for "steward"`), ExitUsage},
		{"not logged in", errNotLoggedIn, ExitDenied},
		{"local failure", localError(errors.New("disk full")), ExitUnavailable},
		{"check denied", &exitError{code: ExitCheckDenied, err: errCheckDenied}, ExitCheckDenied},
		{"wrapped status", fmt.Errorf("calling: %w", status.Error(codes.NotFound, "x")), ExitNotFound},
		{"NotFound", status.Error(codes.NotFound, "x"), ExitNotFound},
		{"Unauthenticated", status.Error(codes.Unauthenticated, "x"), ExitDenied},
		{"PermissionDenied", status.Error(codes.PermissionDenied, "x"), ExitDenied},
		{"InvalidArgument", status.Error(codes.InvalidArgument, "x"), ExitRefused},
		{"FailedPrecondition", status.Error(codes.FailedPrecondition, "x"), ExitRefused},
		{"AlreadyExists", status.Error(codes.AlreadyExists, "x"), ExitRefused},
		{"Aborted", status.Error(codes.Aborted, "x"), ExitRefused},
		{"OutOfRange", status.Error(codes.OutOfRange, "x"), ExitRefused},
		{"Unavailable", status.Error(codes.Unavailable, "x"), ExitUnavailable},
		{"DeadlineExceeded", status.Error(codes.DeadlineExceeded, "x"), ExitUnavailable},
		{"ResourceExhausted", status.Error(codes.ResourceExhausted, "x"), ExitUnavailable},
		{"Internal", status.Error(codes.Internal, "x"), ExitUnavailable},
		{"Unknown", status.Error(codes.Unknown, "x"), ExitUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ExitCode(tc.err); got != tc.want {
				t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	denied := withDetails(t, codes.PermissionDenied, `permission denied: organizations/o/users/bob lacks users.create on "organizations/o"`,
		&errdetails.ErrorInfo{Reason: "PERMISSION_DENIED", Domain: "steward.dev", Metadata: map[string]string{"permission": "users.create", "scope": "organizations/o"}})
	bad, err := status.New(codes.InvalidArgument, "validation error").WithDetails(
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "user.email", Description: "must be a valid email address"}, {Description: "nickname is required"}}})
	if err != nil {
		t.Fatal(err)
	}
	limited, err := status.New(codes.ResourceExhausted, "too many attempts").WithDetails(
		&errdetails.ErrorInfo{Reason: "TOO_MANY_ATTEMPTS", Domain: "directory.steward.dev"}, &errdetails.RetryInfo{RetryDelay: durationpb.New(3 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		err       error
		want, not []string
	}{
		{"permission denied", denied, []string{"steward: permission denied: organizations/o/users/bob lacks users.create", "missing permission: users.create on organizations/o", "reason: PERMISSION_DENIED (steward.dev)"}, []string{"  permission: users.create"}},
		{"field violations", bad.Err(), []string{"steward: validation error", "invalid user.email: must be a valid email address", "invalid request: nickname is required"}, nil},
		{"retry", limited.Err(), []string{"reason: TOO_MANY_ATTEMPTS", "too many attempts: wait", "retry in 3s"}, nil},
		{"expired token", status.Error(codes.Unauthenticated, "token expired"), []string{"steward: token expired", "run `steward login`"}, nil},
		{"wrong password", withDetails(t, codes.Unauthenticated, "invalid credentials", &errdetails.ErrorInfo{Reason: "INVALID_CREDENTIALS"}), []string{"the email or password is wrong"}, []string{"steward login"}},
		{"unavailable", status.Error(codes.Unavailable, "connection refused"), []string{"steward: connection refused", "is the suite running"}, nil},
		{"local", errNotLoggedIn, []string{"steward: not logged in: run `steward login"}, nil},
		{"silent", &exitError{code: ExitCheckDenied, err: errCheckDenied}, nil, []string{"steward"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			describe(&b, tc.err)
			for _, w := range tc.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("describe wrote\n%s\nwant it to contain %q", b.String(), w)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(b.String(), w) {
					t.Errorf("describe wrote\n%s\nwant it not to contain %q", b.String(), w)
				}
			}
		})
	}
}

func TestTable(t *testing.T) {
	tb := newTable("ID", "NAME", "STATE")
	tb.add("ann", "Ann\tSmith\n\x1b[31m", "")
	tb.add("bo", "Bo")
	var b bytes.Buffer
	if err := tb.write(&b); err != nil {
		t.Fatal(err)
	}
	want := "ID   NAME             STATE\n" +
		"ann  Ann Smith ?[31m  -\n" +
		"bo   Bo               -\n"
	if b.String() != want {
		t.Errorf("table =\n%q\nwant\n%q", b.String(), want)
	}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := writeJSON(&b, &directoryv1.User{Name: "organizations/o/users/ann", State: directoryv1.User_STATE_ACTIVE}); err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"name\": \"organizations/o/users/ann\",\n  \"state\": \"STATE_ACTIVE\"\n}\n"
	if b.String() != want {
		t.Errorf("writeJSON = %q, want %q", b.String(), want)
	}
}

func TestEnumWordAndFields(t *testing.T) {
	if got := enumWord(directoryv1.User_STATE_ACTIVE); got != "active" {
		t.Errorf("enumWord(STATE_ACTIVE) = %q", got)
	}
	if got := enumWord(accessv1.Level_LEVEL_ORGANIZATION); got != "organization" {
		t.Errorf("enumWord(LEVEL_ORGANIZATION) = %q", got)
	}
	if got := enumWord(directoryv1.User_STATE_UNSPECIFIED); got != "" {
		t.Errorf("enumWord(STATE_UNSPECIFIED) = %q, want empty", got)
	}
	u := &directoryv1.User{Name: "organizations/o/users/ann", Email: "ann@o.example", State: directoryv1.User_STATE_INACTIVE,
		CreateTime: timestamppb.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))}
	var b bytes.Buffer
	if err := fields(u).write(&b); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"name         organizations/o/users/ann", "state        inactive", "create_time  2030-01-02T03:04:05Z"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("fields =\n%s\nwant a line %q", b.String(), w)
		}
	}
	if strings.Contains(b.String(), "nickname") {
		t.Errorf("fields shows an empty field:\n%s", b.String())
	}
}

func TestNames(t *testing.T) {
	const org = "organizations/acme"
	for _, tc := range []struct{ kind, in, want string }{
		{"users", "ann", org + "/users/ann"},
		{"users", "groups/ops", org + "/groups/ops"},
		{"users", "organizations/other/users/x", "organizations/other/users/x"},
		{"", "tenants/t1", org + "/tenants/t1"},
	} {
		if got := expand(org, tc.kind, tc.in); got != tc.want {
			t.Errorf("expand(%q, %q) = %q, want %q", tc.kind, tc.in, got, tc.want)
		}
	}
	for in, want := range map[string]string{"": org, ".": org, "acme": org, "tenants/t1/services/s1": org + "/tenants/t1/services/s1", org + "/tenants/t": org + "/tenants/t"} {
		if got := expandScope(org, in); got != want {
			t.Errorf("expandScope(%q) = %q, want %q", in, got, want)
		}
	}
	if got := role("organization-administrator"); got != "roles/organization-administrator" {
		t.Errorf("role = %q", got)
	}
	if got := role(org + "/roles/custom"); got != org+"/roles/custom" {
		t.Errorf("role = %q", got)
	}
	for in, want := range map[string]string{"ann@x.example": "ann", "ann.smith+tag@x": "ann.smithtag", "averyveryverylongname@x": "averyveryverylon", "": ""} {
		if got := nicknameOf(in); got != want {
			t.Errorf("nicknameOf(%q) = %q, want %q", in, got, want)
		}
	}
}

// runCLI runs the command line with config in dir and the given environment.
func runCLI(t *testing.T, dir string, env map[string]string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	a := newApp(strings.NewReader(stdin), &out, &errb)
	a.getenv = func(k string) string {
		if k == "STEWARD_CONFIG" {
			return filepath.Join(dir, "config.json")
		}
		return env[k]
	}
	code = a.run(args)
	return code, out.String(), errb.String()
}

func TestUsageAndLocalErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want int
		says string
	}{
		{[]string{"--help"}, ExitOK, ""},
		{[]string{"users", "list", "--help"}, ExitOK, ""},
		{[]string{"bogus"}, ExitUsage, "unknown command"},
		{[]string{"users", "bogus"}, ExitUsage, "unknown command"},
		{[]string{"users", "list", "--bogus"}, ExitUsage, "unknown flag"},
		{[]string{"check", "ann"}, ExitUsage, "takes 2 to 3 arguments"},
		{[]string{"-o", "yaml", "users", "list"}, ExitUsage, "want table or json"},
		{[]string{"users", "list"}, ExitDenied, "not logged in"},
		{[]string{"--org", "acme", "check", "ann", "users.edit"}, ExitDenied, "not logged in"},
		{[]string{"audit", "export", "--org", "acme", "--format", "xml"}, ExitUsage, "want csv or jsonl"},
		{[]string{"login", "--org", "acme", "--email", "a@b.example"}, ExitUsage, "--password-stdin"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, stderr := runCLI(t, dir, nil, "", tc.args...)
			if code != tc.want || !strings.Contains(stderr, tc.says) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, tc.want, tc.says)
			}
		})
	}
}

// TestExpiredSession: a token past its expiry is not sent; the user is told to log in.
func TestExpiredSession(t *testing.T) {
	dir := t.TempDir()
	cfg := &config.Config{Organization: "organizations/acme", AccessToken: "t", ExpireTime: time.Now().Add(-time.Minute)}
	if err := cfg.Save(filepath.Join(dir, "config.json")); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, dir, nil, "", "users", "list")
	if code != ExitDenied || !strings.Contains(stderr, "session expired") {
		t.Errorf("exit %d, stderr %q; want %d and the session expired", code, stderr, ExitDenied)
	}
}

// fakeDirectory answers SignIn (asking for a TOTP code) and ListUsers.
type fakeDirectory struct {
	directoryv1.UnimplementedDirectoryServiceServer
}

func (fakeDirectory) SignIn(_ context.Context, req *directoryv1.SignInRequest) (*directoryv1.SignInResponse, error) {
	p := req.GetPassword()
	if req.GetOrganization() != "organizations/acme" || p.GetEmail() != "ada@acme.example" || p.GetPassword() != "secret password" {
		return nil, status.Error(codes.Unauthenticated, "invalid credentials")
	}
	if p.GetTotpCode() != "123456" {
		st, _ := status.New(codes.Unauthenticated, "TOTP code required").WithDetails(&errdetails.ErrorInfo{Reason: "TOTP_REQUIRED", Domain: "directory.steward.dev"})
		return nil, st.Err()
	}
	return &directoryv1.SignInResponse{AccessToken: "tok-ada", Principal: "organizations/acme/users/ada", ExpireTime: timestamppb.New(time.Now().Add(time.Hour))}, nil
}

func (fakeDirectory) ListUsers(ctx context.Context, req *directoryv1.ListUsersRequest) (*directoryv1.ListUsersResponse, error) {
	if md, _ := metadata.FromIncomingContext(ctx); len(md["authorization"]) != 1 || md["authorization"][0] != "Bearer tok-ada" {
		return nil, status.Error(codes.Unauthenticated, "no credentials")
	}
	return &directoryv1.ListUsersResponse{Users: []*directoryv1.User{
		{Name: req.GetParent() + "/users/ada", Email: "ada@acme.example", Nickname: "ada", State: directoryv1.User_STATE_ACTIVE, Owner: true},
		{Name: req.GetParent() + "/users/bob", Email: "bob@acme.example", Nickname: "bob", State: directoryv1.User_STATE_INACTIVE},
	}}, nil
}

// fakeAccess refuses CheckPermission as the authorization layer does.
type fakeAccess struct {
	accessv1.UnimplementedAccessServiceServer
}

func (fakeAccess) CheckPermission(_ context.Context, req *accessv1.CheckPermissionRequest) (*accessv1.CheckPermissionResponse, error) {
	if req.GetPermission() == "users.view" {
		return &accessv1.CheckPermissionResponse{Allowed: true, Reason: "allowed by role User"}, nil
	}
	if req.GetPermission() == "users.edit" {
		return &accessv1.CheckPermissionResponse{Reason: "no role assignment grants users.edit"}, nil
	}
	st, _ := status.New(codes.PermissionDenied, "permission denied").WithDetails(&errdetails.ErrorInfo{Reason: "PERMISSION_DENIED", Domain: "steward.dev",
		Metadata: map[string]string{"permission": "roles.view", "scope": req.GetScope()}})
	return nil, st.Err()
}

// serve starts a gRPC server on loopback and returns its address.
func serve(t *testing.T, register func(*grpc.Server)) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	register(srv)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// TestAgainstFakes: login (a TOTP code asked for, then given), the config
// file's mode and content, a table and its JSON, and check's exit codes.
func TestAgainstFakes(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{
		"STEWARD_SERVER": serve(t, func(s *grpc.Server) { directoryv1.RegisterDirectoryServiceServer(s, fakeDirectory{}) }),
		"STEWARD_ACCESS": serve(t, func(s *grpc.Server) { accessv1.RegisterAccessServiceServer(s, fakeAccess{}) }),
	}
	code, _, stderr := runCLI(t, dir, env, "secret password\n", "login", "--org", "acme", "--email", "ada@acme.example", "--password-stdin")
	if code != ExitDenied || !strings.Contains(stderr, "--totp") {
		t.Fatalf("login without a TOTP code: exit %d, %q; want %d and a hint at --totp", code, stderr, ExitDenied)
	}
	code, _, stderr = runCLI(t, dir, env, "secret password\n", "login", "--org", "acme", "--email", "ada@acme.example", "--password-stdin", "--totp", "123456")
	if code != ExitOK {
		t.Fatalf("login: exit %d, %s", code, stderr)
	}
	path := filepath.Join(dir, "config.json")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("config mode %#o, want 0600", fi.Mode().Perm())
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AccessToken != "tok-ada" || cfg.Organization != "organizations/acme" || cfg.Principal != "organizations/acme/users/ada" || cfg.Directory != env["STEWARD_SERVER"] {
		t.Errorf("config after login = %+v", cfg)
	}

	// The addresses come from the config now: no environment needed.
	code, stdout, stderr := runCLI(t, dir, nil, "", "users", "list")
	if code != ExitOK {
		t.Fatalf("users list: exit %d, %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID ") || !strings.Contains(lines[1], "ada@acme.example") || !strings.Contains(lines[2], "inactive") {
		t.Errorf("users list table =\n%s", stdout)
	}
	code, stdout, _ = runCLI(t, dir, nil, "", "users", "list", "-o", "json")
	var parsed struct {
		Users []struct{ Name, Email, State string }
	}
	if err := json.Unmarshal([]byte(stdout), &parsed); code != ExitOK || err != nil || len(parsed.Users) != 2 || parsed.Users[1].State != "STATE_INACTIVE" {
		t.Errorf("users list -o json: exit %d, %v, %+v from\n%s", code, err, parsed, stdout)
	}

	// Precedence: a flag over the environment over the config file.
	closed := map[string]string{"STEWARD_SERVER": "127.0.0.1:1"}
	if code, _, stderr = runCLI(t, dir, closed, "", "users", "list"); code != ExitUnavailable || !strings.Contains(stderr, "is the suite running") {
		t.Errorf("users list against a closed port: exit %d, %q; want %d", code, stderr, ExitUnavailable)
	}
	if code, _, stderr = runCLI(t, dir, closed, "", "--server", env["STEWARD_SERVER"], "users", "list"); code != ExitOK {
		t.Errorf("users list with --server over STEWARD_SERVER: exit %d, %q", code, stderr)
	}

	if code, stdout, _ = runCLI(t, dir, nil, "", "check", "ann", "users.view"); code != ExitOK || !strings.Contains(stdout, "allowed") {
		t.Errorf("check allowed: exit %d, %s", code, stdout)
	}
	if code, stdout, stderr = runCLI(t, dir, nil, "", "check", "ann", "users.edit"); code != ExitCheckDenied || !strings.Contains(stdout, "denied") || stderr != "" {
		t.Errorf("check denied: exit %d, stdout %q, stderr %q; want %d", code, stdout, stderr, ExitCheckDenied)
	}
	if code, _, stderr = runCLI(t, dir, nil, "", "check", "ann", "roles.edit"); code != ExitDenied || !strings.Contains(stderr, "missing permission: roles.view on organizations/acme") {
		t.Errorf("check refused: exit %d, %q", code, stderr)
	}

	if code, _, _ = runCLI(t, dir, nil, "", "logout"); code != ExitOK {
		t.Errorf("logout: exit %d", code)
	}
	if code, _, stderr = runCLI(t, dir, nil, "", "users", "list"); code != ExitDenied || !strings.Contains(stderr, "not logged in") {
		t.Errorf("after logout: exit %d, %q", code, stderr)
	}
}
