//go:build e2e

package e2e_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// consoleAccessSteps drives Manage access (issue 16 point 4) as an
// administrator would: it makes an Orchestrator service in the default
// tenant, a folder Finance and its subfolder Payables through the scope
// picker, reads a folder role's permission matrix, assigns a folder role to
// group at Finance, and checks the permissions of user (a member of group)
// at Payables: the right is there, inherited through the group from
// Finance. On the way: the tenant's platform role shown at the service
// without a Remove button, a refused removal said in words, "why not" for
// a denied permission and "who can" with its CSV. user and group are
// resource names; the organization's owner is c.owner.
func consoleAccessSteps(c *consoleBrowser, user, group string) {
	c.t.Helper()
	userName := accessDisplayName(c.api("GET", "/v1/"+user, nil))
	groupName := accessDisplayName(c.api("GET", "/v1/"+group, nil))
	tenant := c.org + "/tenants/default"
	service := tenant + "/services/orch"
	finance := service + "/folders/finance"
	payables := finance + "/folders/payables"

	// /access alone: the organization's role assignments. Removing
	// Everyone's User role there is refused, in words.
	c.open("/access")
	c.waitText("Role assignments at ")
	c.waitText("Everyone")
	c.run("remove Everyone's User", chromedp.Click(`button[aria-label="Remove User from Everyone"]`, chromedp.ByQuery))
	c.waitText("Remove the role User from Everyone")
	c.clickText("Remove")
	c.waitText("This default assignment cannot be removed.")
	c.clickText("Cancel")

	// The scope picker: the default tenant, a new Orchestrator service, a
	// folder and a subfolder, each selected once made.
	c.clickText("Default")
	c.waitText("Role assignments at Default")
	c.clickText("New service")
	c.fill("Display name", "Orchestrator")
	c.fill("ID", "orch")
	c.fill("Type", "orchestrator")
	c.clickText("Create")
	c.waitText("Service · Orchestrator")
	c.clickText("New folder")
	c.fill("Display name", "Finance")
	c.fill("ID", "finance")
	c.clickText("Create")
	c.waitText("Role assignments at Finance")
	c.clickText("New subfolder")
	c.fill("Display name", "Payables")
	c.fill("ID", "payables")
	c.clickText("Create")
	c.waitText("Role assignments at Payables")

	// The tenant's administrators are shown at its services with their
	// platform label, and cannot be removed there.
	c.api("POST", "/v1/"+c.org+"/roleAssignments", map[string]any{
		"principal": c.owner, "roles": []string{"roles/tenant-administrator"}, "scope": tenant,
	})
	c.open("/access/assignments?scope=" + service)
	c.waitText("Platform role")
	var removable bool
	c.run("platform role row", chromedp.Evaluate(`[...document.querySelectorAll("tbody tr")]
	  .filter((tr) => tr.innerText.includes("Platform role"))
	  .some((tr) => tr.querySelector("button"))`, &removable))
	if removable {
		c.t.Fatal("the platform role shown at the service has a Remove button")
	}

	// Roles at Finance: the folder roles, and one's permission matrix.
	c.open("/access/roles?scope=" + finance)
	c.waitText("Roles at Finance")
	c.clickText("Automation User")
	c.waitText("Orchestrator folders")
	c.waitText("Storage Buckets")
	c.shot("access-roles")

	// Assign Automation User to the group at Finance.
	c.clickText("Role assignments")
	c.waitText("Role assignments at Finance")
	c.clickText("Assign roles")
	c.fill("Kind", "groups")
	c.fill("Search", groupName)
	c.clickText(groupName)
	c.waitText("Choose someone else")
	c.clickText("Automation User")
	c.clickText("Assign")
	c.waitText(fmt.Sprintf("Assigned Automation User to %s at Finance.", groupName))
	c.waitText(groupName)
	c.shot("access-assignments")
	found := false
	for _, a := range accessList(c.api("GET", "/v1/"+c.org+"/roleAssignments?scope="+finance, nil), "roleAssignments") {
		found = found || (a["principal"] == group && a["role"] == "roles/automation-user")
	}
	if !found {
		c.t.Fatalf("no Automation User assignment of %s at %s", group, finance)
	}

	// Check permissions of the user at Payables: Automation User holds there,
	// through the group, from Finance.
	c.s.awaitAllowed(context.Background(), user, "orchestrator.jobs.create", payables)
	c.clickText("Payables")
	c.waitText("Role assignments at Payables")
	c.clickText("Check permissions")
	c.fill("Search", userName)
	c.clickText(userName)
	c.waitText("Where the rights come from")
	c.waitText("Finance (Folder)")
	c.waitText("Group " + groupName)
	c.waitText("Above: holds here")
	var row string
	c.run("the group's row", chromedp.Evaluate(`[...document.querySelectorAll("tbody tr")]
	  .map((tr) => tr.innerText.replace(/\s+/g, " "))
	  .find((t) => t.includes("Automation User")) || ""`, &row))
	if !strings.Contains(row, "Finance (Folder)") || !strings.Contains(row, "Group "+groupName) {
		c.t.Fatalf("the Automation User source reads %q", row)
	}
	// The matrix: Jobs can be created here, by way of that role (the
	// page is longer than waitText reads, so the cell is read directly).
	var jobs string
	c.run("the Jobs row", chromedp.Poll(`(() => {
	  const row = [...document.querySelectorAll("table.matrix tbody tr")].find((tr) => tr.querySelector("th").innerText === "Jobs");
	  return row ? row.innerText.replace(/\s+/g, " ") : "";
	})()`, &jobs))
	if !strings.HasPrefix(jobs, "Jobs ✓") || strings.Count(jobs, "✓") != 3 {
		c.t.Fatalf("the Jobs row of the matrix reads %q", jobs)
	}
	c.shot("access-check")

	// Why not: a denied permission, and the grants that would allow it.
	c.fill("Resource", "orchestrator.settings")
	c.fill("Action", "edit")
	c.clickText("Check")
	c.waitText("Not allowed.")
	c.waitText("What would allow it")

	// Who can create jobs at Payables: the user, through the group; as CSV too.
	c.clickText("Who can")
	c.fill("Resource", "orchestrator.jobs")
	c.fill("Action", "create")
	c.waitText(userName)
	c.waitText("through group " + groupName)
	name, body := c.download(func() { c.clickText("Download CSV") })
	csv := string(body)
	if !strings.HasSuffix(name, ".csv") {
		c.t.Fatalf("who-can download named %q, want a .csv", name)
	}
	if !strings.Contains(csv, user) || !strings.Contains(csv, groupName) {
		c.t.Fatalf("the who-can CSV does not list %s through %s:\n%s", user, groupName, csv)
	}
}

// accessDisplayName is a principal's display name, or its nickname.
func accessDisplayName(p map[string]any) string {
	if s, _ := p["displayName"].(string); s != "" {
		return s
	}
	s, _ := p["nickname"].(string)
	return s
}

// accessList is the objects of a list response's key.
func accessList(resp map[string]any, key string) []map[string]any {
	var out []map[string]any
	items, _ := resp[key].([]any)
	for _, it := range items {
		if m, ok := it.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// TestConsoleAccess: Manage access through the console (issue 16 point 4),
// with a user in a custom group made through the API.
func TestConsoleAccess(t *testing.T) {
	s := launch(t)
	c := newConsole(t, s)
	c.signUp("accessco")
	user := c.api("POST", "/v1/"+c.org+"/users", map[string]any{
		"userId": "john",
		"user":   map[string]any{"nickname": "john", "email": "john@accessco.test", "displayName": "John Smith"},
	})["name"].(string)
	group := c.api("POST", "/v1/"+c.org+"/groups?groupId=finance-ops", map[string]any{"displayName": "Finance Ops"})["name"].(string)
	c.api("POST", "/v1/"+group+":addMember", map[string]any{"member": user})
	consoleAccessSteps(c, user, group)
}
