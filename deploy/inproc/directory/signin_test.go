package directory_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/services/directory/credential"
	"steward.dev/services/directory/domain"
	"steward.dev/services/directory/oidcauth/oidctest"
)

// errorInfo returns the ErrorInfo reason and metadata of err.
func errorInfo(err error) (string, map[string]string) {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason(), info.GetMetadata()
		}
	}
	return "", nil
}

// wantError fails unless err has code and ErrorInfo reason.
func wantError(t *testing.T, err error, code codes.Code, reason string) {
	t.Helper()
	got, _ := errorInfo(err)
	if status.Code(err) != code || got != reason {
		t.Fatalf("error = %v (reason %q), want %v %s", err, got, code, reason)
	}
}

// bearer returns a context sending token as "authorization: Bearer".
func bearer(token string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
}

// signIn signs in with a password and fails the test on error.
func (e *env) signIn(org, email, password, code string) *directoryv1.SignInResponse {
	e.t.Helper()
	resp, err := e.c.SignIn(context.Background(), &directoryv1.SignInRequest{
		Organization: org,
		Credential: &directoryv1.SignInRequest_Password{Password: &directoryv1.PasswordCredential{
			Email: email, Password: password, TotpCode: code,
		}},
	})
	if err != nil {
		e.t.Fatalf("SignIn %s: %v", email, err)
	}
	return resp
}

// TestSignUp (R1): sign-up creates the organization, its owner in
// Administrators, the four default groups, the root department, the default
// tenant and the local account system, with one event each; a retry with
// the same request_id returns the same organization.
func TestSignUp(t *testing.T) {
	e := newEnv(t)
	req := &directoryv1.SignUpRequest{
		OrganizationId: "acme", OrganizationDisplayName: "Acme", Nickname: "ada",
		Email: "ada@acme.example", Password: "correct horse battery", RequestId: "5f0c6a1e-9a51-4a59-9d0e-0c1c6a2f7b10",
	}
	su, err := e.c.SignUp(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if su.GetOrganization().GetName() != "organizations/acme" || su.GetOrganization().GetOwner() != su.GetOwner().GetName() {
		t.Fatalf("organization = %v", su.GetOrganization())
	}
	if !su.GetOwner().GetOwner() || su.GetOwner().GetState() != directoryv1.User_STATE_ACTIVE || su.GetOwner().GetDepartment() != "organizations/acme/departments/root" {
		t.Fatalf("owner = %v", su.GetOwner())
	}
	var groups []string
	for _, g := range su.GetDefaultGroups() {
		groups = append(groups, g.GetDisplayName())
	}
	if got := strings.Join(groups, ","); got != "Administrators,Automation Users,Automation Developers,Everyone" {
		t.Fatalf("default groups = %s", got)
	}
	if !su.GetDefaultTenant().GetDefaultTenant() || !su.GetRootDepartment().GetRoot() {
		t.Fatalf("tenant %v, department %v", su.GetDefaultTenant(), su.GetRootDepartment())
	}
	types := map[string]int{}
	for _, ev := range e.eventsAfter(0) {
		types[ev.GetType()]++
		if ev.GetOrganization() != "organizations/acme" || ev.GetAudit().GetActor() != su.GetOwner().GetName() {
			t.Fatalf("event %v: organization or actor wrong", ev)
		}
	}
	want := map[string]int{
		domain.TypeOrganizationCreated: 1, domain.TypeDepartmentCreated: 1, domain.TypeTenantCreated: 1,
		domain.TypeGroupCreated: 4, domain.TypeUserCreated: 1, domain.TypeGroupMemberAdded: 1,
	}
	if fmt.Sprint(types) != fmt.Sprint(want) {
		t.Fatalf("events = %v, want %v", types, want)
	}

	again, err := e.c.SignUp(context.Background(), req)
	if err != nil || again.GetOwner().GetName() != su.GetOwner().GetName() {
		t.Fatalf("retry = %v, %v; want the first response", again, err)
	}
	req.Email = "other@acme.example"
	_, err = e.c.SignUp(context.Background(), req)
	wantError(t, err, codes.Aborted, "REQUEST_ID_REUSED")
	req.RequestId = ""
	_, err = e.c.SignUp(context.Background(), req)
	wantError(t, err, codes.AlreadyExists, "ALREADY_EXISTS")
}

// TestSignUpValidation (R1, R3): bad input is InvalidArgument with field
// violations, and creates nothing.
func TestSignUpValidation(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name  string
		mod   func(*directoryv1.SignUpRequest)
		field string
	}{
		{"nickname too long", func(r *directoryv1.SignUpRequest) { r.Nickname = "seventeen-chars-x" }, "nickname"},
		{"nickname bad character", func(r *directoryv1.SignUpRequest) { r.Nickname = "ada lovelace" }, "nickname"},
		{"email", func(r *directoryv1.SignUpRequest) { r.Email = "not-an-email" }, "email"},
		{"short password", func(r *directoryv1.SignUpRequest) { r.Password = "short" }, "password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := &directoryv1.SignUpRequest{OrganizationId: "valid", OrganizationDisplayName: "V", Nickname: "ada", Email: "ada@v.example", Password: "long enough password"}
			tc.mod(req)
			_, err := e.c.SignUp(context.Background(), req)
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(fmt.Sprint(status.Convert(err).Details()), tc.field) {
				t.Fatalf("err = %v, want InvalidArgument on %s", err, tc.field)
			}
		})
	}
	if evs := e.eventsAfter(0); len(evs) != 0 {
		t.Fatalf("%d events after refused sign-ups", len(evs))
	}
}

// TestSignUpRateLimit (R1): sign-ups are rate limited per source address.
func TestSignUpRateLimit(t *testing.T) {
	limits := domain.DefaultLimits()
	limits.SignUpBurst = 2
	e := newEnvWith(t, domain.Options{Limits: &limits})
	e.signUp()
	e.signUp()
	_, err := e.c.SignUp(context.Background(), &directoryv1.SignUpRequest{
		OrganizationDisplayName: "X", Nickname: "x", Email: "x@x.example", Password: "long enough password",
	})
	wantError(t, err, codes.ResourceExhausted, "TOO_MANY_ATTEMPTS")
	var retry *errdetails.RetryInfo
	for _, d := range status.Convert(err).Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok {
			retry = r
		}
	}
	if retry.GetRetryDelay().AsDuration() <= 0 {
		t.Fatalf("no RetryInfo in %v", err)
	}
}

// TestSignInPassword (R9, R10): a password sign-in returns an EdDSA JWT
// that the JWKS verifies, carrying organization, principal and session;
// the token authenticates calls; a wrong password and an unknown account
// fail identically.
func TestSignInPassword(t *testing.T) {
	e := newAccessEnv(t)
	su := e.signUpReady()
	org := su.GetOrganization().GetName()
	resp := e.signIn(org, su.GetOwner().GetEmail(), "correct horse battery", "")
	if resp.GetPrincipal() != su.GetOwner().GetName() || resp.GetSessionId() == "" || resp.GetTotpEnrollmentRequired() {
		t.Fatalf("sign-in = %v", resp)
	}

	jwks, err := e.c.GetJwks(context.Background(), &directoryv1.GetJwksRequest{})
	if err != nil || len(jwks.GetKeys()) == 0 {
		t.Fatalf("GetJwks = %v, %v", jwks, err)
	}
	k := jwks.GetKeys()[0]
	if k.GetKty() != "OKP" || k.GetCrv() != "Ed25519" || k.GetAlg() != "EdDSA" {
		t.Fatalf("key = %v", k)
	}
	pub, err := base64.RawURLEncoding.DecodeString(k.GetX())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.ParseSigned(resp.GetAccessToken(), []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := tok.Claims(ed25519.PublicKey(pub), &claims); err != nil {
		t.Fatalf("token does not verify with the JWKS key: %v", err)
	}
	if claims["sub"] != su.GetOwner().GetName() || claims["org"] != org || claims["sid"] != resp.GetSessionId() {
		t.Fatalf("claims = %v", claims)
	}

	got, err := e.c.GetOrganization(bearer(resp.GetAccessToken()), &directoryv1.GetOrganizationRequest{Name: org})
	if err != nil || got.GetName() != org {
		t.Fatalf("GetOrganization with the token = %v, %v", got, err)
	}

	_, errWrong := e.c.SignIn(context.Background(), &directoryv1.SignInRequest{Organization: org,
		Credential: &directoryv1.SignInRequest_Password{Password: &directoryv1.PasswordCredential{Email: su.GetOwner().GetEmail(), Password: "wrong password"}}})
	_, errUnknown := e.c.SignIn(context.Background(), &directoryv1.SignInRequest{Organization: org,
		Credential: &directoryv1.SignInRequest_Password{Password: &directoryv1.PasswordCredential{Email: "nobody@nowhere.example", Password: "wrong password"}}})
	wantError(t, errWrong, codes.Unauthenticated, "INVALID_CREDENTIALS")
	wantError(t, errUnknown, codes.Unauthenticated, "INVALID_CREDENTIALS")
	if status.Convert(errWrong).Message() != status.Convert(errUnknown).Message() {
		t.Fatalf("messages differ: %q vs %q", status.Convert(errWrong).Message(), status.Convert(errUnknown).Message())
	}
	_, err = e.c.GetOrganization(bearer(resp.GetAccessToken()+"x"), &directoryv1.GetOrganizationRequest{Name: org})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("tampered token: %v", err)
	}
}

// TestSignInRateLimit (R9): failed sign-ins are limited per account and
// source, also for accounts that do not exist, and a correct password from
// that source does not get through while limited.
func TestSignInRateLimit(t *testing.T) {
	limits := domain.DefaultLimits()
	limits.FailedSignInAccountSourceBurst = 3
	e := newEnvWith(t, domain.Options{Limits: &limits})
	su := e.signUp()
	org := su.GetOrganization().GetName()
	try := func(email, password string) error {
		_, err := e.c.SignIn(context.Background(), &directoryv1.SignInRequest{Organization: org,
			Credential: &directoryv1.SignInRequest_Password{Password: &directoryv1.PasswordCredential{Email: email, Password: password}}})
		return err
	}
	for i := 0; i < 3; i++ {
		wantError(t, try(su.GetOwner().GetEmail(), "wrong password"), codes.Unauthenticated, "INVALID_CREDENTIALS")
	}
	wantError(t, try(su.GetOwner().GetEmail(), "correct horse battery"), codes.ResourceExhausted, "TOO_MANY_ATTEMPTS")
	var failed int
	for _, ev := range e.eventsAfter(0) {
		if ev.GetType() == domain.TypeSignInFailed {
			failed++
		}
	}
	if failed != 3 {
		t.Fatalf("%d sign-in failures audited, want 3", failed)
	}
}

// TestTOTP (R9): enrolment, confirmation, then sign-in needs the code; a
// user whose MFA is required but not enrolled gets an enrolment-only token
// that authorizes nothing else (access management refuses it everything).
func TestTOTP(t *testing.T) {
	e := newAccessEnv(t)
	su := e.signUpReady()
	org := su.GetOrganization().GetName()
	owner := su.GetOwner()
	tok := e.signIn(org, owner.GetEmail(), "correct horse battery", "").GetAccessToken()
	ctx := bearer(tok)

	_, err := e.c.ConfirmTotp(ctx, &directoryv1.ConfirmTotpRequest{Name: owner.GetName(), Code: "123456"})
	wantError(t, err, codes.FailedPrecondition, "TOTP_NOT_CONFIRMED")
	enr, err := e.c.EnrollTotp(ctx, &directoryv1.EnrollTotpRequest{Name: owner.GetName()})
	if err != nil || !strings.HasPrefix(enr.GetOtpauthUri(), "otpauth://totp/") {
		t.Fatalf("EnrollTotp = %v, %v", enr, err)
	}
	_, err = e.c.ConfirmTotp(ctx, &directoryv1.ConfirmTotpRequest{Name: owner.GetName(), Code: "000000"})
	wantError(t, err, codes.FailedPrecondition, "TOTP_NOT_CONFIRMED")
	code, err := credential.TOTPCode(enr.GetSecret(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	u, err := e.c.ConfirmTotp(ctx, &directoryv1.ConfirmTotpRequest{Name: owner.GetName(), Code: code})
	if err != nil || !u.GetTotpEnrolled() || !u.GetMfaRequired() {
		t.Fatalf("ConfirmTotp = %v, %v", u, err)
	}

	// Replacing the confirmed authenticator needs a code of it.
	_, err = e.c.EnrollTotp(ctx, &directoryv1.EnrollTotpRequest{Name: owner.GetName()})
	wantError(t, err, codes.Unauthenticated, "TOTP_REQUIRED")
	_, err = e.c.EnrollTotp(ctx, &directoryv1.EnrollTotpRequest{Name: owner.GetName(), CurrentCode: "000000"})
	wantError(t, err, codes.Unauthenticated, "TOTP_REQUIRED")
	// Each code is good once (RFC 6238 §5.2): the confirmation used this
	// step's, so the next step's.
	current, _ := credential.TOTPCode(enr.GetSecret(), time.Now().Add(30*time.Second))
	again, err := e.c.EnrollTotp(ctx, &directoryv1.EnrollTotpRequest{Name: owner.GetName(), CurrentCode: current})
	if err != nil {
		t.Fatalf("re-enrolling with a current code: %v", err)
	}
	code, _ = credential.TOTPCode(again.GetSecret(), time.Now())
	if _, err := e.c.ConfirmTotp(ctx, &directoryv1.ConfirmTotpRequest{Name: owner.GetName(), Code: code}); err != nil {
		t.Fatalf("confirming the new authenticator: %v", err)
	}

	_, err = e.c.SignIn(context.Background(), &directoryv1.SignInRequest{Organization: org,
		Credential: &directoryv1.SignInRequest_Password{Password: &directoryv1.PasswordCredential{Email: owner.GetEmail(), Password: "correct horse battery"}}})
	wantError(t, err, codes.Unauthenticated, "TOTP_REQUIRED")
	code, _ = credential.TOTPCode(again.GetSecret(), time.Now().Add(30*time.Second))
	ownerCtx := bearer(e.signIn(org, owner.GetEmail(), "correct horse battery", code).GetAccessToken())

	// Another user, MFA required by the administrator, not yet enrolled.
	bob, err := e.c.CreateUser(ownerCtx, &directoryv1.CreateUserRequest{Parent: org,
		User: &directoryv1.User{Nickname: "bob", Email: "bob@x.example", MfaRequired: true}, InitialPassword: "bob's long password"})
	if err != nil {
		t.Fatal(err)
	}
	resp := e.signIn(org, "bob@x.example", "bob's long password", "")
	if !resp.GetTotpEnrollmentRequired() {
		t.Fatalf("sign-in of an unenrolled MFA user = %v, want totp_enrollment_required", resp)
	}
	bobCtx := bearer(resp.GetAccessToken())
	_, err = e.c.GetOrganization(bobCtx, &directoryv1.GetOrganizationRequest{Name: org})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("enrolment-only token reading the organization: %v, want PermissionDenied", err)
	}
	if _, err := e.c.EnrollTotp(bobCtx, &directoryv1.EnrollTotpRequest{Name: bob.GetName()}); err != nil {
		t.Fatalf("enrolment-only token enrolling: %v", err)
	}
	_, err = e.c.EnrollTotp(bobCtx, &directoryv1.EnrollTotpRequest{Name: owner.GetName()})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("enrolling someone else: %v, want InvalidArgument", err)
	}
	_, err = e.c.VerifyCredential(context.Background(), &directoryv1.VerifyCredentialRequest{
		Credential: &directoryv1.VerifyCredentialRequest_AccessToken{AccessToken: resp.GetAccessToken()}}, e.svc)
	wantError(t, err, codes.Unauthenticated, "INVALID_CREDENTIALS")
}

// TestVerifyCredential (R10): internal; answers who a token speaks for, and
// stops accepting the token of a deactivated user at once.
func TestVerifyCredential(t *testing.T) {
	e := newAccessEnv(t)
	su := e.signUpReady()
	org := su.GetOrganization().GetName()
	ownerTok := e.signIn(org, su.GetOwner().GetEmail(), "correct horse battery", "").GetAccessToken()
	req := &directoryv1.VerifyCredentialRequest{Credential: &directoryv1.VerifyCredentialRequest_AccessToken{AccessToken: ownerTok}}
	_, err := e.c.VerifyCredential(bearer(ownerTok), req)
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("VerifyCredential by a user: %v, want PermissionDenied (internal)", err)
	}
	resp, err := e.c.VerifyCredential(context.Background(), req, e.svc)
	if err != nil || resp.GetPrincipal().GetName() != su.GetOwner().GetName() || !resp.GetPrincipal().GetOwner() ||
		resp.GetPrincipal().GetKind() != directoryv1.PrincipalKind_PRINCIPAL_KIND_USER {
		t.Fatalf("VerifyCredential = %v, %v", resp, err)
	}
	if until := resp.GetCacheUntil().AsTime(); until.After(time.Now().Add(time.Minute)) {
		t.Fatalf("cache_until %v is too far", until)
	}

	ownerCtx := bearer(ownerTok)
	carl, err := e.c.CreateUser(ownerCtx, &directoryv1.CreateUserRequest{Parent: org,
		User: &directoryv1.User{Nickname: "carl", Email: "carl@x.example"}, InitialPassword: "carl's long password"})
	if err != nil {
		t.Fatal(err)
	}
	carlTok := e.signIn(org, "carl@x.example", "carl's long password", "").GetAccessToken()
	e.awaitAccess(carl.GetName(), "users.view", carl.GetName(), true) // Everyone → User
	if _, err := e.c.GetUser(bearer(carlTok), &directoryv1.GetUserRequest{Name: carl.GetName()}); err != nil {
		t.Fatalf("carl reads himself: %v", err)
	}
	if _, err := e.c.DeactivateUser(ownerCtx, &directoryv1.DeactivateUserRequest{Name: carl.GetName()}); err != nil {
		t.Fatal(err)
	}
	_, err = e.c.GetUser(bearer(carlTok), &directoryv1.GetUserRequest{Name: carl.GetName()})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("deactivated user's token: %v, want Unauthenticated", err)
	}
	_, err = e.c.SignIn(context.Background(), &directoryv1.SignInRequest{Organization: org,
		Credential: &directoryv1.SignInRequest_Password{Password: &directoryv1.PasswordCredential{Email: "carl@x.example", Password: "carl's long password"}}})
	wantError(t, err, codes.FailedPrecondition, "USER_INACTIVE")
}

// TestAccessAuthorization (R10, R13, R16; issue 5 item 9): the directory's
// permission checks are answered by access management. The owner may do
// everything; a plain member (Everyone → User: users.view) may list users
// but not create one, and is told which permission is missing; once in
// Administrators (Organization Administrator) they may; the per-object
// check of ListUserGroups asks access too; objects of another organization
// are NotFound, never PermissionDenied. The directory's checks reflect its
// own changes at once (read-your-writes: access is asked to have applied
// the directory's log up to the check), so nothing here waits for the feed.
func TestAccessAuthorization(t *testing.T) {
	e := newAccessEnv(t)
	su := e.signUp()
	other := e.signUp()
	org := su.GetOrganization().GetName()
	ownerCtx := bearer(e.signIn(org, su.GetOwner().GetEmail(), "correct horse battery", "").GetAccessToken())
	dan, err := e.c.CreateUser(ownerCtx, &directoryv1.CreateUserRequest{Parent: org,
		User: &directoryv1.User{Nickname: "dan", Email: "dan@x.example"}, InitialPassword: "dan's long password"})
	if err != nil {
		t.Fatalf("owner creating a user: %v", err)
	}
	danCtx := bearer(e.signIn(org, "dan@x.example", "dan's long password", "").GetAccessToken())

	if _, err := e.c.ListUsers(danCtx, &directoryv1.ListUsersRequest{Parent: org}); err != nil {
		t.Fatalf("member listing users: %v", err)
	}
	_, err = e.c.CreateUser(danCtx, &directoryv1.CreateUserRequest{Parent: org, User: &directoryv1.User{Nickname: "eve", Email: "eve@x.example"}})
	reason, md := errorInfo(err)
	if status.Code(err) != codes.PermissionDenied || reason != "PERMISSION_DENIED" || md["permission"] != "users.create" || md["scope"] != org {
		t.Fatalf("member creating a user: %v (%s %v), want PermissionDenied naming users.create at %s", err, reason, md, org)
	}
	// A per-object check (ListUserGroups of someone else needs users.view
	// at the user): dan holds it through Everyone.
	if _, err := e.c.ListUserGroups(danCtx, &directoryv1.ListUserGroupsRequest{User: su.GetOwner().GetName()}); err != nil {
		t.Fatalf("member listing the owner's groups: %v", err)
	}

	_, err = e.c.GetOrganization(danCtx, &directoryv1.GetOrganizationRequest{Name: other.GetOrganization().GetName()})
	wantError(t, err, codes.NotFound, "NOT_FOUND")
	_, err = e.c.GetUser(ownerCtx, &directoryv1.GetUserRequest{Name: other.GetOwner().GetName()})
	wantError(t, err, codes.NotFound, "NOT_FOUND")
	_, err = e.c.CreateUser(ownerCtx, &directoryv1.CreateUserRequest{Parent: other.GetOrganization().GetName(),
		User: &directoryv1.User{Nickname: "mallory", Email: "mallory@x.example"}})
	wantError(t, err, codes.NotFound, "NOT_FOUND")

	if _, err := e.c.AddGroupMember(ownerCtx, &directoryv1.AddGroupMemberRequest{Group: org + "/groups/administrators", Member: dan.GetName()}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.CreateUser(danCtx, &directoryv1.CreateUserRequest{Parent: org, User: &directoryv1.User{Nickname: "eve", Email: "eve@x.example"}}); err != nil {
		t.Fatalf("Administrators member creating a user: %v", err)
	}

	// Out of Administrators again: the right goes with the membership.
	if _, err := e.c.RemoveGroupMember(ownerCtx, &directoryv1.RemoveGroupMemberRequest{Group: org + "/groups/administrators", Member: dan.GetName()}); err != nil {
		t.Fatal(err)
	}
	_, err = e.c.CreateUser(danCtx, &directoryv1.CreateUserRequest{Parent: org, User: &directoryv1.User{Nickname: "fay", Email: "fay@x.example"}})
	wantError(t, err, codes.PermissionDenied, "PERMISSION_DENIED")
}

// TestSwitchAccountSystem (R8, R9): the switch needs confirm and the
// current etag, deletes every user but the owner with one event each plus
// the switch event, atomically; afterwards people sign in through the OIDC
// issuer, and a first sign-in whose groups map to a directory group
// provisions the user automatically.
func TestSwitchAccountSystem(t *testing.T) {
	// The issuer runs on http://127.0.0.1, which only a directory allowing
	// private issuers accepts (the local suite's -oidc-allow-private-issuers).
	e := privateIssuerEnv(t, nil)
	su := e.signUp()
	org := su.GetOrganization().GetName()
	ownerCtx := e.asOwner(su)
	for _, nick := range []string{"u1", "u2", "u3"} {
		if _, err := e.c.CreateUser(ownerCtx, &directoryv1.CreateUserRequest{Parent: org,
			User: &directoryv1.User{Nickname: nick, Email: nick + "@x.example"}}, e.svc); err != nil {
			t.Fatal(err)
		}
	}
	iss, err := oidctest.NewIssuer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(iss.Close)
	group, err := e.c.CreateGroup(ownerCtx, &directoryv1.CreateGroupRequest{Parent: org, GroupId: "finance", Group: &directoryv1.Group{DisplayName: "Finance"}}, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	target := &directoryv1.AccountSystem{Kind: directoryv1.AccountSystem_KIND_OIDC, Oidc: &directoryv1.OidcConfig{
		Issuer: iss.URL(), ClientId: "steward", GroupClaim: "groups",
		GroupMapping: map[string]string{"fin-team": group.GetName()},
	}}
	asName := org + "/accountSystem"
	as, err := e.c.GetAccountSystem(ownerCtx, &directoryv1.GetAccountSystemRequest{Name: asName}, e.svc)
	if err != nil || as.GetKind() != directoryv1.AccountSystem_KIND_LOCAL {
		t.Fatalf("GetAccountSystem = %v, %v", as, err)
	}

	_, err = e.c.SwitchAccountSystem(ownerCtx, &directoryv1.SwitchAccountSystemRequest{Name: asName, AccountSystem: target, Etag: as.GetEtag()}, e.svc)
	wantError(t, err, codes.FailedPrecondition, "ACCOUNT_SYSTEM_SWITCH_UNCONFIRMED")
	_, err = e.c.SwitchAccountSystem(ownerCtx, &directoryv1.SwitchAccountSystemRequest{Name: asName, AccountSystem: target, Etag: "stale", Confirm: true}, e.svc)
	wantError(t, err, codes.Aborted, "ETAG_MISMATCH")
	_, err = e.c.SwitchAccountSystem(ownerCtx, &directoryv1.SwitchAccountSystemRequest{Name: asName,
		AccountSystem: &directoryv1.AccountSystem{Kind: directoryv1.AccountSystem_KIND_OIDC}, Etag: as.GetEtag(), Confirm: true}, e.svc)
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("OIDC without settings: %v, want InvalidArgument", err)
	}

	before := e.eventsAfter(0)
	head := before[len(before)-1].GetSequence()
	// Two concurrent switches with the same etag: exactly one wins.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	resps := make([]*directoryv1.SwitchAccountSystemResponse, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resps[i], errs[i] = e.c.SwitchAccountSystem(ownerCtx, &directoryv1.SwitchAccountSystemRequest{Name: asName, AccountSystem: target, Etag: as.GetEtag(), Confirm: true}, e.svc)
		}()
	}
	wg.Wait()
	var resp *directoryv1.SwitchAccountSystemResponse
	for i, err := range errs {
		if err == nil {
			resp = resps[i]
		} else {
			wantError(t, err, codes.Aborted, "ETAG_MISMATCH")
		}
	}
	if resp == nil || (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("concurrent switches: %v; want exactly one success", errs)
	}
	if resp.GetDeletedUserCount() != 3 || resp.GetAccountSystem().GetKind() != directoryv1.AccountSystem_KIND_OIDC {
		t.Fatalf("switch = %v", resp)
	}
	var deleted, switched int
	for _, ev := range e.eventsAfter(head) {
		switch ev.GetType() {
		case domain.TypeUserDeleted:
			deleted++
		case domain.TypeAccountSystemSwitched:
			switched++
			if ev.GetSequence() != resp.GetSequence() {
				t.Fatalf("switch event %d, response says %d", ev.GetSequence(), resp.GetSequence())
			}
		}
	}
	if deleted != 3 || switched != 1 {
		t.Fatalf("events: %d user deletions, %d switches; want 3 and 1", deleted, switched)
	}
	users, err := e.c.ListUsers(ownerCtx, &directoryv1.ListUsersRequest{Parent: org}, e.svc)
	if err != nil || len(users.GetUsers()) != 1 || !users.GetUsers()[0].GetOwner() {
		t.Fatalf("users after the switch = %v, %v; want the owner alone", users, err)
	}

	// The owner still signs in with a password; others need the issuer.
	e.signIn(org, su.GetOwner().GetEmail(), "correct horse battery", "")
	external := func(c oidctest.Claims) (*directoryv1.SignInResponse, error) {
		raw, err := iss.Mint(c)
		if err != nil {
			t.Fatal(err)
		}
		return e.c.SignIn(context.Background(), &directoryv1.SignInRequest{Organization: org,
			Credential: &directoryv1.SignInRequest_External{External: &directoryv1.ExternalCredential{IdToken: raw}}})
	}
	_, err = external(oidctest.Claims{Subject: "stranger", Audience: "steward", Email: "s@idp.example", Groups: []string{"other"}})
	wantError(t, err, codes.PermissionDenied, "NOT_PROVISIONABLE")
	_, err = external(oidctest.Claims{Subject: "grace", Audience: "someone-else", Email: "grace@idp.example", Groups: []string{"fin-team"}})
	wantError(t, err, codes.Unauthenticated, "ID_TOKEN_INVALID")

	mark := e.eventsAfter(0)
	head = mark[len(mark)-1].GetSequence()
	in, err := external(oidctest.Claims{Subject: "grace", Audience: "steward", Email: "grace@idp.example", Name: "Grace Hopper", Groups: []string{"fin-team"}})
	if err != nil || !in.GetProvisioned() {
		t.Fatalf("first external sign-in = %v, %v; want provisioned", in, err)
	}
	grace, err := e.c.GetUser(ownerCtx, &directoryv1.GetUserRequest{Name: in.GetPrincipal()}, e.svc)
	if err != nil || grace.GetProvisioning() != directoryv1.User_PROVISIONING_AUTO || grace.GetExternalSubject() != "grace" {
		t.Fatalf("provisioned user = %v, %v", grace, err)
	}
	var messages []string
	for _, ev := range e.eventsAfter(head) {
		messages = append(messages, ev.GetAudit().GetMessage())
	}
	all := strings.Join(messages, "\n")
	for _, want := range []string{
		"User grace was automatically provisioned from the following Finance.",
		"User grace was assigned to the following Finance.",
	} {
		if !strings.Contains(all, want) {
			t.Fatalf("events lack %q:\n%s", want, all)
		}
	}
	again, err := external(oidctest.Claims{Subject: "grace", Audience: "steward", Email: "grace@idp.example", Groups: []string{"fin-team"}})
	if err != nil || again.GetProvisioned() || again.GetPrincipal() != grace.GetName() {
		t.Fatalf("second external sign-in = %v, %v", again, err)
	}
	_, err = e.c.SignIn(context.Background(), &directoryv1.SignInRequest{Organization: org,
		Credential: &directoryv1.SignInRequest_Password{Password: &directoryv1.PasswordCredential{Email: "grace@idp.example", Password: "anything at all"}}})
	if status.Code(err) == codes.OK {
		t.Fatal("password sign-in of an external user succeeded")
	}
	_, err = e.c.CreateUser(ownerCtx, &directoryv1.CreateUserRequest{Parent: org,
		User: &directoryv1.User{Nickname: "h", Email: "h@x.example"}, InitialPassword: "a long password"}, e.svc)
	wantError(t, err, codes.FailedPrecondition, "ACCOUNT_SYSTEM_MISMATCH")
}
