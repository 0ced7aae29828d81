package directory_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/accesstoken"
	"steward.dev/services/directory/domain"
)

// fakeClock is a settable clock for domain.Options.Clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// verifyToken asks VerifyCredential about tok as a service.
func (e *env) verifyToken(tok string) (*directoryv1.VerifyCredentialResponse, error) {
	return e.c.VerifyCredential(context.Background(), &directoryv1.VerifyCredentialRequest{
		Credential: &directoryv1.VerifyCredentialRequest_AccessToken{AccessToken: tok}}, e.svc)
}

// TestReactivationDoesNotReviveSessions (issue 9 item 4): deactivating a
// user ends its sessions for good: after a reactivation the tokens issued
// before are still refused, new sign-ins work. Deleting a user ends them
// too, and the token carries the session generation it was issued at.
func TestReactivationDoesNotReviveSessions(t *testing.T) {
	e := newEnv(t)
	su := e.signUp()
	org := su.GetOrganization().GetName()
	owner := e.asOwner(su)
	bob, err := e.c.CreateUser(owner, &directoryv1.CreateUserRequest{Parent: org, UserId: "bob",
		User: &directoryv1.User{Nickname: "bob", Email: "bob@x.example"}, InitialPassword: "bob's long password"}, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	signIn := func() string { return e.signIn(org, "bob@x.example", "bob's long password", "").GetAccessToken() }
	first := signIn()
	if _, err := e.verifyToken(first); err != nil {
		t.Fatalf("fresh token: %v", err)
	}
	deactivate := func() {
		t.Helper()
		if _, err := e.c.DeactivateUser(owner, &directoryv1.DeactivateUserRequest{Name: bob.GetName()}, e.svc); err != nil {
			t.Fatal(err)
		}
	}
	activate := func() {
		t.Helper()
		if _, err := e.c.ActivateUser(owner, &directoryv1.ActivateUserRequest{Name: bob.GetName()}, e.svc); err != nil {
			t.Fatal(err)
		}
	}
	deactivate()
	_, err = e.verifyToken(first)
	wantError(t, err, codes.Unauthenticated, "INVALID_CREDENTIALS")
	activate()
	_, err = e.verifyToken(first)
	wantError(t, err, codes.Unauthenticated, "INVALID_CREDENTIALS") // revived on main
	second := signIn()
	if _, err := e.verifyToken(second); err != nil {
		t.Fatalf("token after the reactivation: %v", err)
	}
	if c := claimsOf(t, e, second); c.SessionGeneration != 1 {
		t.Errorf("sgen of the token after one deactivation = %d, want 1", c.SessionGeneration)
	}
	// Deactivating an inactive user again ends nothing more; a second
	// cycle ends the second session.
	deactivate()
	deactivate()
	activate()
	_, err = e.verifyToken(second)
	wantError(t, err, codes.Unauthenticated, "INVALID_CREDENTIALS")
	if c := claimsOf(t, e, signIn()); c.SessionGeneration != 2 {
		t.Errorf("sgen after two deactivations = %d, want 2", c.SessionGeneration)
	}
}

// claimsOf returns the claims of a token e signed, verified with e's
// published keys.
func claimsOf(t *testing.T, e *env, raw string) accesstoken.Claims {
	t.Helper()
	c, err := jwksOf(t, e).Verify(raw, time.Now())
	if err != nil {
		t.Fatalf("token does not verify with the published keys: %v", err)
	}
	return c
}

// jwksOf returns a KeySet of e's published keys.
func jwksOf(t *testing.T, e *env) *accesstoken.KeySet {
	t.Helper()
	resp, err := e.c.GetJwks(context.Background(), &directoryv1.GetJwksRequest{})
	if err != nil {
		t.Fatal(err)
	}
	ks, err := accesstoken.NewKeySet(accesstoken.Issuer, accesstoken.Audience, jwksFromProto(resp))
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func jwksFromProto(resp *directoryv1.GetJwksResponse) []accesstoken.JWK {
	var out []accesstoken.JWK
	for _, k := range resp.GetKeys() {
		out = append(out, accesstoken.JWK{Kty: k.GetKty(), Crv: k.GetCrv(), X: k.GetX(), Kid: k.GetKid(), Alg: k.GetAlg(), Use: k.GetUse()})
	}
	return out
}

// kidOf returns the key ID a token names.
func kidOf(t *testing.T, raw string) string {
	t.Helper()
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Headers[0].KeyID
}

// TestCredentialErrorsFixed (issue 9 item 8): a refused credential gets a
// fixed message, through VerifyCredential and on an ordinary call: never
// the library's words or a key ID.
func TestCredentialErrorsFixed(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	e := newEnvWith(t, domain.Options{Clock: clock.Now})
	su := e.signUp()
	org := su.GetOrganization().GetName()
	owner := e.asOwner(su)
	jwks, err := e.c.GetJwks(context.Background(), &directoryv1.GetJwksRequest{})
	if err != nil {
		t.Fatal(err)
	}
	kid := jwks.GetKeys()[0].GetKid()
	other, err := accesstoken.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	claims := accesstoken.Claims{Subject: su.GetOwner().GetName(), Organization: org, Kind: accesstoken.KindUser,
		IssuedAt: clock.Now(), Expiry: clock.Now().Add(time.Minute)}
	forge := func(k accesstoken.Key) string {
		s, err := accesstoken.NewSigner(accesstoken.Issuer, accesstoken.Audience, k)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := s.Sign(claims)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	if _, err := e.c.CreateUser(owner, &directoryv1.CreateUserRequest{Parent: org, UserId: "gone",
		User: &directoryv1.User{Nickname: "gone", Email: "gone@x.example"}, InitialPassword: "gone's long password"}, e.svc); err != nil {
		t.Fatal(err)
	}
	goneTok := e.signIn(org, "gone@x.example", "gone's long password", "").GetAccessToken()
	if _, err := e.c.DeleteUser(owner, &directoryv1.DeleteUserRequest{Name: org + "/users/gone"}, e.svc); err != nil {
		t.Fatal(err)
	}
	ra, err := e.c.CreateRobotAccount(owner, &directoryv1.CreateRobotAccountRequest{Parent: org, RobotAccountId: "ci",
		RobotAccount: &directoryv1.RobotAccount{DisplayName: "CI"}}, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	key := prCreateKey(t, e, owner, ra.GetName(), "deploy")
	if _, err := e.c.RevokeApiKey(owner, &directoryv1.RevokeApiKeyRequest{Name: key.GetApiKey().GetName()}, e.svc); err != nil {
		t.Fatal(err)
	}
	expiring := e.signIn(org, su.GetOwner().GetEmail(), "correct horse battery", "").GetAccessToken()

	for _, tc := range []struct {
		name, credential string
		before           func()
	}{
		{"garbage", "x.y.z", nil},
		{"another key", forge(other), nil},
		{"another key under the directory's kid", forge(accesstoken.Key{ID: kid, Private: other.Private}), nil},
		{"deleted user", goneTok, nil},
		{"revoked API key", key.GetSecret(), nil},
		{"expired", expiring, func() { clock.Add(time.Hour) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before()
			}
			req := &directoryv1.VerifyCredentialRequest{Credential: &directoryv1.VerifyCredentialRequest_AccessToken{AccessToken: tc.credential}}
			if strings.HasPrefix(tc.credential, "stwk_") {
				req.Credential = &directoryv1.VerifyCredentialRequest_ApiKey{ApiKey: tc.credential}
			}
			_, viaVerify := e.c.VerifyCredential(context.Background(), req, e.svc)
			_, viaCall := e.c.GetOrganization(bearer(tc.credential), &directoryv1.GetOrganizationRequest{Name: org})
			for _, err := range []error{viaVerify, viaCall} {
				msg := status.Convert(err).Message()
				if status.Code(err) != codes.Unauthenticated || !strings.HasSuffix(msg, "invalid credentials") && !strings.HasSuffix(msg, "the API key is revoked or expired") {
					t.Errorf("error = %v, want Unauthenticated with a fixed message", err)
				}
				for _, leak := range []string{"jose", "jwt", kid, other.ID, "expired (exp)", "gone"} {
					if strings.Contains(msg, leak) {
						t.Errorf("message %q names %q", msg, leak)
					}
				}
			}
		})
	}
}

// TestRotateSigningKeys (issue 9 item 9): RotateSigningKeys is internal;
// it makes the published next key the signing key, keeps the retired key
// published (its tokens still verify) and publishes a new next key; it is
// audited without naming keys; a retired key is dropped once its last
// token has expired.
func TestRotateSigningKeys(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	e := newEnvWith(t, domain.Options{Clock: clock.Now, TokenTTL: 10 * time.Minute})
	su := e.signUp()
	org := su.GetOrganization().GetName()
	signIn := func() string {
		return e.signIn(org, su.GetOwner().GetEmail(), "correct horse battery", "").GetAccessToken()
	}
	kids := func() []string {
		resp, err := e.c.GetJwks(context.Background(), &directoryv1.GetJwksRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, k := range resp.GetKeys() {
			out = append(out, k.GetKid())
		}
		return out
	}
	userTok := signIn()
	_, err := e.c.RotateSigningKeys(bearer(userTok), &directoryv1.RotateSigningKeysRequest{})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("RotateSigningKeys by a user: %v, want PermissionDenied (internal)", err)
	}

	before := kids()
	if len(before) != 2 || kidOf(t, userTok) != before[0] {
		t.Fatalf("JWKS = %v, token kid %s; want the signing key and the next key", before, kidOf(t, userTok))
	}
	head := prHead(e)
	resp, err := e.c.RotateSigningKeys(context.Background(), &directoryv1.RotateSigningKeysRequest{}, e.svc)
	if err != nil || !resp.GetRotateTime().AsTime().Equal(clock.Now()) {
		t.Fatalf("RotateSigningKeys = %v, %v", resp, err)
	}
	after := kids()
	if len(after) != 3 || after[0] != before[1] || !slices.Contains(after, before[0]) {
		t.Fatalf("JWKS after a rotation = %v, want [%s, new next, %s]", after, before[1], before[0])
	}
	if _, err := e.verifyToken(userTok); err != nil {
		t.Errorf("token of the retired key: %v", err)
	}
	if kid := kidOf(t, signIn()); kid != before[1] {
		t.Errorf("new token signed with %s, want the former next key %s", kid, before[1])
	}
	events := e.eventsAfter(head)
	if len(events) == 0 || events[0].GetType() != domain.TypeSigningKeysRotated {
		t.Fatalf("events = %v, want %s first", events, domain.TypeSigningKeysRotated)
	}
	for _, kid := range after {
		if strings.Contains(events[0].String(), kid) {
			t.Errorf("rotation event names key %s", kid)
		}
	}

	// Once every token of the first key has expired (10 min + 1 min
	// margin), the next rotation drops it.
	clock.Add(11*time.Minute + time.Second)
	if _, err := e.c.RotateSigningKeys(context.Background(), &directoryv1.RotateSigningKeysRequest{}, e.svc); err != nil {
		t.Fatal(err)
	}
	if got := kids(); len(got) != 3 || slices.Contains(got, before[0]) || got[0] != after[1] {
		t.Errorf("JWKS after the second rotation = %v, want [%s, new next, %s] without %s", got, after[1], after[0], before[0])
	}
}
