//go:build e2e

package e2e_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"google.golang.org/protobuf/types/known/timestamppb"

	licensingv1 "steward.dev/gen/steward/licensing/v1"
)

// consoleLicensesSteps drives Licenses (issue 16 point 5) as an
// administrator would: the trial pools given at sign-up are listed, a seat
// of the Professional robot pool is assigned to user (a resource name)
// through the Assign dialog, the usage now shows it assigned, a batch on a
// Professional pool goes through, and taking the seat back asks first.
func consoleLicensesSteps(c *consoleBrowser, user string) {
	c.t.Helper()
	u := c.api("GET", "/v1/"+user, nil)
	email, _ := u["email"].(string)
	pool := c.org + "/licensePools/trial-robot"

	// The trial pools reach licensing from the directory's log.
	deadline := time.Now().Add(stepTimeout)
	for !strings.Contains(fmt.Sprint(c.api("GET", "/v1/"+c.org+"/licensePools", nil)), pool) {
		if time.Now().After(deadline) {
			c.t.Fatalf("no trial pool %s", pool)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.open("/licenses")
	c.waitText("Trial Professional robot")

	c.clickText("Assignments")
	c.waitText("No seat is assigned.")
	c.clickText("Assign license")
	c.waitText("Nobody chosen yet.")
	c.fill("Pool", pool)
	c.fill("Search", email)
	c.clickText(accessDisplayName(u))
	c.clickText("Assign")
	c.waitText("Assigned ")
	c.waitText(email)
	got := c.api("GET", "/v1/"+c.org+"/licenseAssignments?pool="+url.QueryEscape(pool), nil)
	if !strings.Contains(fmt.Sprint(got), user) {
		c.t.Fatalf("assignments of %s: %v", pool, got)
	}
	c.shot("licenses-assignments")

	// Usage now: one of the two seats assigned, one free.
	c.clickText("Usage")
	c.waitText("Usage now")
	c.waitText("trial-robot")
	c.waitText("Trend")
	usage := c.api("GET", "/v1/"+c.org+"/licenseUsage", nil)
	for _, p := range usage["pools"].([]any) {
		p := p.(map[string]any)
		if p["pool"] == pool && fmt.Sprint(p["assigned"]) != "1" {
			c.t.Fatalf("usage of %s: %v", pool, p)
		}
	}
	var row string
	c.run("usage row", chromedp.Evaluate(`[...document.querySelectorAll("tr")].map((r) => r.innerText).find((t) => t.includes("trial-robot")) || ""`, &row))
	if fields := strings.Fields(row); len(fields) < 4 || fields[len(fields)-3] != "1" || fields[len(fields)-1] != "1" {
		c.t.Fatalf("usage row of trial-robot = %q, want 2 seats, 1 assigned, 0 leased, 1 free", row)
	}

	// A batch: both editor seats at once, to the user and the owner.
	editor := c.org + "/licensePools/trial-editor"
	c.clickText("Assignments")
	c.waitText(email)
	c.clickText("Batch assign")
	c.waitText("Nobody chosen yet.")
	c.fill("Pool", editor)
	c.fill("Search", email)
	c.clickText(accessDisplayName(u))
	c.fill("Search", c.email)
	c.clickText("Olive Owner")
	c.clickText("Assign to all")
	c.waitText("to Ann Lee, Olive Owner.")
	if got := c.api("GET", "/v1/"+c.org+"/licenseAssignments?pool="+url.QueryEscape(editor), nil); len(got["licenseAssignments"].([]any)) != 2 {
		c.t.Fatalf("assignments of %s after the batch: %v", editor, got)
	}

	// A batch on a pool that is not Professional is refused, in words,
	// and assigns nobody. Pools come from the operator.
	basic := c.org + "/licensePools/basic-robot"
	lic := licensingv1.NewLicensingServiceClient(c.s.dial("licensing"))
	if _, err := lic.CreateLicensePool(c.s.asService(context.Background(), "operator"), &licensingv1.CreateLicensePoolRequest{
		Parent: c.org, LicensePoolId: "basic-robot", LicensePool: &licensingv1.LicensePool{DisplayName: "Basic robots",
			Product: licensingv1.Product_PRODUCT_ROBOT, Edition: "basic", Model: licensingv1.LicenseModel_LICENSE_MODEL_NAMED, Quantity: 5,
			ValidUntil: timestamppb.New(time.Now().Add(24 * time.Hour))}}); err != nil {
		c.t.Fatalf("operator creating a basic pool: %v", err)
	}
	c.open("/licenses/assignments")
	c.clickText("Batch assign")
	c.waitText("Nobody chosen yet.")
	c.fill("Pool", basic)
	c.fill("Search", email)
	c.clickText(accessDisplayName(u))
	c.clickText("Assign to all")
	c.waitText("Only Professional licenses can be assigned in a batch.")
	c.clickText("Close")
	if got := c.api("GET", "/v1/"+c.org+"/licenseAssignments?pool="+url.QueryEscape(basic), nil); len(got["licenseAssignments"].([]any)) != 0 {
		c.t.Fatalf("a refused batch assigned: %v", got)
	}

	// A lease in use (the owner's editor, on its seat from the batch) is
	// forced to end from the console, after a confirmation.
	c.api("POST", "/v1/"+c.org+"/leases:acquire", map[string]any{"principal": c.owner, "client": "PRODUCT_EDITOR", "machine": "olive-laptop"})
	// The lease is in the usage now and in the trend's chart.
	c.clickText("Usage")
	c.waitText("Usage now")
	c.run("the trend's chart", chromedp.WaitVisible(`svg.chart polyline`, chromedp.ByQuery))
	c.shot("licenses-usage")
	c.clickText("Leases in use")
	c.waitText("olive-laptop")
	c.clickText("Force release")
	c.waitText("End the lease of")
	c.clickText("Force release")
	c.waitText("No lease is held.")
	c.clickText("Assignments")

	// Taking the seat back asks first.
	c.clickText("Unassign")
	c.waitText("Take back")
	c.clickText("Cancel")
	c.waitText(email)
}

// TestConsoleLicenses: the Licenses section through the browser (issue 16
// point 5).
func TestConsoleLicenses(t *testing.T) {
	s := launch(t)
	c := newConsole(t, s)
	c.signUp("licco")
	user := c.api("POST", "/v1/"+c.org+"/users", map[string]any{
		"userId": "ann",
		"user":   map[string]any{"nickname": "ann", "email": "ann@licco.test", "displayName": "Ann Lee"},
	})["name"].(string)
	consoleLicensesSteps(c, user)
}
