package directory_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/services/directory/oidcauth/oidctest"
)

// TestGetSignInOptions (R8, R9; issue 16's sign-in through the identity
// provider): anyone, signed in or not, learns how to sign in to an
// organization. Local accounts and an organization that does not exist get
// the same answer; an organization on OIDC gives its issuer, the
// authorization endpoint from the issuer's discovery document and
// Steward's client ID there, and nothing secret.
func TestGetSignInOptions(t *testing.T) {
	e := privateIssuerEnv(t, nil)
	su := e.signUp()
	org := su.GetOrganization().GetName()
	ownerCtx := e.asOwner(su)
	anonymous := context.Background()

	local := &directoryv1.SignInOptions{Kind: directoryv1.AccountSystem_KIND_LOCAL}
	for _, name := range []string{org, "organizations/no-such-org"} {
		got, err := e.c.GetSignInOptions(anonymous, &directoryv1.GetSignInOptionsRequest{Organization: name})
		if err != nil || !proto.Equal(got, local) {
			t.Fatalf("GetSignInOptions(%s) = %v, %v; want %v", name, got, err, local)
		}
	}
	if _, err := e.c.GetSignInOptions(anonymous, &directoryv1.GetSignInOptionsRequest{Organization: "Not/A/Name"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("GetSignInOptions(Not/A/Name) = %v, want InvalidArgument", err)
	}

	iss, err := oidctest.NewIssuer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(iss.Close)
	asName := org + "/accountSystem"
	as, err := e.c.GetAccountSystem(ownerCtx, &directoryv1.GetAccountSystemRequest{Name: asName}, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.SwitchAccountSystem(ownerCtx, &directoryv1.SwitchAccountSystemRequest{Name: asName, Etag: as.GetEtag(), Confirm: true,
		AccountSystem: &directoryv1.AccountSystem{Kind: directoryv1.AccountSystem_KIND_OIDC, Oidc: &directoryv1.OidcConfig{
			Issuer: iss.URL(), ClientId: "steward-console"}}}, e.svc); err != nil {
		t.Fatal(err)
	}
	got, err := e.c.GetSignInOptions(anonymous, &directoryv1.GetSignInOptionsRequest{Organization: org})
	if err != nil {
		t.Fatal(err)
	}
	want := &directoryv1.SignInOptions{Kind: directoryv1.AccountSystem_KIND_OIDC, Issuer: iss.URL(),
		AuthorizationEndpoint: iss.URL() + "/authorize", ClientId: "steward-console", Scopes: []string{"openid", "email", "profile"}}
	if !proto.Equal(got, want) {
		t.Fatalf("GetSignInOptions on OIDC = %v, want %v", got, want)
	}

	// An identity provider that cannot be reached says so, and no more.
	iss.Close()
	e2 := privateIssuerEnv(t, nil) // a directory that has not discovered it yet
	su2 := e2.signUp()
	org2 := su2.GetOrganization().GetName()
	as2, err := e2.c.GetAccountSystem(e2.asOwner(su2), &directoryv1.GetAccountSystemRequest{Name: org2 + "/accountSystem"}, e2.svc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e2.c.SwitchAccountSystem(e2.asOwner(su2), &directoryv1.SwitchAccountSystemRequest{Name: org2 + "/accountSystem", Etag: as2.GetEtag(), Confirm: true,
		AccountSystem: &directoryv1.AccountSystem{Kind: directoryv1.AccountSystem_KIND_OIDC, Oidc: &directoryv1.OidcConfig{Issuer: iss.URL(), ClientId: "steward"}}}, e2.svc); err != nil {
		t.Fatal(err)
	}
	if _, err := e2.c.GetSignInOptions(anonymous, &directoryv1.GetSignInOptionsRequest{Organization: org2}); status.Code(err) != codes.Unavailable {
		t.Fatalf("GetSignInOptions with the identity provider down = %v, want Unavailable", err)
	}
}
