//go:build e2e

package e2e_test

// Helpers of the security and read-your-writes tests: organizations, their
// owners' tokens, the installation's service credential, and HTTP calls
// through the gateway that keep the response headers.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc/metadata"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
)

// serviceSecret returns the secret of the service name, as the launcher
// wrote it into the data directory.
func (s *suite) serviceSecret(name string) string {
	s.t.Helper()
	secret, err := os.ReadFile(filepath.Join(s.dataDir, "credentials", name))
	if err != nil {
		s.t.Fatal(err)
	}
	return strings.TrimSpace(string(secret))
}

// withBearer returns ctx carrying the bearer credential tok (a token or an
// API key).
func withBearer(ctx context.Context, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

// orgOwner is an organization made by sign-up, with its owner signed in.
type orgOwner struct {
	org, owner, email, password, token string
}

// signUpOrg signs up organization id and signs its owner in; it waits until
// access knows the owner (the Owner role's users.create at the
// organization), since access follows the directory asynchronously.
func (s *suite) signUpOrg(ctx context.Context, id string) orgOwner {
	s.t.Helper()
	dir := directoryv1.NewDirectoryServiceClient(s.dial("directory"))
	o := orgOwner{email: "owner@" + id + ".example", password: "owner's long password for " + id}
	su, err := dir.SignUp(ctx, &directoryv1.SignUpRequest{OrganizationId: id, OrganizationDisplayName: "Org " + id,
		Nickname: "owner", Email: o.email, Password: o.password})
	if err != nil {
		s.t.Fatalf("SignUp %s: %v", id, err)
	}
	o.org, o.owner = su.GetOrganization().GetName(), su.GetOwner().GetName()
	s.awaitAllowed(ctx, o.owner, "users.create", o.org)
	o.token = s.signIn(ctx, o.org, o.email, o.password)
	return o
}

// signIn signs in with a password and returns the access token.
func (s *suite) signIn(ctx context.Context, org, email, password string) string {
	s.t.Helper()
	dir := directoryv1.NewDirectoryServiceClient(s.dial("directory"))
	in, err := dir.SignIn(ctx, &directoryv1.SignInRequest{Organization: org, Credential: &directoryv1.SignInRequest_Password{
		Password: &directoryv1.PasswordCredential{Email: email, Password: password}}})
	if err != nil {
		s.t.Fatalf("SignIn %s at %s: %v", email, org, err)
	}
	return in.GetAccessToken()
}

// awaitAllowed polls access (as a service) until principal holds permission
// at scope: the asynchronous steps before a test's own assertions.
func (s *suite) awaitAllowed(ctx context.Context, principal, permission, scope string) {
	s.t.Helper()
	acc := accessv1.NewAccessServiceClient(s.dial("access"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := acc.CheckPermission(s.asService(ctx, "licensing"), &accessv1.CheckPermissionRequest{Principal: principal, Permission: permission, Scope: scope})
		if err == nil && resp.GetAllowed() {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("access: %s does not hold %s at %s after 10s: %v, %v", principal, permission, scope, resp, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// httpResult is a gateway answer.
type httpResult struct {
	code   int
	header http.Header
	body   []byte
}

// httpCall sends method path to the gateway with a JSON body (nil for none)
// and the Authorization header auth ("" for none).
func (s *suite) httpCall(method, path string, body any, auth string) httpResult {
	s.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+s.addrs["gateway"]+path, r)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return httpResult{code: resp.StatusCode, header: resp.Header, body: data}
}
