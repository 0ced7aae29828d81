//go:build e2e

package e2e_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	directoryv1 "steward.dev/gen/steward/directory/v1"
)

// TestAuditRetention is issue 12's retention through the real binaries and
// the gateway (R28): an organization's retention makes audit's periodic
// purge delete its old events; the change and each purge are events of the
// log; afterwards the checkpoint signed before the purge is still
// consistent with the one after, VerifyAuditLog passes, a purged event is
// 404 saying so, and the JSON-lines download verifies offline with
// `steward-audit verify` only together with the leaf hashes download.
func TestAuditRetention(t *testing.T) {
	s := launch(t, "-service-flag", "audit=-min-retention=1ms", "-service-flag", "audit=-purge-interval=200ms")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := s.signUpOrg(ctx, "forgetful")
	owner := withBearer(ctx, o.token)
	dir := directoryv1.NewDirectoryServiceClient(s.dial("directory"))
	for i := range 5 {
		if _, err := dir.CreateUser(owner, &directoryv1.CreateUserRequest{Parent: o.org, UserId: fmt.Sprintf("u%d", i),
			User: &directoryv1.User{Nickname: fmt.Sprintf("u%d", i), Email: fmt.Sprintf("u%d@forgetful.example", i)}, InitialPassword: "a long enough password"}); err != nil {
			t.Fatal(err)
		}
	}
	base := "/v1/" + o.org
	var cp1 struct {
		TreeSize   string
		RootHash   []byte
		SignedNote string
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		must200(t, gatewayCall(t, s, http.MethodGet, base+"/auditCheckpoint", nil, o.token, &cp1), "checkpoint")
		var page struct{ AuditEvents []struct{ Target string } }
		must200(t, gatewayCall(t, s, http.MethodGet, base+"/auditEvents?filter="+url.QueryEscape(`action = "user.created" AND target = "`+o.org+`/users/u4"`), nil, o.token, &page), "search")
		if len(page.AuditEvents) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("u4's creation not in the audit log after 15s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	must200(t, gatewayCall(t, s, http.MethodGet, base+"/auditCheckpoint", nil, o.token, &cp1), "checkpoint")
	size1, _ := strconv.ParseInt(cp1.TreeSize, 10, 64)

	// A negative retention is refused with the field; 1s is accepted (this
	// suite's minimum is 1ms).
	if r := s.httpCall(http.MethodPatch, base+"/auditSettings", map[string]any{"retention": "-1s"}, "Bearer "+o.token); r.code != http.StatusBadRequest ||
		!strings.Contains(string(r.body), `"field":"audit_settings.retention"`) {
		t.Fatalf("negative retention: HTTP %d %s", r.code, r.body)
	}
	var settings struct {
		Retention    string
		PurgedBefore string
		Etag         string
	}
	must200(t, gatewayCall(t, s, http.MethodPatch, base+"/auditSettings", map[string]any{"retention": "1s"}, o.token, &settings), "set retention")
	if settings.Retention != "1s" || settings.Etag == "" {
		t.Fatalf("settings = %+v", settings)
	}
	// The change to 1s is itself an event; wait for it to be recorded, then
	// for the purge to pass both it and everything of the first checkpoint
	// (the purge runs on its own clock, so a fixed sleep is not enough under
	// load).
	var change struct{ AuditEvents []struct{ Index string } }
	deadline = time.Now().Add(20 * time.Second)
	for {
		must200(t, gatewayCall(t, s, http.MethodGet, base+"/auditEvents?filter="+url.QueryEscape(`action = "UpdateAuditSettings"`), nil, o.token, &change), "settings events")
		if len(change.AuditEvents) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the retention change is not in the audit log after 20s: %+v", change.AuditEvents)
		}
		time.Sleep(50 * time.Millisecond)
	}
	changeIndex, _ := strconv.ParseInt(change.AuditEvents[0].Index, 10, 64)
	deadline = time.Now().Add(20 * time.Second)
	for {
		must200(t, gatewayCall(t, s, http.MethodGet, base+"/auditSettings", nil, o.token, &settings), "settings")
		if n, _ := strconv.ParseInt(settings.PurgedBefore, 10, 64); n >= size1 && n > changeIndex {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("purged before %s after 20s, want at least %d and past %d", settings.PurgedBefore, size1, changeIndex)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Keep everything from now on, so that what follows sees a still log.
	must200(t, gatewayCall(t, s, http.MethodPatch, base+"/auditSettings", map[string]any{"retention": "0s"}, o.token, &settings), "keep for ever")
	time.Sleep(500 * time.Millisecond) // a purge already running ends

	var purges struct {
		AuditEvents []struct{ Actor, Message, PurgedBefore string }
	}
	must200(t, gatewayCall(t, s, http.MethodGet, base+"/auditEvents?filter="+url.QueryEscape(`action = "retention.purged"`), nil, o.token, &purges), "purge events")
	if len(purges.AuditEvents) == 0 || purges.AuditEvents[0].Actor != "services/audit" || !strings.Contains(purges.AuditEvents[0].Message, "stay in the Merkle tree") {
		t.Fatalf("purge events = %+v", purges.AuditEvents)
	}
	var changes struct {
		AuditEvents []struct{ Actor, Message string }
	}
	must200(t, gatewayCall(t, s, http.MethodGet, base+"/auditEvents?filter="+url.QueryEscape(`action = "UpdateAuditSettings"`), nil, o.token, &changes), "settings events")
	// The change to 1s was itself purged a second later; the change back is
	// there.
	if len(changes.AuditEvents) != 1 || changes.AuditEvents[0].Actor != o.owner || changes.AuditEvents[0].Message != "Audit retention set to forever (was: 1s)." {
		t.Fatalf("settings change events = %+v", changes.AuditEvents)
	}

	// A purged event is gone, and says so.
	if r := s.httpCall(http.MethodGet, base+"/auditEvents/0", nil, "Bearer "+o.token); r.code != http.StatusNotFound || !strings.Contains(string(r.body), "purged") {
		t.Fatalf("purged event: HTTP %d %s", r.code, r.body)
	}
	// The checkpoint from before the purge is consistent with the latest.
	var cp2 struct {
		TreeSize   string
		RootHash   []byte
		SignedNote string
	}
	must200(t, gatewayCall(t, s, http.MethodGet, base+"/auditCheckpoint", nil, o.token, &cp2), "checkpoint after")
	size2, _ := strconv.ParseInt(cp2.TreeSize, 10, 64)
	var cons struct{ Hashes []string }
	must200(t, gatewayCall(t, s, http.MethodGet, fmt.Sprintf("%s/auditEvents:proveConsistency?firstTreeSize=%d&secondTreeSize=%d", base, size1, size2), nil, o.token, &cons), "consistency")
	proof := make(tlog.TreeProof, len(cons.Hashes))
	for i, h := range cons.Hashes {
		b, err := base64.StdEncoding.DecodeString(h)
		if err != nil || len(b) != 32 {
			t.Fatalf("proof hash %q: %v", h, err)
		}
		proof[i] = tlog.Hash(b)
	}
	if err := tlog.CheckTree(proof, size2, tlog.Hash(cp2.RootHash), size1, tlog.Hash(cp1.RootHash)); err != nil {
		t.Fatalf("the checkpoint before the purge is not consistent with the one after: %v", err)
	}
	var verified struct {
		Ok           bool
		PurgedBefore string
		Failure      string
	}
	must200(t, gatewayCall(t, s, http.MethodPost, base+"/auditEvents:verify", map[string]any{}, o.token, &verified), "verify")
	if !verified.Ok || verified.PurgedBefore == "" || verified.PurgedBefore == "0" {
		t.Fatalf("VerifyAuditLog after the purge = %+v", verified)
	}

	// Offline: the download begins after the purge; it verifies with the
	// leaf hashes, and only with them.
	tmp := t.TempDir()
	cp := s.httpCall(http.MethodGet, base+"/auditCheckpoint", nil, "Bearer "+o.token)
	key := s.httpCall(http.MethodGet, "/v1/audit/publicKey", nil, "")
	export := s.httpCall(http.MethodGet, base+"/auditEvents:export?format=FORMAT_JSONL", nil, "Bearer "+o.token)
	hashes := s.httpCall(http.MethodGet, base+"/auditEvents:leafHashes", nil, "Bearer "+o.token)
	if hashes.code != http.StatusOK || hashes.header.Get("Content-Type") != "application/octet-stream" ||
		hashes.header.Get("Content-Disposition") != `attachment; filename="audit-leaf-hashes-forgetful.bin"` || len(hashes.body)%32 != 0 {
		t.Fatalf("leaf hashes download: %d %v %d bytes", hashes.code, hashes.header, len(hashes.body))
	}
	for name, r := range map[string]httpResult{"checkpoint.json": cp, "key.json": key, "export.jsonl": export, "hashes.bin": hashes} {
		if r.code != http.StatusOK {
			t.Fatalf("%s: HTTP %d %.200s", name, r.code, r.body)
		}
		if err := os.WriteFile(filepath.Join(tmp, name), r.body, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	verify := func(extra ...string) (string, error) {
		args := append([]string{"verify", "-checkpoint", filepath.Join(tmp, "checkpoint.json"), "-key-file", filepath.Join(tmp, "key.json")}, extra...)
		out, err := exec.Command(filepath.Join(os.Getenv("STEWARD_BIN"), "steward-audit"), append(args, filepath.Join(tmp, "export.jsonl"))...).CombinedOutput()
		return string(out), err
	}
	if out, err := verify("-hashes", filepath.Join(tmp, "hashes.bin")); err != nil || !strings.HasPrefix(out, "OK") || !strings.Contains(out, "purged by retention") {
		t.Errorf("steward-audit verify with the leaf hashes: %v\n%s", err, out)
	}
	if out, err := verify(); err == nil || !strings.Contains(out, "purged by retention") {
		t.Errorf("steward-audit verify without the leaf hashes: %v\n%s", err, out)
	}
}
