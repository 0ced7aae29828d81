//go:build e2e

package e2e_test

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"
)

// consoleMembersSteps drives the console's Members section (issue 16 point
// 3) as an administrator would, signed in as the owner: a department
// "Finance" under the root, two users created in it, a group "Auditors"
// with ann added, a robot account with an API key whose secret is shown
// once, and refusals said in words (the owner cannot be deleted, a default
// group cannot be deleted, a department with people cannot be deleted).
// Each result is checked on the page and through the API.
func consoleMembersSteps(c *consoleBrowser) {
	c.t.Helper()
	org := c.org

	// Departments: the root is selected at first; Finance goes under it.
	c.open("/members/departments")
	c.waitText("Users in Org ")
	c.clickText("New department")
	c.fill("Name", "Finance")
	c.clickText("Create department")
	c.waitText("Finance")
	finance := org + "/departments/finance"
	if d := c.api("GET", "/v1/"+finance, nil); d["parentDepartment"] != org+"/departments/root" {
		c.t.Fatalf("Finance: %v", d)
	}

	// Two users created from Finance's page land in Finance.
	c.clickText("Finance")
	c.waitText("Users in Finance")
	c.waitText("Nobody is in this department.")
	for _, u := range []struct{ email, nick, name string }{
		{"ann@acme.test", "ann", "Ann Lee"},
		{"bob@acme.test", "bob", "Bob Kim"},
	} {
		c.clickText("Create user")
		c.waitText("Department: Finance")
		c.fill("Email", u.email)
		c.fill("Nickname", u.nick)
		c.fill("Name", u.name)
		c.fill("Initial password", "a long initial password")
		c.clickText("Create user")
		c.waitText(u.email)
	}
	users := c.api("GET", "/v1/"+org+"/users?department="+url.QueryEscape(finance), nil)
	if got := emails(users); got != "ann@acme.test bob@acme.test" {
		c.t.Fatalf("users in Finance: %q", got)
	}
	c.shot("members-departments")

	// A department with people in it is not deleted, in words.
	c.clickText("Delete")
	c.waitText("Delete department") // the confirmation
	c.clickText("Delete")
	c.waitText("The department still holds people or departments.")
	c.clickText("Cancel")

	// The users list, filtered by the URL's query; the owner cannot be
	// deleted, in words.
	c.open("/members/users")
	c.waitText("bob@acme.test")
	c.waitText("ann@acme.test")
	c.fill("Status", "Inactive")
	c.waitText("No users match.")
	c.fill("Status", "Any")
	c.waitText("ann@acme.test")
	c.clickText("Delete Olive Owner")
	c.waitText("Delete user")
	c.clickText("Delete")
	c.waitText("The organization's owner cannot be deleted")
	c.clickText("Cancel")
	c.shot("members-users")

	// Groups: Auditors, with ann in it.
	c.open("/members/groups")
	c.waitText("Administrators")
	c.clickText("Create group")
	c.fill("Name", "Auditors")
	c.fill("Description", "Read the audit log")
	c.clickText("Create group")
	c.waitText("Read the audit log")
	c.clickText("Delete Administrators")
	c.waitText("Delete group")
	c.clickText("Delete")
	c.waitText("Default groups cannot be deleted or renamed")
	c.clickText("Cancel")
	c.clickText("Auditors")
	c.waitText("This group has no members yet.")
	c.clickText("Add member")
	c.waitText("Add members to Auditors")
	c.fill("Find a user", "ann")
	c.clickText("Add ann@acme.test")
	c.waitText("Ann Lee was added.")
	c.clickText("Done")
	c.waitText("ann@acme.test")
	members := c.api("GET", "/v1/"+org+"/groups/auditors:listMembers", nil)
	if ms, _ := members["memberships"].([]any); len(ms) != 1 || ms[0].(map[string]any)["member"] != lookupUser(c, "ann@acme.test") {
		c.t.Fatalf("Auditors' members: %v", members)
	}
	c.shot("members-groups")

	// A robot account's API key: its secret is shown once.
	c.open("/members/robots/accounts")
	c.clickText("Create robot account")
	c.fill("Name", "Invoice bot")
	c.clickText("Create robot account")
	c.clickText("Invoice bot")
	c.waitText("No API keys.")
	c.clickText("Create API key")
	c.fill("Name", "nightly")
	c.clickText("Create key")
	c.waitText("It is shown only now")
	c.clickText("Done")
	c.waitText("nightly")
	c.waitNoText("It is shown only now")
}

// emails are the emails of a ListUsers answer, sorted, space-separated.
func emails(list map[string]any) string {
	var out []string
	us, _ := list["users"].([]any)
	for _, u := range us {
		out = append(out, fmt.Sprint(u.(map[string]any)["email"]))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// lookupUser is the resource name of the user with email.
func lookupUser(c *consoleBrowser, email string) string {
	c.t.Helper()
	us, _ := c.api("GET", "/v1/"+c.org+"/users?query="+url.QueryEscape(email), nil)["users"].([]any)
	if len(us) != 1 {
		c.t.Fatalf("user %s: %v", email, us)
	}
	return fmt.Sprint(us[0].(map[string]any)["name"])
}

// TestConsoleMembers: the Members section through the browser (issue 16
// point 3).
func TestConsoleMembers(t *testing.T) {
	s := launch(t)
	c := newConsole(t, s)
	c.signUp("membersco")
	consoleMembersSteps(c)
}
