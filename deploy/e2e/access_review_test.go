//go:build e2e

package e2e_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	directoryv1 "steward.dev/gen/steward/directory/v1"
)

// arHolders is ListPermissionHolders' JSON answer.
type arHolders struct {
	Holders, Inactive []struct {
		Principal string
		Sources   []struct{ Role, Scope, Group string }
	}
	NextPageToken string
}

// names returns the holders' principal names.
func (h arHolders) names() []string {
	var out []string
	for _, x := range h.Holders {
		out = append(out, x.Principal)
	}
	return out
}

// TestAccessReview is issue 14 through the real binaries and the JSON
// gateway: who holds users.edit at the organization (the owner, and a user
// through the Administrators group while a member), where the owner holds
// it, why a user is refused and whom to ask, the CSV download, and the
// same questions as of a moment before the user left Administrators.
func TestAccessReview(t *testing.T) {
	s := launch(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := s.signUpOrg(ctx, "reviewed")
	owner := withBearer(ctx, o.token)
	dir := directoryv1.NewDirectoryServiceClient(s.dial("directory"))
	u, err := dir.CreateUser(owner, &directoryv1.CreateUserRequest{Parent: o.org, UserId: "ann",
		User: &directoryv1.User{Nickname: "ann", Email: "ann@reviewed.example"}, InitialPassword: "a long enough password"})
	if err != nil {
		t.Fatal(err)
	}
	ann, admins := u.GetName(), o.org+"/groups/administrators"
	if _, err := dir.AddGroupMember(owner, &directoryv1.AddGroupMemberRequest{Group: admins, Member: ann}); err != nil {
		t.Fatal(err)
	}
	s.awaitAllowed(ctx, ann, "users.edit", o.org)

	holders := func(query string) arHolders {
		t.Helper()
		var h arHolders
		must200(t, gatewayCall(t, s, http.MethodGet, "/v1/"+o.org+":listPermissionHolders?permission=users.edit"+query, nil, o.token, &h), "listPermissionHolders")
		return h
	}
	before := holders("")
	if got := before.names(); !slices.Contains(got, o.owner) || !slices.Contains(got, ann) {
		t.Fatalf("holders of users.edit = %q, want the owner and ann", got)
	}
	for _, h := range before.Holders {
		if h.Principal == ann && (len(h.Sources) != 1 || h.Sources[0].Group != admins || h.Sources[0].Role != "roles/organization-administrator") {
			t.Errorf("ann's sources = %+v, want Organization Administrator through Administrators", h.Sources)
		}
	}
	moment := time.Now().UTC()

	if _, err := dir.RemoveGroupMember(owner, &directoryv1.RemoveGroupMemberRequest{Group: admins, Member: ann}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for slices.Contains(holders("").names(), ann) {
		if time.Now().After(deadline) {
			t.Fatal("ann still holds users.edit 10s after leaving Administrators")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// As of the moment before, ann was a holder.
	then := holders("&asOf.time=" + url.QueryEscape(moment.Format(time.RFC3339Nano)))
	if got := then.names(); !slices.Equal(got, before.names()) {
		t.Errorf("holders as of %s = %q, want %q", moment, got, before.names())
	}
	// A moment in the future is refused with the field.
	if r := s.httpCall(http.MethodGet, "/v1/"+o.org+":listPermissionHolders?permission=users.edit&asOf.time="+url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339)), nil, "Bearer "+o.token); r.code != http.StatusBadRequest || !strings.Contains(string(r.body), "as_of") {
		t.Errorf("as_of in the future: HTTP %d %s", r.code, r.body)
	}

	// Where the owner holds users.edit: the organization and below.
	var scopes struct{ Scopes []struct{ Scope string } }
	must200(t, gatewayCall(t, s, http.MethodGet, "/v1/"+o.owner+":listPermittedScopes?permission=users.edit&scope="+url.QueryEscape(o.org), nil, o.token, &scopes), "listPermittedScopes")
	if len(scopes.Scopes) == 0 || scopes.Scopes[0].Scope != o.org {
		t.Errorf("owner's scopes for users.edit = %+v, want the organization first", scopes.Scopes)
	}

	// Why not: ann is refused users.edit now; Organization Administrator
	// at the organization would allow it, and the owner may grant it.
	var check struct {
		Allowed        bool
		PossibleGrants []struct {
			Scope string
			Roles []struct {
				Role     string
				Grantors []string
			}
		}
	}
	must200(t, gatewayCall(t, s, http.MethodPost, "/v1/"+ann+":checkPermission", map[string]any{"permission": "users.edit", "scope": o.org, "explain": true}, o.token, &check), "checkPermission")
	if check.Allowed || len(check.PossibleGrants) != 1 || check.PossibleGrants[0].Scope != o.org {
		t.Fatalf("why not: %+v", check)
	}
	var oa []string
	for _, r := range check.PossibleGrants[0].Roles {
		if r.Role == "roles/organization-administrator" {
			oa = r.Grantors
		}
	}
	if !slices.Contains(oa, o.owner) {
		t.Errorf("Organization Administrator's grantors = %q, want the owner", oa)
	}

	// The CSV download.
	r := s.httpCall(http.MethodGet, "/v1/"+o.org+":exportPermissionHolders?permission=users.edit", nil, "Bearer "+o.token)
	if r.code != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(r.header.Get("Content-Disposition"), "permission-holders-users.edit.csv") ||
		!strings.HasPrefix(string(r.body), "Principal ID,") || !strings.Contains(string(r.body), o.owner+",user,") {
		t.Errorf("export: HTTP %d %v %s", r.code, r.header, r.body)
	}
}
