//go:build e2e

package e2e_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	accessv1 "steward.dev/gen/steward/access/v1"
	auditv1 "steward.dev/gen/steward/audit/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
)

// TestAudit is issue 12 through the real binaries: the changes of the
// directory and access are recorded in the organization's audit log (R27),
// found by a search through the gateway and downloaded as files (R29); the
// JSON-lines download verifies offline with `steward-audit verify` against
// the signed checkpoint and the published key, and the service's own
// verification passes (R28).
func TestAudit(t *testing.T) {
	s := launch(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := s.signUpOrg(ctx, "auditee")
	owner := withBearer(ctx, o.token)
	if _, err := directoryv1.NewDirectoryServiceClient(s.dial("directory")).CreateUser(owner, &directoryv1.CreateUserRequest{Parent: o.org, UserId: "ann",
		User: &directoryv1.User{Nickname: "ann", Email: "ann@auditee.example"}, InitialPassword: "ann's long password"}); err != nil {
		t.Fatal(err)
	}
	if _, err := accessv1.NewAccessServiceClient(s.dial("access")).CreateRole(owner, &accessv1.CreateRoleRequest{Parent: o.org, RoleId: "auditors",
		Role: &accessv1.Role{DisplayName: "Auditors", Level: accessv1.Level_LEVEL_ORGANIZATION, Permissions: []string{"audit_logs.view"}}}); err != nil {
		t.Fatal(err)
	}

	// R27: both changes reach the audit log, with who did them.
	audit := auditv1.NewAuditServiceClient(s.dial("audit"))
	deadline := time.Now().Add(10 * time.Second)
	for _, filter := range []string{
		`action = "user.created" AND target = "` + o.org + `/users/ann" AND actor = "` + o.owner + `"`,
		`source = access AND action = "role.created" AND actor = "` + o.owner + `"`,
	} {
		for {
			resp, err := audit.ListAuditEvents(owner, &auditv1.ListAuditEventsRequest{Parent: o.org, Filter: filter})
			if err != nil {
				t.Fatalf("ListAuditEvents(%q): %v", filter, err)
			}
			if len(resp.GetAuditEvents()) == 1 && resp.GetAuditEvents()[0].GetRequestId() != "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%q: %v after 10s", filter, resp.GetAuditEvents())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// R29 through the gateway: a search, and both downloads as files.
	var page struct {
		AuditEvents []struct{ Actor, Action, Target, Outcome string }
	}
	q := url.Values{"filter": {`action = "user.created"`}}
	must200(t, gatewayCall(t, s, http.MethodGet, "/v1/"+o.org+"/auditEvents?"+q.Encode(), nil, o.token, &page), "search")
	if len(page.AuditEvents) != 2 || page.AuditEvents[0].Target != o.org+"/users/ann" || page.AuditEvents[0].Outcome != "OUTCOME_SUCCESS" {
		t.Errorf("search through the gateway = %+v, want ann's then the owner's creation", page.AuditEvents)
	}
	res := s.httpCall(http.MethodGet, "/v1/"+o.org+"/auditEvents:export", nil, "Bearer "+o.token)
	if res.code != http.StatusOK || !strings.HasPrefix(res.header.Get("Content-Type"), "text/csv") ||
		res.header.Get("Content-Disposition") != `attachment; filename="audit-events-auditee.csv"` {
		t.Fatalf("CSV download: %d %v %.200s", res.code, res.header, res.body)
	}
	rows, err := csv.NewReader(bytes.NewReader(res.body)).ReadAll()
	if err != nil || len(rows) < 3 || rows[0][0] != "Name" {
		t.Fatalf("CSV download: %d rows, %v", len(rows), err)
	}

	// R28: checkpoint, then the JSON-lines download, verified offline.
	dir := t.TempDir()
	cp := s.httpCall(http.MethodGet, "/v1/"+o.org+"/auditCheckpoint", nil, "Bearer "+o.token)
	key := s.httpCall(http.MethodGet, "/v1/audit/publicKey", nil, "")
	jsonl := s.httpCall(http.MethodGet, "/v1/"+o.org+"/auditEvents:export?format=FORMAT_JSONL", nil, "Bearer "+o.token)
	for what, r := range map[string]httpResult{"checkpoint": cp, "public key": key, "JSON-lines download": jsonl} {
		if r.code != http.StatusOK {
			t.Fatalf("%s: HTTP %d %.200s", what, r.code, r.body)
		}
	}
	for name, b := range map[string][]byte{"checkpoint.json": cp.body, "key.json": key.body, "export.jsonl": jsonl.body} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(filepath.Join(os.Getenv("STEWARD_BIN"), "steward-audit"), "verify",
		"-checkpoint", filepath.Join(dir, "checkpoint.json"), "-key-file", filepath.Join(dir, "key.json"), filepath.Join(dir, "export.jsonl")).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "OK") {
		t.Errorf("steward-audit verify: %v\n%s", err, out)
	}
	var verified struct {
		Ok            bool
		EventsChecked string
	}
	must200(t, gatewayCall(t, s, http.MethodPost, "/v1/"+o.org+"/auditEvents:verify", map[string]any{}, o.token, &verified), "verify")
	if !verified.Ok || verified.EventsChecked == "" || verified.EventsChecked == "0" {
		t.Errorf("VerifyAuditLog through the gateway = %+v", verified)
	}
}
