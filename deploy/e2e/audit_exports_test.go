//go:build e2e

package e2e_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// TestAuditExports is R27 for the downloads, through the real binaries
// and the gateway: exporting the role assignments (R19) and downloading
// the audit events (R29) each become exactly one audit event in the
// organization's log, found by a search on its action, naming the owner
// who downloaded, the request ID the client sent and the client's
// address.
func TestAuditExports(t *testing.T) {
	s := launch(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := s.signUpOrg(ctx, "exporter")
	cases := []struct {
		name, path, requestID string
		// action, source and typ are those of the export's audit event.
		action, source, typ string
	}{
		{"role assignments", "/v1/" + o.org + "/roleAssignments:export", "e2e-export-roles",
			"ExportRoleAssignments", "access", "access.role_assignments.exported"},
		{"audit events", "/v1/" + o.org + "/auditEvents:export?format=FORMAT_JSONL", "e2e-export-audit",
			"ExportAuditEvents", "audit", "audit.events.exported"},
	}
	type auditEvent struct {
		Source, Type, Actor, Action, Target, Outcome, RequestID, SourceAddress, Message string
	}
	search := func(action string) []auditEvent {
		t.Helper()
		var page struct {
			AuditEvents []auditEvent
		}
		q := url.Values{"filter": {`action = "` + action + `"`}}
		must200(t, gatewayCall(t, s, http.MethodGet, "/v1/"+o.org+"/auditEvents?"+q.Encode(), nil, o.token, &page), "search "+action)
		return page.AuditEvents
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := rawCall(t, s, http.MethodGet, tc.path, nil, 0, map[string]string{
				"Authorization": "Bearer " + o.token, "X-Request-Id": tc.requestID})
			if code != http.StatusOK {
				t.Fatalf("export: HTTP %d %.200s", code, body)
			}
			// Access's event reaches audit through its log: wait for it.
			deadline := time.Now().Add(10 * time.Second)
			var got []auditEvent
			for got = search(tc.action); len(got) == 0 && time.Now().Before(deadline); got = search(tc.action) {
				time.Sleep(20 * time.Millisecond)
			}
			want := auditEvent{Source: tc.source, Type: tc.typ, Actor: o.owner, Action: tc.action, Target: o.org,
				Outcome: "OUTCOME_SUCCESS", RequestID: tc.requestID, SourceAddress: "127.0.0.1"}
			if len(got) != 1 {
				t.Fatalf("%d audit events of action %s, want 1: %+v", len(got), tc.action, got)
			}
			if want.Message = got[0].Message; got[0] != want || want.Message == "" {
				t.Errorf("audit event %+v, want %+v and a message", got[0], want)
			}
		})
	}
	// Exactly once: nothing recorded twice since.
	for _, tc := range cases {
		if got := search(tc.action); len(got) != 1 {
			t.Errorf("%d audit events of action %s at the end, want 1: %+v", len(got), tc.action, got)
		}
	}
}
