package server_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	auditv1 "steward.dev/gen/steward/audit/v1"
	"steward.dev/pkg/eventlog"
	"steward.dev/services/audit/domain"
	"steward.dev/services/audit/ledger"
	"steward.dev/services/audit/server"
)

// details returns err's code, ErrorInfo reason and metadata, and the
// fields of its BadRequest.
func details(err error) (code codes.Code, reason string, md map[string]string, fields []string) {
	st := status.Convert(err)
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			reason, md = d.GetReason(), d.GetMetadata()
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	return st.Code(), reason, md, fields
}

// all pages through org's events (filter, newest first) as a member.
func (e *env) all(org, filter string) []*auditv1.AuditEvent {
	e.t.Helper()
	var out []*auditv1.AuditEvent
	req := &auditv1.ListAuditEventsRequest{Parent: org, Filter: filter, PageSize: 1000}
	for {
		resp, err := e.c.ListAuditEvents(as(org, "auditor"), req, e.svc)
		if err != nil {
			e.t.Fatalf("ListAuditEvents(%s, %q): %v", org, filter, err)
		}
		out = append(out, resp.GetAuditEvents()...)
		if resp.GetNextPageToken() == "" {
			return out
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

// sourceSequences returns, per source, the sequences recorded in evs,
// failing on a duplicate.
func sourceSequences(t testing.TB, evs []*auditv1.AuditEvent) map[string][]uint64 {
	t.Helper()
	seen := map[string]bool{}
	out := map[string][]uint64{}
	for _, ev := range evs {
		k := fmt.Sprintf("%s/%d", ev.GetSource(), ev.GetSourceSequence())
		if seen[k] {
			t.Errorf("%s recorded twice", k)
		}
		seen[k] = true
		out[ev.GetSource()] = append(out[ev.GetSource()], ev.GetSourceSequence())
	}
	for _, s := range out {
		slices.Sort(s)
	}
	return out
}

// TestIngestionExactlyOnce (R27, R28): every event of the three logs is
// recorded once in its organization's log, including those written while
// audit was down; a restart neither loses nor repeats one; the installation's
// events are recorded but not listed.
func TestIngestionExactlyOnce(t *testing.T) {
	e := newEnv(t, nil)
	const o1, o2 = "organizations/o1", "organizations/o2"
	e.emit("directory", "directory.user.created", o1+"/users/ann", o1+"/users/owner", 300)
	e.emit("access", "access.role.created", o1+"/roles/r1", o1+"/users/owner", 40)
	e.emit("licensing", "licensing.lease.renewed", o2+"/leases/l1", o2+"/robotAccounts/r", 25)
	e.emit("directory", "directory.signing_keys.rotated", "", "services/operator", 2)
	e.waitIngested()

	e.stop()
	// Changes while audit is down.
	e.emit("directory", "directory.user.updated", o1+"/users/ann", o1+"/users/owner", 50)
	e.emit("access", "access.role_assignment.created", o1+"/roleAssignments/a", o1+"/users/owner", 10)
	e.emit("licensing", "licensing.lease.acquired", o2+"/leases/l2", o2+"/robotAccounts/r", 5)
	e.start()
	e.waitIngested()
	// And after the restart, while it runs.
	e.emit("access", "access.role.deleted", o1+"/roles/r1", o1+"/users/owner", 3)
	e.waitIngested()

	seqs := func(from, to uint64) []uint64 {
		var s []uint64
		for i := from; i <= to; i++ {
			s = append(s, i)
		}
		return s
	}
	got1 := sourceSequences(t, e.all(o1, ""))
	if !slices.Equal(got1["directory"], seqs(1, 300)) && !slices.Equal(got1["directory"], append(seqs(1, 300), seqs(303, 352)...)) {
		t.Errorf("o1 directory sequences: %d recorded", len(got1["directory"]))
	}
	if want := append(seqs(1, 300), seqs(303, 352)...); !slices.Equal(got1["directory"], want) {
		t.Errorf("o1 directory sequences = %v..., want 1-300 and 303-352", got1["directory"][:5])
	}
	if !slices.Equal(got1["access"], seqs(1, 53)) || len(got1["licensing"]) != 0 {
		t.Errorf("o1 access sequences %v, licensing %v", got1["access"], got1["licensing"])
	}
	got2 := sourceSequences(t, e.all(o2, ""))
	if !slices.Equal(got2["licensing"], seqs(1, 30)) || len(got2["directory"]) != 0 {
		t.Errorf("o2: %v", got2)
	}
	// Indexes are dense: the organization's log has exactly its events.
	cp, err := e.c.GetAuditCheckpoint(as(o1, "auditor"), &auditv1.GetAuditCheckpointRequest{Name: o1 + "/auditCheckpoint"}, e.svc)
	if err != nil || cp.GetTreeSize() != 350+53 {
		t.Errorf("o1 checkpoint = %v, %v; want size %d", cp, err, 350+53)
	}
	res, err := e.c.VerifyAuditLog(as(o1, "auditor"), &auditv1.VerifyAuditLogRequest{Parent: o1}, e.svc)
	if err != nil || !res.GetOk() || res.GetEventsChecked() != 403 {
		t.Errorf("VerifyAuditLog = %v, %v", res, err)
	}
	// The status reports the three sources caught up, never resynced.
	st, err := e.c.GetIngestionStatus(context.Background(), &auditv1.GetIngestionStatusRequest{}, e.operator)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range st.GetSources() {
		names = append(names, s.GetSource())
		if s.GetLag() != 0 || s.GetResyncs() != 0 || s.GetProblem() != "" || s.GetHead() != s.GetCursor() {
			t.Errorf("status of %s = %v", s.GetSource(), s)
		}
	}
	if !slices.Equal(names, []string{"directory", "access", "licensing"}) {
		t.Errorf("status sources %q", names)
	}
}

// TestResync (R28): when retention deleted events before audit read them,
// audit continues from the source's horizon and records, in the
// installation's log, how many events were lost between which sequences;
// the resync is counted in the status and the metrics.
func TestResync(t *testing.T) {
	const o1 = "organizations/o1"
	// Start with a directory whose retention keeps 10 events, write 100 and
	// compact before audit ever registered as a durable consumer.
	logs := map[string]*source{}
	e := &env{t: t, dataDir: t.TempDir() + "/audit", sources: logs}
	for _, name := range []string{"directory", "access", "licensing"} {
		var r eventlog.Retention
		if name == "directory" {
			r = eventlog.Retention{MaxEvents: 10}
		}
		logs[name] = serveLog(t, name, r)
	}
	e.emit("directory", "directory.user.updated", o1+"/users/ann", o1+"/users/owner", 100)
	if _, err := logs["directory"].log.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	horizon, err := logs["directory"].log.Horizon(context.Background())
	if err != nil || horizon != 90 {
		t.Fatalf("horizon %d, %v", horizon, err)
	}
	e.start()
	e.waitIngested()
	got := sourceSequences(t, e.all(o1, ""))
	if want := []uint64{91, 92, 93, 94, 95, 96, 97, 98, 99, 100}; !slices.Equal(got["directory"], want) {
		t.Errorf("recorded %v, want %v", got["directory"], want)
	}
	st, err := e.c.GetIngestionStatus(context.Background(), &auditv1.GetIngestionStatusRequest{}, e.operator)
	if err != nil {
		t.Fatal(err)
	}
	if d := st.GetSources()[0]; d.GetSource() != "directory" || d.GetResyncs() != 1 || d.GetCursor() != 100 || d.GetLag() != 0 {
		t.Errorf("directory status %v", d)
	}
	reg := e.b.Server().MetricsRegistry()
	if n, err := testutil.GatherAndCount(reg, "steward_audit_resyncs_total"); err != nil || n != 1 {
		t.Errorf("steward_audit_resyncs_total series: %d, %v", n, err)
	}
	want := `
# HELP steward_audit_lost_events_total Events of a followed log that were gone before audit recorded them, as counted at each resync.
# TYPE steward_audit_lost_events_total counter
steward_audit_lost_events_total{source="directory"} 90
# HELP steward_audit_ingestion_cursor The last sequence of the source's log audit recorded.
# TYPE steward_audit_ingestion_cursor gauge
steward_audit_ingestion_cursor{source="access"} 0
steward_audit_ingestion_cursor{source="directory"} 100
steward_audit_ingestion_cursor{source="licensing"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "steward_audit_lost_events_total", "steward_audit_ingestion_cursor"); err != nil {
		t.Error(err)
	}
	// The note is the installation log's first event. It is not listable
	// through an organization; the installation's checkpoint covers it.
	if _, err := e.c.GetAuditEvent(as(o1, "auditor"), &auditv1.GetAuditEventRequest{Name: "installation/auditEvents/0"}, e.svc); status.Code(err) != codes.InvalidArgument {
		t.Errorf("reading the installation's log through the API: %v, want InvalidArgument", err)
	}
	// A restart does not resync again.
	e.stop()
	e.start()
	e.waitIngested()
	st, _ = e.c.GetIngestionStatus(context.Background(), &auditv1.GetIngestionStatusRequest{}, e.operator)
	if d := st.GetSources()[0]; d.GetResyncs() != 1 {
		t.Errorf("after a restart: %v", d)
	}
}

// TestSearchAndDownload (R29): search by each field through gRPC, paging
// newest first, reading one event, and both downloads as files.
func TestSearchAndDownload(t *testing.T) {
	e := newEnv(t, nil)
	const o1 = "organizations/o1"
	e.emit("directory", "directory.user.created", o1+"/users/ann", o1+"/users/owner", 30)
	const evil = "=cmd|' /C calc'!A0" // an actor a spreadsheet would run
	e.emit("directory", "directory.folder.created", o1+"/tenants/t1/services/s1/folders/f", evil, 5)
	e.emit("access", "access.role.created", o1+"/roles/r", o1+"/users/bob", 7)
	e.waitIngested()
	ctx := as(o1, "auditor")
	// Each log's clock: directory events at +0s..+34s, access's at
	// +0s..+6s.
	for filter, want := range map[string]int{
		``:                               42,
		`actor = "` + o1 + `/users/bob"`: 7,
		`action = "folder.created"`:      5,
		`action = "user.created" AND actor = "` + o1 + `/users/owner"`:                          30,
		`target = "` + o1 + `/roles/r"`:                                                         7,
		`tenant = "` + o1 + `/tenants/t1"`:                                                      5,
		`outcome = SUCCESS AND source = access`:                                                 7,
		`time >= "2027-05-01T09:00:29Z"`:                                                        6,
		`time < "2027-05-01T09:00:05Z"`:                                                         5 + 5,
		`time >= "2027-05-01T09:00:05Z" AND time <= "2027-05-01T09:00:06Z" AND source = access`: 2,
		`source = directory AND outcome = DENIED`:                                               0,
	} {
		if got := len(e.all(o1, filter)); got != want {
			t.Errorf("%q: %d events, want %d", filter, got, want)
		}
	}
	// Paging newest first, 10 at a time: by time, then index.
	var pages [][]*auditv1.AuditEvent
	req := &auditv1.ListAuditEventsRequest{Parent: o1, PageSize: 10}
	for {
		resp, err := e.c.ListAuditEvents(ctx, req, e.svc)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, resp.GetAuditEvents())
		if req.PageToken = resp.GetNextPageToken(); req.PageToken == "" {
			break
		}
	}
	flat := slices.Concat(pages...)
	newestFirst := slices.IsSortedFunc(flat, func(a, b *auditv1.AuditEvent) int {
		if c := b.GetTime().AsTime().Compare(a.GetTime().AsTime()); c != 0 {
			return c
		}
		return int(b.GetIndex() - a.GetIndex())
	})
	if len(pages) != 5 || len(flat) != 42 || !newestFirst || flat[0].GetAction() != "folder.created" {
		t.Errorf("%d pages of %d events, newest first %v", len(pages), len(flat), newestFirst)
	}
	// A bad filter names its position.
	_, err := e.c.ListAuditEvents(ctx, &auditv1.ListAuditEventsRequest{Parent: o1, Filter: `actor = "a" OR actor = "b"`}, e.svc)
	if code, reason, _, fields := details(err); code != codes.InvalidArgument || reason != "INVALID_ARGUMENT" || !slices.Equal(fields, []string{"filter"}) ||
		!strings.Contains(status.Convert(err).Message(), "position 13") {
		t.Errorf("bad filter: %v", err)
	}
	folder := e.all(o1, `action = "folder.created"`)[0]
	ev, err := e.c.GetAuditEvent(ctx, &auditv1.GetAuditEventRequest{Name: folder.GetName()}, e.svc)
	if err != nil || ev.GetAction() != "folder.created" || ev.GetTenant() != o1+"/tenants/t1" || ev.GetRequestId() != "directory-4" || ev.GetActor() != evil {
		t.Errorf("GetAuditEvent = %v, %v", ev, err)
	}
	if _, err := e.c.GetAuditEvent(ctx, &auditv1.GetAuditEventRequest{Name: o1 + "/auditEvents/42"}, e.svc); status.Code(err) != codes.NotFound {
		t.Errorf("GetAuditEvent past the end: %v", err)
	}

	// The downloads.
	download := func(f auditv1.ExportAuditEventsRequest_Format, filter string) (string, string, []byte) {
		t.Helper()
		var hdr metadata.MD
		stream, err := e.c.ExportAuditEvents(ctx, &auditv1.ExportAuditEventsRequest{Parent: o1, Format: f, Filter: filter}, e.svc, grpc.Header(&hdr))
		if err != nil {
			t.Fatal(err)
		}
		var body []byte
		contentType := ""
		for i := 0; ; i++ {
			msg, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				contentType = msg.GetContentType()
			}
			body = append(body, msg.GetData()...)
		}
		return contentType, strings.Join(hdr.Get("content-disposition"), ""), body
	}
	// The header, the 42 events, and the download's own record (R27).
	ct, disp, body := download(auditv1.ExportAuditEventsRequest_FORMAT_UNSPECIFIED, "")
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil || ct != "text/csv; charset=utf-8" || disp != `attachment; filename="audit-events-o1.csv"` || len(rows) != 44 || !slices.Equal(rows[0], domain.ExportColumns) {
		t.Fatalf("CSV download: %q %q, %d rows, %v", ct, disp, len(rows), err)
	}
	for _, r := range rows[1:] {
		if r[9] == o1+"/tenants/t1/services/s1/folders/f" && r[6] != "'"+evil {
			t.Errorf("actor cell %q, want %q (CSV injection)", r[6], "'"+evil)
		}
	}
	ct, disp, body = download(auditv1.ExportAuditEventsRequest_FORMAT_JSONL, `actor = "`+o1+`/users/bob"`)
	if ct != "application/jsonl; charset=utf-8" || disp != `attachment; filename="audit-events-o1.jsonl"` || bytes.Count(body, []byte("\n")) != 7 {
		t.Errorf("JSONL download: %q %q, %q", ct, disp, body)
	}
	// An empty download is still a file.
	ct, _, body = download(auditv1.ExportAuditEventsRequest_FORMAT_JSONL, `actor = "nobody"`)
	if ct != "application/jsonl; charset=utf-8" || len(body) != 0 {
		t.Errorf("empty JSONL download: %q, %q", ct, body)
	}
	// A bad filter fails before the first byte.
	stream, err := e.c.ExportAuditEvents(ctx, &auditv1.ExportAuditEventsRequest{Parent: o1, Filter: "actor"}, e.svc)
	if err == nil {
		_, err = stream.Recv()
	}
	if code, _, _, fields := details(err); code != codes.InvalidArgument || !slices.Equal(fields, []string{"filter"}) {
		t.Errorf("export with a bad filter: %v", err)
	}
}

// TestProofs (R28): the checkpoint is signed by the published key; the
// proofs check against it; the whole JSON-lines download verifies offline;
// tree sizes beyond the checkpoint are TREE_SIZE_UNAVAILABLE.
func TestProofs(t *testing.T) {
	e := newEnv(t, nil)
	const o1 = "organizations/o1"
	e.emit("directory", "directory.user.updated", o1+"/users/ann", o1+"/users/owner", 20)
	e.waitIngested()
	ctx := as(o1, "auditor")
	key, err := e.c.GetAuditPublicKey(context.Background(), &auditv1.GetAuditPublicKeyRequest{}) // public: no credential
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(key.GetVerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	cp1, err := e.c.GetAuditCheckpoint(ctx, &auditv1.GetAuditCheckpointRequest{Name: o1 + "/auditCheckpoint"}, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open([]byte(cp1.GetSignedNote()), note.VerifierList(v)); err != nil || cp1.GetTreeSize() != 20 {
		t.Fatalf("checkpoint %v: %v", cp1, err)
	}
	e.emit("directory", "directory.user.updated", o1+"/users/bob", o1+"/users/owner", 5)
	e.waitIngested()
	// The checkpointer signs the grown log within its interval.
	deadline := time.Now().Add(5 * time.Second)
	for {
		stale, err := ledgerStale(e)
		if err != nil {
			t.Fatal(err)
		}
		if len(stale) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("logs %q still not checkpointed", stale)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cp2, err := e.c.GetAuditCheckpoint(ctx, &auditv1.GetAuditCheckpointRequest{Name: o1 + "/auditCheckpoint"}, e.svc)
	if err != nil || cp2.GetTreeSize() != 25 {
		t.Fatalf("second checkpoint %v, %v", cp2, err)
	}
	p, err := e.c.GetInclusionProof(ctx, &auditv1.GetInclusionProofRequest{Name: o1 + "/auditEvents/7", TreeSize: 20}, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := e.c.GetAuditEvent(ctx, &auditv1.GetAuditEventRequest{Name: o1 + "/auditEvents/7"}, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := ledger.Leaf(ev)
	var rp tlog.RecordProof
	for _, h := range p.GetHashes() {
		rp = append(rp, tlog.Hash(h))
	}
	if err := tlog.CheckRecord(rp, 20, tlog.Hash(cp1.GetRootHash()), 7, tlog.RecordHash(leaf)); err != nil {
		t.Errorf("inclusion proof: %v", err)
	}
	cons, err := e.c.GetConsistencyProof(ctx, &auditv1.GetConsistencyProofRequest{Parent: o1, FirstTreeSize: 20}, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	var tp tlog.TreeProof
	for _, h := range cons.GetHashes() {
		tp = append(tp, tlog.Hash(h))
	}
	if err := tlog.CheckTree(tp, 25, tlog.Hash(cp2.GetRootHash()), 20, tlog.Hash(cp1.GetRootHash())); err != nil || cons.GetSecondTreeSize() != 25 {
		t.Errorf("consistency proof: %v", err)
	}
	_, err = e.c.GetInclusionProof(ctx, &auditv1.GetInclusionProofRequest{Name: o1 + "/auditEvents/7", TreeSize: 99}, e.svc)
	if code, reason, md, _ := details(err); code != codes.FailedPrecondition || reason != "TREE_SIZE_UNAVAILABLE" || md["tree_size"] != "99" {
		t.Errorf("tree size beyond the checkpoint: %v", err)
	}
	_, err = e.c.GetConsistencyProof(ctx, &auditv1.GetConsistencyProofRequest{Parent: o1, FirstTreeSize: 21, SecondTreeSize: 20}, e.svc)
	if code, _, _, fields := details(err); code != codes.InvalidArgument || !slices.Equal(fields, []string{"first_tree_size"}) {
		t.Errorf("first above second: %v", err)
	}
	// The whole download verifies offline against the checkpoint.
	stream, err := e.c.ExportAuditEvents(ctx, &auditv1.ExportAuditEventsRequest{Parent: o1, Format: auditv1.ExportAuditEventsRequest_FORMAT_JSONL}, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		file.Write(msg.GetData())
	}
	// The download ends with its own record (R27), which the checkpoint
	// fetched before it does not cover.
	res, err := ledger.VerifyExport(&file, []byte(cp2.GetSignedNote()), key.GetVerifierKey(), nil)
	if err != nil || !res.OK || res.Checked != 26 || res.Uncovered != 1 {
		t.Errorf("VerifyExport = %+v, %v", res, err)
	}
	// The checkpointer may or may not have signed the download's record yet.
	vr, err := e.c.VerifyAuditLog(ctx, &auditv1.VerifyAuditLogRequest{Parent: o1}, e.svc)
	if size := vr.GetCheckpoint().GetTreeSize(); err != nil || !vr.GetOk() || vr.GetFirstFailedIndex() != -1 || (size != 25 && size != 26) {
		t.Errorf("VerifyAuditLog = %v, %v", vr, err)
	}
}

// ledgerStale lists the logs the checkpointer has yet to sign.
func ledgerStale(e *env) ([]string, error) {
	return ledger.New(e.b.Store(), nil).Stale(context.Background())
}

// TestAuthorization (R29, R31): reading the trail needs audit_logs.view
// in the organization; another organization's trail is NotFound whatever
// the method; the public key is public; the ingestion status is the
// operator's and the services'.
func TestAuthorization(t *testing.T) {
	e := newEnv(t, nil)
	const o1, o2 = "organizations/o1", "organizations/o2"
	e.emit("directory", "directory.user.updated", o1+"/users/ann", o1+"/users/owner", 3)
	e.emit("directory", "directory.user.updated", o2+"/users/zed", o2+"/users/owner", 3)
	e.waitIngested()
	calls := map[string]func(ctx context.Context, org string) error{
		"ListAuditEvents": func(ctx context.Context, org string) error {
			_, err := e.c.ListAuditEvents(ctx, &auditv1.ListAuditEventsRequest{Parent: org}, e.svc)
			return err
		},
		"GetAuditEvent": func(ctx context.Context, org string) error {
			_, err := e.c.GetAuditEvent(ctx, &auditv1.GetAuditEventRequest{Name: org + "/auditEvents/0"}, e.svc)
			return err
		},
		"ExportAuditEvents": func(ctx context.Context, org string) error {
			s, err := e.c.ExportAuditEvents(ctx, &auditv1.ExportAuditEventsRequest{Parent: org}, e.svc)
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		},
		"GetAuditCheckpoint": func(ctx context.Context, org string) error {
			_, err := e.c.GetAuditCheckpoint(ctx, &auditv1.GetAuditCheckpointRequest{Name: org + "/auditCheckpoint"}, e.svc)
			return err
		},
		"GetInclusionProof": func(ctx context.Context, org string) error {
			_, err := e.c.GetInclusionProof(ctx, &auditv1.GetInclusionProofRequest{Name: org + "/auditEvents/0"}, e.svc)
			return err
		},
		"GetConsistencyProof": func(ctx context.Context, org string) error {
			_, err := e.c.GetConsistencyProof(ctx, &auditv1.GetConsistencyProofRequest{Parent: org, FirstTreeSize: 1}, e.svc)
			return err
		},
		"VerifyAuditLog": func(ctx context.Context, org string) error {
			_, err := e.c.VerifyAuditLog(ctx, &auditv1.VerifyAuditLogRequest{Parent: org}, e.svc)
			return err
		},
		"ExportLeafHashes": func(ctx context.Context, org string) error {
			s, err := e.c.ExportLeafHashes(ctx, &auditv1.ExportLeafHashesRequest{Parent: org}, e.svc)
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		},
		"GetAuditSettings": func(ctx context.Context, org string) error {
			_, err := e.c.GetAuditSettings(ctx, &auditv1.GetAuditSettingsRequest{Name: org + "/auditSettings"}, e.svc)
			return err
		},
	}
	for name, call := range calls {
		if err := call(as(o1, "auditor"), o1); err != nil {
			t.Errorf("%s by a member with audit_logs.view: %v", name, err)
		}
		if err := call(as(o1, "plain"), o1); status.Code(err) != codes.PermissionDenied {
			t.Errorf("%s without audit_logs.view: %v, want PermissionDenied", name, err)
		}
		if err := call(as(o1, "auditor"), o2); status.Code(err) != codes.NotFound {
			t.Errorf("%s of another organization: %v, want NotFound", name, err)
		}
	}
	// Changing the retention needs audit_logs.edit.
	update := func(ctx context.Context, org string) error {
		_, err := e.c.UpdateAuditSettings(ctx, &auditv1.UpdateAuditSettingsRequest{AuditSettings: &auditv1.AuditSettings{
			Name: org + "/auditSettings", Retention: durationpb.New(400 * 24 * time.Hour)}}, e.svc)
		return err
	}
	if err := update(as(o1, "viewer"), o1); status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "audit_logs.edit") {
		t.Errorf("UpdateAuditSettings with audit_logs.view only: %v, want PermissionDenied naming audit_logs.edit", err)
	}
	// The refusal is an audit event of the organization's own trail (R27),
	// recorded after the refusal went back.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := e.c.ListAuditEvents(as(o1, "auditor"), &auditv1.ListAuditEventsRequest{Parent: o1, Filter: `action = "UpdateAuditSettings" AND outcome = DENIED`}, e.svc)
		if err != nil {
			t.Fatal(err)
		}
		if evs := resp.GetAuditEvents(); len(evs) == 1 {
			if ev := evs[0]; ev.GetType() != server.TypeCallRefused || ev.GetActor() != o1+"/users/viewer" || ev.GetSource() != "audit" ||
				!strings.Contains(ev.GetMessage(), "audit_logs.edit") {
				t.Errorf("refusal event = %v", ev)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no refusal event after 10s: %v", resp.GetAuditEvents())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := update(as(o1, "auditor"), o2); status.Code(err) != codes.NotFound {
		t.Errorf("UpdateAuditSettings of another organization: %v, want NotFound", err)
	}
	if err := update(as(o1, "auditor"), o1); err != nil {
		t.Errorf("UpdateAuditSettings with audit_logs.edit: %v", err)
	}
	if _, err := e.c.GetIngestionStatus(context.Background(), &auditv1.GetIngestionStatusRequest{}, e.operator); err != nil {
		t.Errorf("GetIngestionStatus by the operator: %v", err)
	}
	if _, err := e.c.GetIngestionStatus(context.Background(), &auditv1.GetIngestionStatusRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("GetIngestionStatus without credentials: %v, want Unauthenticated", err)
	}
	if _, err := e.c.ListAuditEvents(context.Background(), &auditv1.ListAuditEventsRequest{Parent: o1}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("ListAuditEvents without credentials: %v, want Unauthenticated", err)
	}
}

// TestRetention (R28, retention): through gRPC, an organization's
// retention makes the periodic purge delete its old events, counted in
// steward_audit_purged_events_total; the settings show the horizon, the
// log still verifies, and the leaf hashes still cover the whole tree and
// make the signed root.
func TestRetention(t *testing.T) {
	e := newEnv(t, nil)
	const o1 = "organizations/o1"
	e.emit("directory", "directory.user.updated", o1+"/users/ann", o1+"/users/owner", 20)
	e.waitIngested()
	ctx := as(o1, "auditor")
	if _, err := e.c.UpdateAuditSettings(ctx, &auditv1.UpdateAuditSettingsRequest{AuditSettings: &auditv1.AuditSettings{
		Name: o1 + "/auditSettings", Retention: durationpb.New(time.Millisecond)}}, e.svc); err != nil {
		t.Fatal(err)
	}
	var st *auditv1.AuditSettings
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		st, err = e.c.GetAuditSettings(ctx, &auditv1.GetAuditSettingsRequest{Name: o1 + "/auditSettings"}, e.svc)
		if err != nil {
			t.Fatal(err)
		}
		// The purge counts its events after its commit, which the settings
		// show first: wait for both.
		n, merr := testutil.GatherAndCount(e.b.Server().MetricsRegistry(), "steward_audit_purged_events_total")
		if st.GetPurgedBefore() >= 21 && merr == nil && n == 1 { // the 20 events and the settings change
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no purge within 10s: %v; steward_audit_purged_events_total series: %d, %v; want one, for %s", st, n, merr, o1)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := e.c.GetAuditEvent(ctx, &auditv1.GetAuditEventRequest{Name: o1 + "/auditEvents/3"}, e.svc); status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "purged") {
		t.Errorf("GetAuditEvent of a purged event: %v", err)
	}
	res, err := e.c.VerifyAuditLog(ctx, &auditv1.VerifyAuditLogRequest{Parent: o1}, e.svc)
	if err != nil || !res.GetOk() || res.GetPurgedBefore() < 21 {
		t.Fatalf("VerifyAuditLog after purges = %v, %v", res, err)
	}
	cp := res.GetCheckpoint()
	s, err := e.c.ExportLeafHashes(ctx, &auditv1.ExportLeafHashesRequest{Parent: o1, TreeSize: cp.GetTreeSize()}, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	var hashes []tlog.Hash
	for {
		msg, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ct := msg.GetContentType(); ct != "" && ct != "application/octet-stream" {
			t.Fatalf("content type %q", ct)
		}
		for b := msg.GetData(); len(b) >= 32; b = b[32:] {
			hashes = append(hashes, tlog.Hash(b[:32]))
		}
	}
	if int64(len(hashes)) != cp.GetTreeSize() {
		t.Fatalf("%d leaf hashes for a tree of %d", len(hashes), cp.GetTreeSize())
	}
	// They make the signed root: the purged events' hashes are kept.
	var stored []tlog.Hash
	r := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = stored[x]
		}
		return out, nil
	})
	for i, h := range hashes {
		hs, err := tlog.StoredHashesForRecordHash(int64(i), h, r)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
	}
	if root, err := tlog.TreeHash(cp.GetTreeSize(), r); err != nil || root != tlog.Hash(cp.GetRootHash()) {
		t.Fatalf("the leaf hashes make root %v (%v), the checkpoint has %x", root, err, cp.GetRootHash())
	}
}
