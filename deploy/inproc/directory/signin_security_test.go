package directory_test

// Regression tests of the security review of sign-in and account systems
// (R1, R8, R9, R10, R27). Each names the finding it covers.

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/time/rate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/store"
	"steward.dev/services/directory/credential"
	"steward.dev/services/directory/domain"
	"steward.dev/services/directory/oidcauth"
	"steward.dev/services/directory/oidcauth/oidctest"
	"steward.dev/services/directory/server"
)

// privateIssuerEnv starts a directory that accepts oidctest's issuers on
// http://127.0.0.1, with limits if not nil.
func privateIssuerEnv(t *testing.T, limits *domain.Limits) *env {
	t.Helper()
	return newEnvWith(t, domain.Options{Limits: limits, OIDC: oidcauth.NewWithOptions(oidcauth.Options{
		AllowPrivate: true, Logger: slog.New(slog.DiscardHandler),
	})})
}

// startIssuer starts an oidctest issuer for the test.
func startIssuer(t *testing.T) *oidctest.Issuer {
	t.Helper()
	iss, err := oidctest.NewIssuer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(iss.Close)
	return iss
}

// switchTo switches su's organization to the OIDC issuer with mapping, as
// its owner.
func (e *env) switchTo(su *directoryv1.SignUpResponse, issuer string, mapping map[string]string) (*directoryv1.SwitchAccountSystemResponse, error) {
	e.t.Helper()
	name := su.GetOrganization().GetName() + "/accountSystem"
	as, err := e.c.GetAccountSystem(e.asOwner(su), &directoryv1.GetAccountSystemRequest{Name: name}, e.svc)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.c.SwitchAccountSystem(e.asOwner(su), &directoryv1.SwitchAccountSystemRequest{
		Name: name, Confirm: true, Etag: as.GetEtag(),
		AccountSystem: &directoryv1.AccountSystem{Kind: directoryv1.AccountSystem_KIND_OIDC, Oidc: &directoryv1.OidcConfig{
			Issuer: issuer, ClientId: "steward", GroupClaim: "groups", GroupMapping: mapping,
		}},
	}, e.svc)
}

// mustSwitchTo is switchTo that fails the test on error.
func (e *env) mustSwitchTo(su *directoryv1.SignUpResponse, issuer string, mapping map[string]string) {
	e.t.Helper()
	if _, err := e.switchTo(su, issuer, mapping); err != nil {
		e.t.Fatalf("switch to %s: %v", issuer, err)
	}
}

// externalSignIn signs in to org with an ID token minted by iss.
func (e *env) externalSignIn(org string, iss *oidctest.Issuer, c oidctest.Claims) (*directoryv1.SignInResponse, error) {
	e.t.Helper()
	if c.Audience == "" {
		c.Audience = "steward"
	}
	raw, err := iss.Mint(c)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.signInWith(org, &directoryv1.SignInRequest_External{External: &directoryv1.ExternalCredential{IdToken: raw}})
}

// signInWith signs in to org with credential.
func (e *env) signInWith(org string, credential any) (*directoryv1.SignInResponse, error) {
	req := &directoryv1.SignInRequest{Organization: org}
	switch c := credential.(type) {
	case *directoryv1.SignInRequest_External:
		req.Credential = c
	case *directoryv1.SignInRequest_Password:
		req.Credential = c
	}
	return e.c.SignIn(context.Background(), req)
}

// passwordSignIn signs in to org with email, password and code.
func (e *env) passwordSignIn(org, email, password, code string) (*directoryv1.SignInResponse, error) {
	return e.signInWith(org, &directoryv1.SignInRequest_Password{Password: &directoryv1.PasswordCredential{Email: email, Password: password, TotpCode: code}})
}

// head returns the sequence of the directory's last event.
func (e *env) head() uint64 {
	e.t.Helper()
	evs := e.eventsAfter(0)
	if len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].GetSequence()
}

// eventsOfType returns the events of type typ after seq.
func (e *env) eventsOfType(after uint64, typ string) []*eventlogv1.Event {
	e.t.Helper()
	var out []*eventlogv1.Event
	for _, ev := range e.eventsAfter(after) {
		if ev.GetType() == typ {
			out = append(out, ev)
		}
	}
	return out
}

// securityField returns the field of err's first BadRequest field
// violation.
func securityField(err error) string {
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			return br.GetFieldViolations()[0].GetField()
		}
	}
	return ""
}

// wantFieldError fails unless err is InvalidArgument on field.
func wantFieldError(t *testing.T, err error, field string) {
	t.Helper()
	if status.Code(err) != codes.InvalidArgument || securityField(err) != field {
		t.Fatalf("error = %v (field %q), want InvalidArgument on %s", err, securityField(err), field)
	}
}

// members returns the members of group.
func (e *env) members(su *directoryv1.SignUpResponse, group string) []string {
	e.t.Helper()
	resp, err := e.c.ListGroupMembers(e.asOwner(su), &directoryv1.ListGroupMembersRequest{Group: group}, e.svc)
	if err != nil {
		e.t.Fatalf("ListGroupMembers %s: %v", group, err)
	}
	var out []string
	for _, m := range resp.GetMemberships() {
		out = append(out, m.GetMember())
	}
	return out
}

// createGroup creates a custom group id in su's organization.
func (e *env) createGroup(su *directoryv1.SignUpResponse, id string) string {
	e.t.Helper()
	g, err := e.c.CreateGroup(e.asOwner(su), &directoryv1.CreateGroupRequest{Parent: su.GetOrganization().GetName(), GroupId: id,
		Group: &directoryv1.Group{DisplayName: id}}, e.svc)
	if err != nil {
		e.t.Fatal(err)
	}
	return g.GetName()
}

// Finding 1 (R8, R9; SSRF): what the issuer URL answers never reaches the
// anonymous caller, who gets fixed messages.
func TestSignInIssuerErrorsNotQuoted(t *testing.T) {
	const secret = "INTERNAL-METADATA-SECRET"
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, secret, http.StatusInternalServerError)
	}))
	defer internal.Close()
	e := privateIssuerEnv(t, nil)
	su := e.signUp()
	org := su.GetOrganization().GetName()
	e.mustSwitchTo(su, internal.URL, nil)
	_, err := e.signInWith(org, &directoryv1.SignInRequest_External{External: &directoryv1.ExternalCredential{IdToken: "a.b.c"}})
	wantError(t, err, codes.Unavailable, "UNAVAILABLE")
	if msg := status.Convert(err).Message(); msg != "the identity provider cannot be reached" || strings.Contains(err.Error(), secret) {
		t.Fatalf("message %q, want the fixed text and nothing of the answer", msg)
	}

	// An ID token that does not verify: a fixed message, no verifier text.
	iss := startIssuer(t)
	other := e.signUp()
	e.mustSwitchTo(other, iss.URL(), nil)
	_, err = e.externalSignIn(other.GetOrganization().GetName(), iss, oidctest.Claims{Subject: "x", Audience: "someone-else"})
	wantError(t, err, codes.Unauthenticated, "ID_TOKEN_INVALID")
	if msg := status.Convert(err).Message(); msg != "the ID token is not valid" {
		t.Fatalf("message %q, want the fixed text", msg)
	}
}

// Finding 1 (R8): by default, SwitchAccountSystem refuses issuers that are
// not https or whose host is not public, on account_system.oidc.issuer, and
// changes nothing.
func TestSwitchAccountSystemIssuerMustBePublicHTTPS(t *testing.T) {
	e := newEnv(t)
	su := e.signUp()
	iss := startIssuer(t)
	for _, issuer := range []string{
		iss.URL(), // http://127.0.0.1:port
		"http://idp.example.com",
		"https://127.0.0.1:8443",
		"https://169.254.169.254/latest/meta-data",
		"https://10.1.2.3",
		"https://[::1]:8443",
		"https://localhost",
		"https://user:pw@idp.example.com",
	} {
		_, err := e.switchTo(su, issuer, nil)
		wantFieldError(t, err, "account_system.oidc.issuer")
	}
	as, err := e.c.GetAccountSystem(e.asOwner(su), &directoryv1.GetAccountSystemRequest{Name: su.GetOrganization().GetName() + "/accountSystem"}, e.svc)
	if err != nil || as.GetKind() != directoryv1.AccountSystem_KIND_LOCAL {
		t.Fatalf("account system after refused switches = %v, %v", as, err)
	}
	// A public https issuer is accepted; it is contacted only at sign-in.
	e.mustSwitchTo(su, "https://idp.example.com/realms/acme", nil)
}

// Finding 1 (R8): -oidc-allow-private-issuers, off by default, lets the
// directory use loopback http issuers (the local suite's development
// setting), end to end.
func TestAllowPrivateIssuersFlag(t *testing.T) {
	cfg := server.NewConfig()
	fs := flag.NewFlagSet("steward-directory", flag.ContinueOnError)
	cfg.AddFlags(fs)
	f := fs.Lookup("oidc-allow-private-issuers")
	if f == nil || f.DefValue != "false" || !strings.Contains(f.Usage, "SSRF") || fs.Lookup("addr") == nil {
		t.Fatalf("flag = %+v; want it documented, off by default, beside the backend's", f)
	}
	if err := fs.Parse([]string{"-oidc-allow-private-issuers"}); err != nil || !cfg.OIDCAllowPrivateIssuers {
		t.Fatalf("parse: %v, OIDCAllowPrivateIssuers = %v", err, cfg.OIDCAllowPrivateIssuers)
	}

	iss := startIssuer(t)
	e := newEnvConfig(t, func(c *server.Config) { c.OIDCAllowPrivateIssuers = true })
	su := e.signUp()
	group := e.createGroup(su, "ops")
	e.mustSwitchTo(su, iss.URL(), map[string]string{"ops-team": group})
	in, err := e.externalSignIn(su.GetOrganization().GetName(), iss, oidctest.Claims{Subject: "ops-1", Email: "ops1@idp.example", Groups: []string{"ops-team"}})
	if err != nil || !in.GetProvisioned() {
		t.Fatalf("external sign-in = %v, %v", in, err)
	}
}

// Finding 2 (R8, R10): the group mapping may name only existing groups of
// the organization itself, and not Everyone.
func TestSwitchAccountSystemGroupMapping(t *testing.T) {
	e := privateIssuerEnv(t, nil)
	a := e.signUp()
	b := e.signUp()
	iss := startIssuer(t)
	orgA := a.GetOrganization().GetName()
	for name, mapping := range map[string]map[string]string{
		"another organization's group": {"admins": b.GetOrganization().GetName() + "/groups/administrators"},
		"a group that does not exist":  {"x": orgA + "/groups/nonexistent"},
		"Everyone":                     {"all": orgA + "/groups/everyone"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.switchTo(a, iss.URL(), mapping)
			wantFieldError(t, err, "account_system.oidc.group_mapping")
			if name == "another organization's group" && strings.Contains(status.Convert(err).Message(), "exist") {
				t.Fatalf("message %q tells whether the other organization's group exists", status.Convert(err).Message())
			}
		})
	}
	e.mustSwitchTo(a, iss.URL(), map[string]string{"admins": orgA + "/groups/administrators"})
}

// Finding 2 (R10): even a mapping stored before the check cannot add a user
// to another organization's group, or make one provisionable through it.
func TestSignInIgnoresForeignMappedGroups(t *testing.T) {
	e := privateIssuerEnv(t, nil)
	a := e.signUp()
	b := e.signUp()
	iss := startIssuer(t)
	orgA := a.GetOrganization().GetName()
	own := e.createGroup(a, "finance")
	foreign := b.GetOrganization().GetName() + "/groups/administrators"
	e.mustSwitchTo(a, iss.URL(), map[string]string{"fin": own})
	// As if stored by an older directory: the mapping names b's group.
	err := e.b.Store().Update(context.Background(), func(tx store.Tx) error {
		as := &directoryv1.AccountSystem{}
		if err := store.GetProto(tx, []byte("r/"+orgA+"/accountSystem"), as); err != nil {
			return err
		}
		as.Oidc.GroupMapping["b-admins"] = foreign
		as.Oidc.GroupMapping["everyone"] = orgA + "/groups/everyone"
		return store.PutProto(tx, []byte("r/"+orgA+"/accountSystem"), as)
	})
	if err != nil {
		t.Fatal(err)
	}
	before := e.members(b, foreign)
	_, err = e.externalSignIn(orgA, iss, oidctest.Claims{Subject: "m1", Email: "m1@idp.example", Groups: []string{"b-admins", "everyone"}})
	wantError(t, err, codes.PermissionDenied, "NOT_PROVISIONABLE")
	in, err := e.externalSignIn(orgA, iss, oidctest.Claims{Subject: "m2", Email: "m2@idp.example", Groups: []string{"fin", "b-admins"}})
	if err != nil {
		t.Fatal(err)
	}
	// Signing in again runs the membership sync.
	if _, err := e.externalSignIn(orgA, iss, oidctest.Claims{Subject: "m2", Email: "m2@idp.example", Groups: []string{"fin", "b-admins", "everyone"}}); err != nil {
		t.Fatal(err)
	}
	if after := e.members(b, foreign); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("members of %s: %v, were %v", foreign, after, before)
	}
	groups, err := e.c.ListUserGroups(e.asOwner(a), &directoryv1.ListUserGroupsRequest{User: in.GetPrincipal()}, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	var explicit []string
	for _, m := range groups.GetMemberships() {
		if !m.GetImplicit() {
			explicit = append(explicit, m.GetGroup())
		}
	}
	if len(explicit) != 1 || explicit[0] != own {
		t.Fatalf("explicit groups of %s = %v; want %s alone", in.GetPrincipal(), explicit, own)
	}
}

// Finding 3 (R1, R8, R9): the owner never signs in through the identity
// provider (whose word would bypass the owner's TOTP), and a switch of
// account system unbinds the owner's external subject, so that a token of
// the new issuer with that subject is not the owner.
func TestOwnerExternalSubject(t *testing.T) {
	e := privateIssuerEnv(t, nil)
	su := e.signUp()
	org := su.GetOrganization().GetName()
	owner := su.GetOwner().GetName()
	group := e.createGroup(su, "finance")
	first, second := startIssuer(t), startIssuer(t)
	e.mustSwitchTo(su, first.URL(), map[string]string{"fin": group})
	u, err := e.c.UpdateUser(e.asOwner(su), &directoryv1.UpdateUserRequest{
		User: &directoryv1.User{Name: owner, ExternalSubject: "owner-sub"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"external_subject"}},
	}, e.svc)
	if err != nil || u.GetExternalSubject() != "owner-sub" {
		t.Fatalf("binding the owner = %v, %v", u, err)
	}
	seq := e.head()
	_, err = e.externalSignIn(org, first, oidctest.Claims{Subject: "owner-sub", Email: "x@idp.example", Groups: []string{"fin"}})
	wantError(t, err, codes.FailedPrecondition, "ACCOUNT_SYSTEM_MISMATCH")
	if n := len(e.eventsOfType(seq, domain.TypeSignInFailed)); n != 1 {
		t.Fatalf("%d failed sign-ins audited, want 1", n)
	}
	if n := len(e.eventsOfType(seq, domain.TypeUserSignedIn)); n != 0 {
		t.Fatalf("%d sign-ins recorded, want none", n)
	}

	seq = e.head()
	e.mustSwitchTo(su, second.URL(), map[string]string{"fin": group})
	got, err := e.c.GetUser(e.asOwner(su), &directoryv1.GetUserRequest{Name: owner}, e.svc)
	if err != nil || got.GetExternalSubject() != "" {
		t.Fatalf("owner after the switch = %v, %v; want no external subject", got, err)
	}
	updated := e.eventsOfType(seq, domain.TypeUserUpdated)
	if len(updated) != 1 || updated[0].GetResource() != owner {
		t.Fatalf("user updates at the switch = %v, want one of the owner", updated)
	}
	in, err := e.externalSignIn(org, second, oidctest.Claims{Subject: "owner-sub", Email: "mallory@idp.example", Groups: []string{"fin"}})
	if err != nil {
		t.Fatal(err)
	}
	if in.GetPrincipal() == owner || !in.GetProvisioned() {
		t.Fatalf("the new issuer's owner-sub signed in as %s (provisioned %v), want a new user", in.GetPrincipal(), in.GetProvisioned())
	}
	// The owner still signs in with a password.
	if _, err := e.passwordSignIn(org, su.GetOwner().GetEmail(), "correct horse battery", ""); err != nil {
		t.Fatal(err)
	}
}

// Finding 4 (R9): attempts are counted before the password is checked, so
// 40 concurrent wrong passwords with a burst of 3 get 3 checks (3 audited
// failures) and 37 refusals, and the right password from the same source
// is refused as well afterwards.
func TestSignInRateLimitConcurrent(t *testing.T) {
	limits := domain.DefaultLimits()
	limits.FailedSignInAccountSourceBurst = 3
	limits.FailedSignInPerSource = rate.Inf // the account's limits alone
	e := newEnvWith(t, domain.Options{Limits: &limits})
	su := e.signUp()
	org := su.GetOrganization().GetName()
	seq := e.head()
	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = e.passwordSignIn(org, su.GetOwner().GetEmail(), "wrong password", "")
		})
	}
	wg.Wait()
	counts := map[codes.Code]int{}
	for _, err := range errs {
		counts[status.Code(err)]++
	}
	if counts[codes.Unauthenticated] != 3 || counts[codes.ResourceExhausted] != 37 {
		t.Fatalf("outcomes %v, want 3 Unauthenticated and 37 ResourceExhausted", counts)
	}
	if n := len(e.eventsOfType(seq, domain.TypeSignInFailed)); n != 3 {
		t.Fatalf("%d passwords checked (audited failures), want 3", n)
	}
	_, err := e.passwordSignIn(org, su.GetOwner().GetEmail(), "correct horse battery", "")
	wantError(t, err, codes.ResourceExhausted, "TOO_MANY_ATTEMPTS")
}

// Finding 4 (R9): the per-source limit holds under concurrency too, across
// accounts.
func TestSignInRateLimitConcurrentPerSource(t *testing.T) {
	limits := domain.DefaultLimits()
	limits.FailedSignInSourceBurst = 3
	e := newEnvWith(t, domain.Options{Limits: &limits})
	su := e.signUp()
	org := su.GetOrganization().GetName()
	seq := e.head()
	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = e.passwordSignIn(org, fmt.Sprintf("nobody%d@x.example", i), "wrong password", "")
		})
	}
	wg.Wait()
	limited := 0
	for _, err := range errs {
		if status.Code(err) == codes.ResourceExhausted {
			limited++
		}
	}
	if limited != 37 || len(e.eventsOfType(seq, domain.TypeSignInFailed)) != 3 {
		t.Fatalf("%d limited, %d checked; want 37 and 3", limited, len(e.eventsOfType(seq, domain.TypeSignInFailed)))
	}
}

// Finding 4 (R9): successful sign-ins give their token back, so people who
// sign in often are never limited; and password checks bounded to one at a
// time still all complete.
func TestSignInSuccessNotCounted(t *testing.T) {
	limits := domain.DefaultLimits()
	limits.FailedSignInSourceBurst = 2
	limits.FailedSignInAccountSourceBurst = 2
	limits.FailedSignInAccountBurst = 2
	limits.MaxConcurrentPasswordChecks = 1
	e := newEnvWith(t, domain.Options{Limits: &limits})
	su := e.signUp()
	org := su.GetOrganization().GetName()
	for i := 0; i < 6; i++ {
		if _, err := e.passwordSignIn(org, su.GetOwner().GetEmail(), "correct horse battery", ""); err != nil {
			t.Fatalf("sign-in %d: %v", i, err)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = e.passwordSignIn(org, su.GetOwner().GetEmail(), "correct horse battery", "")
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("concurrent sign-ins with one password check at a time: %v", err)
		}
	}
}

// Finding 5 (R9): tokens that do not verify count against their source
// only: garbage cannot lock the organization's SSO users out. Failures of
// a verified identity count against that identity.
func TestExternalSignInLimits(t *testing.T) {
	limits := domain.DefaultLimits()
	limits.FailedSignInAccountSourceBurst = 3
	limits.FailedSignInPerSource = rate.Inf // every test call comes from one source
	e := privateIssuerEnv(t, &limits)
	su := e.signUp()
	org := su.GetOrganization().GetName()
	iss := startIssuer(t)
	group := e.createGroup(su, "finance")
	e.mustSwitchTo(su, iss.URL(), map[string]string{"fin": group})
	for i := 0; i < 10; i++ {
		_, err := e.signInWith(org, &directoryv1.SignInRequest_External{External: &directoryv1.ExternalCredential{IdToken: "garbage.token.x"}})
		wantError(t, err, codes.Unauthenticated, "ID_TOKEN_INVALID")
	}
	if _, err := e.externalSignIn(org, iss, oidctest.Claims{Subject: "grace", Email: "grace@idp.example", Groups: []string{"fin"}}); err != nil {
		t.Fatalf("SSO user after garbage tokens: %v", err)
	}
	for i := 0; i < 3; i++ {
		_, err := e.externalSignIn(org, iss, oidctest.Claims{Subject: "stranger", Email: "s@idp.example"})
		wantError(t, err, codes.PermissionDenied, "NOT_PROVISIONABLE")
	}
	_, err := e.externalSignIn(org, iss, oidctest.Claims{Subject: "stranger", Email: "s@idp.example"})
	wantError(t, err, codes.ResourceExhausted, "TOO_MANY_ATTEMPTS")
	if _, err := e.externalSignIn(org, iss, oidctest.Claims{Subject: "grace", Email: "grace@idp.example", Groups: []string{"fin"}}); err != nil {
		t.Fatalf("another identity after one is limited: %v", err)
	}

	// The source limit applies to unverified tokens.
	limits = domain.DefaultLimits()
	limits.FailedSignInSourceBurst = 3
	e = privateIssuerEnv(t, &limits)
	su = e.signUp()
	e.mustSwitchTo(su, iss.URL(), nil)
	for i := 0; i < 3; i++ {
		_, err := e.signInWith(su.GetOrganization().GetName(), &directoryv1.SignInRequest_External{External: &directoryv1.ExternalCredential{IdToken: "garbage.token.x"}})
		wantError(t, err, codes.Unauthenticated, "ID_TOKEN_INVALID")
	}
	_, err = e.signInWith(su.GetOrganization().GetName(), &directoryv1.SignInRequest_External{External: &directoryv1.ExternalCredential{IdToken: "garbage.token.x"}})
	wantError(t, err, codes.ResourceExhausted, "TOO_MANY_ATTEMPTS")
}

// Finding 6 (R10): the token of a deleted user does not speak for a new
// user created with the same ID; tokens carry the user's create time.
func TestTokenOfDeletedUser(t *testing.T) {
	e := newEnv(t)
	su := e.signUp()
	org := su.GetOrganization().GetName()
	create := func() *directoryv1.User {
		u, err := e.c.CreateUser(e.asOwner(su), &directoryv1.CreateUserRequest{Parent: org, UserId: "bob",
			User: &directoryv1.User{Nickname: "bob", Email: "bob@x.example"}, InitialPassword: "bob's long password"}, e.svc)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	verify := func(tok string) error {
		_, err := e.c.VerifyCredential(context.Background(), &directoryv1.VerifyCredentialRequest{
			Credential: &directoryv1.VerifyCredentialRequest_AccessToken{AccessToken: tok}}, e.svc)
		return err
	}
	bob := create()
	old := e.signIn(org, "bob@x.example", "bob's long password", "").GetAccessToken()
	parsed, err := jwt.ParseSigned(old, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		UCT int64 `json:"uct"`
	}
	if err := parsed.UnsafeClaimsWithoutVerification(&claims); err != nil || claims.UCT != bob.GetCreateTime().AsTime().UnixNano() {
		t.Fatalf("uct claim = %d (%v), want %d", claims.UCT, err, bob.GetCreateTime().AsTime().UnixNano())
	}
	if err := verify(old); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.DeleteUser(e.asOwner(su), &directoryv1.DeleteUserRequest{Name: bob.GetName()}, e.svc); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond) // a distinct create time even on coarse clocks
	if again := create(); again.GetName() != bob.GetName() {
		t.Fatalf("recreated %s, want %s", again.GetName(), bob.GetName())
	}
	wantError(t, verify(old), codes.Unauthenticated, "INVALID_CREDENTIALS")
	if err := verify(e.signIn(org, "bob@x.example", "bob's long password", "").GetAccessToken()); err != nil {
		t.Fatalf("the new bob's token: %v", err)
	}
}

// Finding 7 (R9, R27): every failed sign-in is audited once — type
// TypeSignInFailed, outcome DENIED, on the organization — with a fixed
// message that does not tell whether the account exists or what failed.
func TestSignInFailuresAudited(t *testing.T) {
	limits := domain.DefaultLimits()
	// Every case fails from one source.
	limits.FailedSignInSourceBurst, limits.FailedSignInAccountSourceBurst = 100, 100
	e := privateIssuerEnv(t, &limits)
	local := e.signUp()
	oidc := e.signUp()
	localOrg, oidcOrg := local.GetOrganization().GetName(), oidc.GetOrganization().GetName()
	iss := startIssuer(t)
	group := e.createGroup(oidc, "finance")
	e.mustSwitchTo(oidc, iss.URL(), map[string]string{"fin": group})

	// A deactivated local user.
	carl, err := e.c.CreateUser(e.asOwner(local), &directoryv1.CreateUserRequest{Parent: localOrg,
		User: &directoryv1.User{Nickname: "carl", Email: "carl@x.example"}, InitialPassword: "carl's long password"}, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.DeactivateUser(e.asOwner(local), &directoryv1.DeactivateUserRequest{Name: carl.GetName()}, e.svc); err != nil {
		t.Fatal(err)
	}
	// A deactivated external user.
	dora, err := e.externalSignIn(oidcOrg, iss, oidctest.Claims{Subject: "dora", Email: "dora@idp.example", Groups: []string{"fin"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.DeactivateUser(e.asOwner(oidc), &directoryv1.DeactivateUserRequest{Name: dora.GetPrincipal()}, e.svc); err != nil {
		t.Fatal(err)
	}
	// The local owner with TOTP.
	ownerCtx := e.asOwner(local)
	enr, err := e.c.EnrollTotp(ownerCtx, &directoryv1.EnrollTotpRequest{Name: local.GetOwner().GetName()}, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := credential.TOTPCode(enr.GetSecret(), time.Now())
	if _, err := e.c.ConfirmTotp(ownerCtx, &directoryv1.ConfirmTotpRequest{Name: local.GetOwner().GetName(), Code: code}, e.svc); err != nil {
		t.Fatal(err)
	}
	ownerEmail := local.GetOwner().GetEmail()
	password := func(org, email, pw, code string) func() error {
		return func() error { _, err := e.passwordSignIn(org, email, pw, code); return err }
	}
	external := func(c oidctest.Claims) func() error {
		return func() error { _, err := e.externalSignIn(oidcOrg, iss, c); return err }
	}
	wrongCode := "000000"
	if good, _ := credential.TOTPCode(enr.GetSecret(), time.Now()); good == wrongCode {
		wrongCode = "111111"
	}
	extMsg := "Sign-in through the identity provider failed."
	for _, tc := range []struct {
		name    string
		do      func() error
		code    codes.Code
		reason  string
		org     string
		message string
	}{
		{"wrong password", password(localOrg, ownerEmail, "wrong password", ""), codes.Unauthenticated, "INVALID_CREDENTIALS", localOrg, "Sign-in of " + ownerEmail + " failed."},
		{"unknown account", password(localOrg, "nobody@x.example", "wrong password", ""), codes.Unauthenticated, "INVALID_CREDENTIALS", localOrg, "Sign-in of nobody@x.example failed."},
		{"wrong TOTP code", password(localOrg, ownerEmail, "correct horse battery", wrongCode), codes.Unauthenticated, "TOTP_REQUIRED", localOrg, "Sign-in of " + ownerEmail + " failed."},
		{"used TOTP code", password(localOrg, ownerEmail, "correct horse battery", code), codes.Unauthenticated, "TOTP_REQUIRED", localOrg, "Sign-in of " + ownerEmail + " failed."},
		{"no TOTP code", password(localOrg, ownerEmail, "correct horse battery", ""), codes.Unauthenticated, "TOTP_REQUIRED", localOrg, "Sign-in of " + ownerEmail + " failed."},
		{"inactive account", password(localOrg, "carl@x.example", "carl's long password", ""), codes.FailedPrecondition, "USER_INACTIVE", localOrg, "Sign-in of carl@x.example failed."},
		{"external sign-in, local accounts", func() error {
			_, err := e.signInWith(localOrg, &directoryv1.SignInRequest_External{External: &directoryv1.ExternalCredential{IdToken: "a.b.c"}})
			return err
		}, codes.FailedPrecondition, "ACCOUNT_SYSTEM_MISMATCH", localOrg, extMsg},
		{"invalid ID token", external(oidctest.Claims{Subject: "x", Audience: "other"}), codes.Unauthenticated, "ID_TOKEN_INVALID", oidcOrg, extMsg},
		{"not provisionable", external(oidctest.Claims{Subject: "stranger", Email: "s@idp.example", Groups: []string{"other"}}), codes.PermissionDenied, "NOT_PROVISIONABLE", oidcOrg, extMsg},
		{"email taken at provisioning", external(oidctest.Claims{Subject: "twin", Email: oidc.GetOwner().GetEmail(), Groups: []string{"fin"}}), codes.AlreadyExists, "EMAIL_TAKEN", oidcOrg, extMsg},
		{"inactive external account", external(oidctest.Claims{Subject: "dora", Email: "dora@idp.example", Groups: []string{"fin"}}), codes.FailedPrecondition, "USER_INACTIVE", oidcOrg, extMsg},
		{"password of a user of an OIDC organization", password(oidcOrg, "dora@idp.example", "anything at all", ""), codes.Unauthenticated, "INVALID_CREDENTIALS", oidcOrg, "Sign-in of dora@idp.example failed."},
		{"unknown organization", password("organizations/nowhere", "a@x.example", "pw-pw-pw-pw", ""), codes.Unauthenticated, "INVALID_CREDENTIALS", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seq := e.head()
			wantError(t, tc.do(), tc.code, tc.reason)
			evs := e.eventsOfType(seq, domain.TypeSignInFailed)
			if tc.org == "" {
				if len(evs) != 0 {
					t.Fatalf("%d events for an unknown organization", len(evs))
				}
				return
			}
			if len(evs) != 1 {
				t.Fatalf("%d failed sign-ins audited, want 1", len(evs))
			}
			ev := evs[0]
			if ev.GetResource() != tc.org || ev.GetAudit().GetOutcome() != eventlogv1.Outcome_OUTCOME_DENIED || ev.GetAudit().GetMessage() != tc.message {
				t.Fatalf("event on %s, outcome %v, message %q; want %s, DENIED, %q", ev.GetResource(), ev.GetAudit().GetOutcome(), ev.GetAudit().GetMessage(), tc.org, tc.message)
			}
		})
	}
}

// Finding 8 (R1): a sign-in through the identity provider cannot take the
// owner out of Administrators, even when the owner's subject lacks the
// group mapped to it.
func TestOwnerStaysAdministrator(t *testing.T) {
	e := privateIssuerEnv(t, nil)
	su := e.signUp()
	org := su.GetOrganization().GetName()
	owner := su.GetOwner().GetName()
	admins := org + "/groups/administrators"
	iss := startIssuer(t)
	e.mustSwitchTo(su, iss.URL(), map[string]string{"idp-admins": admins})
	if _, err := e.c.UpdateUser(e.asOwner(su), &directoryv1.UpdateUserRequest{
		User: &directoryv1.User{Name: owner, ExternalSubject: "owner-sub"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"external_subject"}},
	}, e.svc); err != nil {
		t.Fatal(err)
	}
	_, err := e.externalSignIn(org, iss, oidctest.Claims{Subject: "owner-sub", Email: "o@idp.example", Groups: []string{"other"}})
	wantError(t, err, codes.FailedPrecondition, "ACCOUNT_SYSTEM_MISMATCH")
	members := e.members(su, admins)
	if len(members) != 1 || members[0] != owner {
		t.Fatalf("Administrators = %v, want the owner", members)
	}
	// A mapped administrator who loses the group at the identity provider
	// does leave it.
	in, err := e.externalSignIn(org, iss, oidctest.Claims{Subject: "ann", Email: "ann@idp.example", Groups: []string{"idp-admins"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.externalSignIn(org, iss, oidctest.Claims{Subject: "ann", Email: "ann@idp.example", Groups: []string{}}); err != nil {
		t.Fatal(err)
	}
	members = e.members(su, admins)
	if len(members) != 1 || members[0] != owner {
		t.Fatalf("Administrators = %v after %s lost the group, want the owner alone", members, in.GetPrincipal())
	}
}

// gateTransport holds the first request to host until release is closed,
// after closing started.
type gateTransport struct {
	host             string
	once             sync.Once
	started, release chan struct{}
}

func (g *gateTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host == g.host {
		g.once.Do(func() {
			close(g.started)
			<-g.release
		})
	}
	return http.DefaultTransport.RoundTrip(r)
}

// Finding 3 (R8): a token verified against the previous issuer while the
// account system was switched is not accepted under the new one: its
// subject is never bound to the new issuer's index.
func TestSwitchDuringExternalSignIn(t *testing.T) {
	first, second := startIssuer(t), startIssuer(t)
	gate := &gateTransport{host: strings.TrimPrefix(first.URL(), "http://"), started: make(chan struct{}), release: make(chan struct{})}
	e := newEnvWith(t, domain.Options{OIDC: oidcauth.NewWithOptions(oidcauth.Options{
		AllowPrivate: true, Client: &http.Client{Transport: gate}, Logger: slog.New(slog.DiscardHandler),
	})})
	su := e.signUp()
	org := su.GetOrganization().GetName()
	group := e.createGroup(su, "finance")
	e.mustSwitchTo(su, first.URL(), map[string]string{"fin": group})
	done := make(chan error, 1)
	go func() {
		_, err := e.externalSignIn(org, first, oidctest.Claims{Subject: "sam", Email: "sam@idp.example", Groups: []string{"fin"}})
		done <- err
	}()
	<-gate.started // the first issuer's token is being verified
	e.mustSwitchTo(su, second.URL(), map[string]string{"fin": group})
	close(gate.release)
	wantError(t, <-done, codes.Unauthenticated, "ID_TOKEN_INVALID")
	users, err := e.c.ListUsers(e.asOwner(su), &directoryv1.ListUsersRequest{Parent: org}, e.svc)
	if err != nil || len(users.GetUsers()) != 1 {
		t.Fatalf("users = %v, %v; want the owner alone", users, err)
	}
	// The second issuer's "sam" is someone new.
	in, err := e.externalSignIn(org, second, oidctest.Claims{Subject: "sam", Email: "sam2@idp.example", Groups: []string{"fin"}})
	if err != nil || !in.GetProvisioned() {
		t.Fatalf("the second issuer's sam = %v, %v; want provisioned", in, err)
	}
}

// Findings 4 and 7 (R9): wrong TOTP codes count against the limits; the
// first step of a two-step sign-in (right password, no code yet) is
// audited but not counted.
func TestTOTPAttemptsCounted(t *testing.T) {
	limits := domain.DefaultLimits()
	limits.FailedSignInAccountSourceBurst = 2
	e := newEnvWith(t, domain.Options{Limits: &limits})
	su := e.signUp()
	org, email, owner := su.GetOrganization().GetName(), su.GetOwner().GetEmail(), su.GetOwner().GetName()
	enr, err := e.c.EnrollTotp(e.asOwner(su), &directoryv1.EnrollTotpRequest{Name: owner}, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := credential.TOTPCode(enr.GetSecret(), time.Now())
	if _, err := e.c.ConfirmTotp(e.asOwner(su), &directoryv1.ConfirmTotpRequest{Name: owner, Code: code}, e.svc); err != nil {
		t.Fatal(err)
	}
	seq := e.head()
	for i := 0; i < 5; i++ {
		_, err := e.passwordSignIn(org, email, "correct horse battery", "")
		wantError(t, err, codes.Unauthenticated, "TOTP_REQUIRED")
	}
	if n := len(e.eventsOfType(seq, domain.TypeSignInFailed)); n != 5 {
		t.Fatalf("%d failures audited, want 5", n)
	}
	// The confirmation used the current step's code: the next step's.
	code, _ = credential.TOTPCode(enr.GetSecret(), time.Now().Add(30*time.Second))
	if _, err := e.passwordSignIn(org, email, "correct horse battery", code); err != nil {
		t.Fatalf("sign-in with the code after five first steps: %v", err)
	}
	wrong := "000000"
	if wrong == code {
		wrong = "111111"
	}
	for i := 0; i < 2; i++ {
		_, err := e.passwordSignIn(org, email, "correct horse battery", wrong)
		wantError(t, err, codes.Unauthenticated, "TOTP_REQUIRED")
	}
	_, err = e.passwordSignIn(org, email, "correct horse battery", wrong)
	wantError(t, err, codes.ResourceExhausted, "TOO_MANY_ATTEMPTS")
}
