//go:build e2e

package e2e_test

import (
	"strings"
	"testing"

	"steward.dev/services/directory/oidcauth/oidctest"
)

// TestConsoleExternalSignIn: an organization on OIDC is signed in to from
// the console through its identity provider (issue 16 point 2): the
// sign-in page learns the provider from the organization's ID, its button
// sends the browser to the provider's authorization endpoint, and the
// provider's answer (state and nonce checked) becomes a session. An answer
// this tab did not ask for is refused.
func TestConsoleExternalSignIn(t *testing.T) {
	s := launch(t)
	c := newConsole(t, s)
	c.signUp("extco")
	iss, err := oidctest.NewIssuer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(iss.Close)
	as := c.api("GET", "/v1/"+c.org+"/accountSystem", nil)
	c.api("POST", "/v1/"+c.org+"/accountSystem:switch", map[string]any{
		"confirm": true, "etag": as["etag"],
		"accountSystem": map[string]any{"kind": "KIND_OIDC", "oidc": map[string]any{"issuer": iss.URL(), "clientId": "steward-console"}},
	})
	dana := c.api("POST", "/v1/"+c.org+"/users", map[string]any{
		"userId": "dana",
		"user":   map[string]any{"nickname": "dana", "email": "dana@idp.test", "displayName": "Dana External", "externalSubject": "dana-sub"},
	})["name"].(string)
	iss.SignInBrowserAs(oidctest.Claims{Subject: "dana-sub", Email: "dana@idp.test", Name: "Dana External"})

	c.clickText("Sign out")
	c.waitText("Sign in to Steward")
	c.fill("Organization ID", "extco")
	host := strings.TrimPrefix(iss.URL(), "http://")
	c.waitText("Sign in with " + host)
	c.checkAccessible("sign-in page with an identity provider")
	c.shot("signin-external")
	c.clickText("Sign in with " + host)
	c.waitText("Manage access")
	c.waitText("Dana External")
	if got := c.api("GET", "/v1/"+dana, nil); got["name"] != dana {
		t.Fatalf("dana's session reads %v", got)
	}

	// A callback this tab never started is refused, in words.
	c.clickText("Sign out")
	c.waitText("Sign in to Steward")
	c.open("/signin/callback#id_token=x.e30.x&state=forged")
	c.waitText("This sign-in was not started here")
}
