package directory_test

import (
	"testing"

	"google.golang.org/grpc/codes"

	directoryv1 "steward.dev/gen/steward/directory/v1"
)

// Issue 9 item 8: request_ids are the caller's own. A member replaying
// another member's request ID (with the same request) gets a create of
// their own, not the other's stored response; with another request, no
// REQUEST_ID_REUSED either; the first member's retries still replay. (Before,
// the scope was the organization: the second member got the first one's
// group.)
func TestRequestIDScopedToCaller(t *testing.T) {
	e := newEnv(t)
	su := e.signUp()
	org := su.GetOrganization().GetName()
	user := func(nick string) string {
		u, err := e.c.CreateUser(e.asOwner(su), &directoryv1.CreateUserRequest{Parent: org,
			User: &directoryv1.User{Nickname: nick, Email: nick + "@x.example"}, InitialPassword: nick + "'s long password"}, e.svc)
		if err != nil {
			t.Fatal(err)
		}
		return u.GetName()
	}
	alice, bob, carol := e.as(user("alice"), org), e.as(user("bob"), org), e.as(user("carol"), org)
	const requestID = "7f3e2d1c-0b9a-4876-a543-210fedcba987"
	req := &directoryv1.CreateGroupRequest{Parent: org, RequestId: requestID, Group: &directoryv1.Group{DisplayName: "Finance"}}

	first, err := e.c.CreateGroup(alice, req, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := e.c.CreateGroup(bob, req, e.svc)
	if err != nil {
		t.Fatalf("bob with alice's request ID: %v", err)
	}
	if theirs.GetName() == first.GetName() {
		t.Fatalf("bob got alice's stored response %s", first.GetName())
	}
	sales, err := e.c.CreateGroup(carol, &directoryv1.CreateGroupRequest{Parent: org, RequestId: requestID,
		Group: &directoryv1.Group{DisplayName: "Sales"}}, e.svc)
	if err != nil || sales.GetDisplayName() != "Sales" {
		t.Fatalf("carol with alice's request ID and another request = %v, %v; want her Sales group", sales, err)
	}
	again, err := e.c.CreateGroup(alice, req, e.svc)
	if err != nil || again.GetName() != first.GetName() {
		t.Fatalf("alice's retry = %v, %v; want her group %s", again, err, first.GetName())
	}
	_, err = e.c.CreateGroup(alice, &directoryv1.CreateGroupRequest{Parent: org, RequestId: requestID,
		Group: &directoryv1.Group{DisplayName: "Sales"}}, e.svc)
	wantError(t, err, codes.Aborted, "REQUEST_ID_REUSED")
}
