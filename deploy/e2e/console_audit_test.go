//go:build e2e

package e2e_test

import (
	"strings"
	"testing"
	"time"
)

// consoleAuditSteps drives the Audit log (issue 16 point 6): a search for
// user creations through the form lists them (audit ingests
// asynchronously, so the search is repeated until they are there), an
// event's detail opens, the CSV download of the same filter names them, and
// the log verifies against its latest signed checkpoint.
func consoleAuditSteps(c *consoleBrowser, user string) {
	c.t.Helper()
	c.open("/audit")
	c.fill("Action", "user.created")
	deadline := time.Now().Add(stepTimeout)
	for {
		c.clickText("Search")
		if strings.Contains(c.fullText(), user) {
			break
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no creation of %s in the audit log; page:\n%s", user, c.pageText())
		}
		time.Sleep(300 * time.Millisecond)
	}
	c.shot("audit-search")

	c.clickText("user.created")
	c.waitText(`"action": "user.created"`)
	c.clickText("Close")

	name, csv := c.download(func() { c.clickText("Download CSV") })
	if !strings.HasSuffix(name, ".csv") || !strings.Contains(string(csv), "user.created") || !strings.Contains(string(csv), user) {
		c.t.Fatalf("audit CSV %s:\n%s", name, csv)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(csv)), "\n")[1:] {
		if !strings.Contains(line, "user.created") {
			c.t.Fatalf("the CSV ignores the filter: %q", line)
		}
	}

	// The checkpointer signs what audit ingested; the page verifies the
	// events against it when it opens, and again on demand.
	deadline = time.Now().Add(stepTimeout)
	for {
		c.waitNoText("Verifying…")
		text := c.fullText()
		if strings.Contains(text, "Not verified") {
			c.t.Fatalf("the audit log does not verify:\n%s", c.pageText())
		}
		if strings.Contains(text, "Verified") && !strings.Contains(text, "0 events match") {
			break
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no verified checkpoint; page:\n%s", c.pageText())
		}
		time.Sleep(500 * time.Millisecond)
		c.clickText("Verify again")
	}
}

// TestConsoleAudit: the Audit log section through the browser (issue 16
// point 6).
func TestConsoleAudit(t *testing.T) {
	s := launch(t, "-service-flag", "audit=-checkpoint-interval=1s")
	c := newConsole(t, s)
	c.signUp("auditco")
	c.api("POST", "/v1/"+c.org+"/users", map[string]any{
		"userId": "ann",
		"user":   map[string]any{"nickname": "ann", "email": "ann@auditco.test", "displayName": "Ann Lee"},
	})
	consoleAuditSteps(c, c.org+"/users/ann")
}
