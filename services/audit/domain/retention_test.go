package domain_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	auditv1 "steward.dev/gen/steward/audit/v1"
	"steward.dev/pkg/records"
	"steward.dev/pkg/store"
	"steward.dev/services/audit/domain"
	"steward.dev/services/audit/ledger"
)

// settingsReq returns an UpdateAuditSettings request setting org's
// retention to d.
func settingsReq(org string, d time.Duration) *auditv1.UpdateAuditSettingsRequest {
	return &auditv1.UpdateAuditSettingsRequest{AuditSettings: &auditv1.AuditSettings{Name: org + "/auditSettings", Retention: durationpb.New(d)}}
}

// TestUpdateAuditSettingsRules: a retention is 0 (for ever) or between
// the installation's minimum and 100 years; a stale etag is refused; the
// change is an audit event of the organization's log with who, the
// request and the address (R27).
func TestUpdateAuditSettingsRules(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, domain.Options{MinRetention: 24 * time.Hour})
	got, err := f.d.GetAuditSettings(ctx, auditor, org+"/auditSettings")
	if err != nil || got.GetRetention() != nil || got.GetEtag() == "" || got.GetPurgedBefore() != 0 {
		t.Fatalf("GetAuditSettings before any change = %v, %v; want keep for ever with an etag", got, err)
	}
	for _, tc := range []struct {
		name  string
		req   *auditv1.UpdateAuditSettingsRequest
		field string // the *FieldError's field; "" for another error
		is    error
	}{
		{"negative", settingsReq(org, -time.Hour), "audit_settings.retention", nil},
		{"below the minimum", settingsReq(org, time.Hour), "audit_settings.retention", nil},
		{"beyond 100 years", settingsReq(org, domain.MaxRetention+time.Hour), "audit_settings.retention", nil},
		{"unknown field in the mask", func() *auditv1.UpdateAuditSettingsRequest {
			r := settingsReq(org, 48*time.Hour)
			r.UpdateMask = &fieldmaskpb.FieldMask{Paths: []string{"purged_before"}}
			return r
		}(), "update_mask", nil},
		{"stale etag", func() *auditv1.UpdateAuditSettingsRequest {
			r := settingsReq(org, 48*time.Hour)
			r.AuditSettings.Etag = "stale"
			return r
		}(), "", domain.ErrEtagMismatch},
		{"another organization", settingsReq(other, 48*time.Hour), "", domain.ErrNotFound},
		{"not settings", &auditv1.UpdateAuditSettingsRequest{AuditSettings: &auditv1.AuditSettings{Name: org}}, "", domain.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.d.UpdateAuditSettings(ctx, auditor, tc.req)
			var fe *records.FieldError
			switch {
			case tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field):
				t.Fatalf("err = %v, want a field error on %s", err, tc.field)
			case tc.is != nil && !errors.Is(err, tc.is):
				t.Fatalf("err = %v, want %v", err, tc.is)
			}
		})
	}
	// Refusals change nothing and record nothing.
	if cp := f.checkpoint(t, org); cp.GetTreeSize() != 0 {
		t.Fatalf("refused updates recorded %d events", cp.GetTreeSize())
	}

	actor := auditor
	actor.RequestID, actor.SourceAddress = "req-settings", "192.0.2.7:5555"
	req := settingsReq(org, 90*24*time.Hour)
	req.AuditSettings.Etag = got.GetEtag()
	upd, err := f.d.UpdateAuditSettings(ctx, actor, req)
	if err != nil || upd.GetRetention().AsDuration() != 90*24*time.Hour || upd.GetEtag() == got.GetEtag() || upd.GetUpdateTime() == nil {
		t.Fatalf("UpdateAuditSettings = %v, %v", upd, err)
	}
	ev, err := f.d.GetAuditEvent(ctx, auditor, org+"/auditEvents/0")
	if err != nil {
		t.Fatal(err)
	}
	if ev.GetType() != domain.TypeSettingsUpdated || ev.GetActor() != auditor.Name || ev.GetRequestId() != "req-settings" ||
		ev.GetSourceAddress() != "192.0.2.7:5555" || ev.GetTarget() != org+"/auditSettings" ||
		ev.GetMessage() != "Audit retention set to 90 days (was: forever)." {
		t.Fatalf("settings event = %v", ev)
	}
	// 0 goes back to keeping events for ever.
	upd, err = f.d.UpdateAuditSettings(ctx, auditor, settingsReq(org, 0))
	if err != nil || upd.GetRetention() != nil {
		t.Fatalf("UpdateAuditSettings(0) = %v, %v", upd, err)
	}
}

// TestRetentionPurge (R28, retention): the purge deletes, oldest first, the
// events older than the retention, stopping at the first younger one, in
// transactions of PurgeBatch events, each recorded as a purge event; after
// it every later and earlier checkpoint, consistency proof, inclusion proof
// of a kept event and the leaf hashes still verify, VerifyAuditLog passes,
// searches no longer find purged events, and an export verifies offline
// with the leaf hashes.
func TestRetentionPurge(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, domain.Options{MinRetention: time.Hour, PurgeBatch: 7})
	all := population(t, f, 100)
	cp1 := f.checkpoint(t, org)

	// Nothing is purged without a retention.
	if got, err := f.d.Purge(ctx); err != nil || len(got) != 0 {
		t.Fatalf("Purge without retention = %v, %v", got, err)
	}
	if _, err := f.d.UpdateAuditSettings(ctx, auditor, settingsReq(org, 48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Two days later, events recorded before start+50s are out of
	// retention; the purge stops at the first event that is not (the
	// sources' clocks are skewed, so some older ones stay after it).
	cutoff := start.Add(50 * time.Second)
	f.now = cutoff.Add(48 * time.Hour)
	horizon := int64(0)
	for horizon < int64(len(all)) && all[horizon].GetTime().AsTime().Before(cutoff) {
		horizon++
	}
	if horizon < 10 || horizon > 60 {
		t.Fatalf("the population puts the horizon at %d; the test wants some events on either side", horizon)
	}
	purged, err := f.d.Purge(ctx)
	if err != nil || len(purged) != 1 || purged[0] != (domain.Purged{Log: org, Events: horizon, Before: horizon}) {
		t.Fatalf("Purge = %+v, %v; want %d events of %s", purged, err, horizon, org)
	}
	// One purge event per transaction of at most 7 events, in the log.
	batches := (horizon + 6) / 7
	resp, err := f.d.ListAuditEvents(ctx, auditor, &auditv1.ListAuditEventsRequest{Parent: org, Filter: `action = "retention.purged"`, OrderBy: "time asc"})
	if err != nil || int64(len(resp.GetAuditEvents())) != batches {
		t.Fatalf("purge events = %d, %v; want %d", len(resp.GetAuditEvents()), err, batches)
	}
	last := resp.GetAuditEvents()[batches-1]
	if last.GetPurgedBefore() != horizon || last.GetActor() != "services/audit" || !strings.Contains(last.GetMessage(), "stay in the Merkle tree") {
		t.Fatalf("last purge event = %v", last)
	}
	// Purging again finds nothing more.
	if got, err := f.d.Purge(ctx); err != nil || len(got) != 0 {
		t.Fatalf("second Purge = %v, %v", got, err)
	}

	st, err := f.d.GetAuditSettings(ctx, auditor, org+"/auditSettings")
	if err != nil || st.GetPurgedBefore() != horizon || !st.GetLastPurgeTime().AsTime().Equal(f.now) {
		t.Fatalf("settings after the purge = %v, %v", st, err)
	}
	// Purged events are gone, by name and from every index; kept ones stay.
	if _, err := f.d.GetAuditEvent(ctx, auditor, domain.EventName(org, horizon-1)); !errors.Is(err, domain.ErrNotFound) || !strings.Contains(err.Error(), "purged") {
		t.Fatalf("GetAuditEvent of a purged event: %v", err)
	}
	for i := horizon; i < int64(len(all)); i++ {
		if _, err := f.d.GetAuditEvent(ctx, auditor, domain.EventName(org, i)); err != nil {
			t.Fatalf("kept event %d: %v", i, err)
		}
	}
	for _, filter := range []string{``, `actor = "` + org + `/users/ann"`, `source = access`, `outcome = DENIED`, `target = "` + org + `/tenants/t1"`} {
		resp, err := f.d.ListAuditEvents(ctx, auditor, &auditv1.ListAuditEventsRequest{Parent: org, Filter: filter, PageSize: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range resp.GetAuditEvents() {
			if ev.GetIndex() < horizon {
				t.Fatalf("filter %q found purged event %d", filter, ev.GetIndex())
			}
		}
	}

	// Proofs: the checkpoint from before the purge is consistent with the
	// one after; a kept event is included; the log verifies.
	cp2 := f.checkpoint(t, org)
	cons, err := f.d.GetConsistencyProof(ctx, auditor, &auditv1.GetConsistencyProofRequest{Parent: org, FirstTreeSize: cp1.GetTreeSize()})
	if err != nil {
		t.Fatal(err)
	}
	if err := tlog.CheckTree(toHashes(cons.GetHashes()), cp2.GetTreeSize(), tlog.Hash(cp2.GetRootHash()), cp1.GetTreeSize(), tlog.Hash(cp1.GetRootHash())); err != nil {
		t.Fatalf("consistency across the purge: %v", err)
	}
	incl, err := f.d.GetInclusionProof(ctx, auditor, &auditv1.GetInclusionProofRequest{Name: domain.EventName(org, horizon)})
	if err != nil {
		t.Fatal(err)
	}
	if err := tlog.CheckRecord(toHashes(incl.GetHashes()), cp2.GetTreeSize(), tlog.Hash(cp2.GetRootHash()), horizon, tlog.Hash(incl.GetLeafHash())); err != nil {
		t.Fatalf("inclusion of the oldest kept event: %v", err)
	}
	res, err := f.d.VerifyAuditLog(ctx, auditor, &auditv1.VerifyAuditLogRequest{Parent: org})
	if err != nil || !res.GetOk() || res.GetPurgedBefore() != horizon || res.GetEventsChecked() != cp2.GetTreeSize() {
		t.Fatalf("VerifyAuditLog after the purge = %v, %v", res, err)
	}

	// The export begins at the horizon and verifies offline with the leaf
	// hashes, only with them.
	chunks, err := export(t, f.d, auditor, &auditv1.ExportAuditEventsRequest{Parent: org, Format: auditv1.ExportAuditEventsRequest_FORMAT_JSONL})
	if err != nil {
		t.Fatal(err)
	}
	file := bytes.Join(chunks, nil)
	var hashes bytes.Buffer
	if err := f.d.ExportLeafHashes(ctx, auditor, &auditv1.ExportLeafHashesRequest{Parent: org, TreeSize: cp2.GetTreeSize()}, func(b []byte) error { hashes.Write(b); return nil }); err != nil {
		t.Fatal(err)
	}
	if int64(hashes.Len()) != 32*cp2.GetTreeSize() {
		t.Fatalf("leaf hashes: %d bytes for a tree of %d", hashes.Len(), cp2.GetTreeSize())
	}
	off, err := ledger.VerifyExport(bytes.NewReader(file), []byte(cp2.GetSignedNote()), f.vkey, &hashes)
	if err != nil || !off.OK || off.Purged != horizon {
		t.Fatalf("offline verification with the leaf hashes = %+v, %v", off, err)
	}
	off, err = ledger.VerifyExport(bytes.NewReader(file), []byte(cp2.GetSignedNote()), f.vkey, nil)
	if err != nil || off.OK || !strings.Contains(off.Reason, "purged by retention") {
		t.Fatalf("offline verification without the leaf hashes = %+v, %v", off, err)
	}
}

// TestRetentionIdleOrganization: once only the records of earlier purges
// are old enough, a purge deletes nothing and records nothing (an idle
// organization does not gain an event every run); they go with the next
// event old enough.
func TestRetentionIdleOrganization(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, domain.Options{MinRetention: time.Hour})
	population(t, f, 10)
	if _, err := f.d.UpdateAuditSettings(ctx, auditor, settingsReq(org, time.Hour)); err != nil {
		t.Fatal(err)
	}
	f.now = start.Add(2 * time.Hour)
	if got, err := f.d.Purge(ctx); err != nil || len(got) != 1 || got[0].Events != 11 || got[0].Before != 11 {
		t.Fatalf("first Purge = %+v, %v; want the 10 events and the settings change", got, err)
	}
	size := f.checkpoint(t, org).GetTreeSize() // and the purge's record
	f.now = start.Add(4 * time.Hour)
	if got, err := f.d.Purge(ctx); err != nil || len(got) != 0 {
		t.Fatalf("Purge with only the purge's record old = %+v, %v; want nothing", got, err)
	}
	if cp := f.checkpoint(t, org); cp.GetTreeSize() != size {
		t.Fatalf("the log grew from %d to %d: a purge of nothing was recorded", size, cp.GetTreeSize())
	}
	f.apply("directory", f.event("directory", "directory.user.updated", org+"/users/ann", nil))
	f.now = start.Add(6 * time.Hour)
	if got, err := f.d.Purge(ctx); err != nil || len(got) != 1 || got[0].Events != 2 || got[0].Before != size+1 {
		t.Fatalf("Purge with a new old event = %+v, %v; want the old record and the event, horizon %d", got, err, size+1)
	}
	if res, err := f.d.VerifyAuditLog(ctx, auditor, &auditv1.VerifyAuditLogRequest{Parent: org}); err != nil || !res.GetOk() {
		t.Fatalf("VerifyAuditLog = %v, %v", res, err)
	}
}

// TestRetentionHorizonTampering: events deleted outside a purge, behind a
// purge horizon written by hand, fail VerifyAuditLog: the horizon must be
// the one a purge event of the signed log records.
func TestRetentionHorizonTampering(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, domain.Options{MinRetention: time.Hour})
	population(t, f, 40)
	f.checkpoint(t, org)
	if _, err := f.d.UpdateAuditSettings(ctx, auditor, settingsReq(org, time.Hour)); err != nil {
		t.Fatal(err)
	}
	f.now = start.Add(time.Hour + 10*time.Second)
	purged, err := f.d.Purge(ctx)
	if err != nil || len(purged) != 1 {
		t.Fatalf("Purge = %v, %v", purged, err)
	}
	h := purged[0].Before
	f.checkpoint(t, org)
	// Someone with the database file deletes the next 3 events and moves
	// the horizon past them.
	err = f.st.Update(ctx, func(tx store.Tx) error {
		key := []byte("purge/" + org) // before, purge event, time: 8 bytes each
		b, err := tx.Get(key)
		if err != nil {
			return err
		}
		for i := h; i < h+3; i++ {
			if err := tx.Delete(binary.BigEndian.AppendUint64([]byte("ev/"+org+"/"), uint64(i))); err != nil {
				return err
			}
		}
		moved := binary.BigEndian.AppendUint64(nil, uint64(h+3))
		return tx.Put(key, append(moved, b[8:]...))
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.d.VerifyAuditLog(ctx, auditor, &auditv1.VerifyAuditLogRequest{Parent: org})
	if err != nil || res.GetOk() || !strings.Contains(res.GetFailure(), "outside a purge") {
		t.Fatalf("VerifyAuditLog after deleting events behind a forged horizon = %v, %v", res, err)
	}
}

// toHashes converts a proof's hashes.
func toHashes(bs [][]byte) []tlog.Hash {
	out := make([]tlog.Hash, len(bs))
	for i, b := range bs {
		out[i] = tlog.Hash(b)
	}
	return out
}
