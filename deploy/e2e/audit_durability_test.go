//go:build e2e

package e2e_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	accessv1 "steward.dev/gen/steward/access/v1"
	auditv1 "steward.dev/gen/steward/audit/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	licensingv1 "steward.dev/gen/steward/licensing/v1"
	"steward.dev/pkg/authn"
)

// auditSources are the services whose event logs audit follows.
var auditSources = []string{"directory", "access", "licensing"}

// auditSuite is the four backends started one by one, so that audit can be
// stopped and killed while the others go on.
type auditSuite struct {
	t       *testing.T
	dataDir string
	addrs   map[string]string
	conns   map[string]*grpc.ClientConn
	audit   *service
}

// startAuditSuite starts directory, access and licensing, each following
// what it follows.
func startAuditSuite(t *testing.T) *auditSuite {
	ports := freePorts(t, 4)
	s := &auditSuite{t: t, dataDir: filepath.Join(t.TempDir(), "data"), conns: map[string]*grpc.ClientConn{},
		addrs: map[string]string{"directory": ports[0], "access": ports[1], "licensing": ports[2], "audit": ports[3]}}
	for _, name := range []string{"directory", "access", "licensing"} {
		svc := startService(t, name, s.dataDir, s.addrs[name], s.flags(name)...)
		healthOf(t, s.conn(name), name, healthpb.HealthCheckResponse_SERVING, svc.out)
	}
	return s
}

// flags are the addresses of what backend name follows and calls.
func (s *auditSuite) flags(name string) []string {
	f := []string{"-directory-addr", s.addrs["directory"]}
	if name != "access" {
		f = append(f, "-access-addr", s.addrs["access"])
	}
	if name == "audit" {
		f = append(f, "-licensing-addr", s.addrs["licensing"])
	}
	return f
}

// conn returns a connection to backend name.
func (s *auditSuite) conn(name string) *grpc.ClientConn {
	if c, ok := s.conns[name]; ok {
		return c
	}
	c, err := grpc.NewClient(s.addrs[name], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { c.Close() })
	s.conns[name] = c
	return c
}

// startAudit starts the audit backend (stopped at cleanup, or before).
func (s *auditSuite) startAudit() {
	s.audit = startService(s.t, "audit", s.dataDir, s.addrs["audit"], s.flags("audit")...)
}

// asAudit returns ctx calling as the audit service, with the credential
// audit made on its first start.
func (s *auditSuite) asAudit(ctx context.Context) context.Context {
	s.t.Helper()
	cred, err := authn.LoadOrCreateServiceCredential(filepath.Join(s.dataDir, "credentials", "audit"))
	if err != nil {
		s.t.Fatal(err)
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", cred.AuthorizationFor("audit"))
}

// sourceEvent names one event of a source's log.
type sourceEvent struct {
	source   string
	sequence uint64
}

// sourceEvents returns the events of org in the three sources' logs, read
// as audit reads them.
func (s *auditSuite) sourceEvents(ctx context.Context, org string) map[sourceEvent]bool {
	s.t.Helper()
	events := map[sourceEvent]bool{}
	for _, src := range auditSources {
		log := eventlogv1.NewEventLogServiceClient(s.conn(src))
		for after := uint64(0); ; {
			page, err := log.ListEvents(s.asAudit(ctx), &eventlogv1.ListEventsRequest{AfterSequence: after, PageSize: 1000})
			if err != nil {
				s.t.Fatalf("ListEvents of %s: %v", src, err)
			}
			for _, ev := range page.GetEvents() {
				if ev.GetOrganization() == org {
					events[sourceEvent{src, ev.GetSequence()}] = true
				}
				after = ev.GetSequence()
			}
			if len(page.GetEvents()) == 0 || after >= page.GetHeadSequence() {
				break
			}
		}
	}
	return events
}

// recordedOnce fails unless audit's log of org holds every one of the
// sources' events once: none missing, none twice, none other.
func (s *auditSuite) recordedOnce(owner context.Context, org string, sources map[sourceEvent]bool) {
	s.t.Helper()
	a := auditv1.NewAuditServiceClient(s.conn("audit"))
	recorded := map[sourceEvent]int{}
	for token := ""; ; {
		page, err := a.ListAuditEvents(owner, &auditv1.ListAuditEventsRequest{Parent: org, PageSize: 1000, PageToken: token})
		if err != nil {
			s.t.Fatalf("ListAuditEvents: %v", err)
		}
		for _, ev := range page.GetAuditEvents() {
			recorded[sourceEvent{ev.GetSource(), ev.GetSourceSequence()}]++
		}
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	var twice, other, missing int
	for ev, n := range recorded {
		switch {
		case !sources[ev]:
			other++
		case n > 1:
			twice++
		}
	}
	for ev := range sources {
		if recorded[ev] == 0 {
			missing++
		}
	}
	if twice+other+missing > 0 {
		s.t.Errorf("audit's log of %s: %d of the sources' events recorded more than once, %d missing, %d not the sources'", org, twice, missing, other)
	}
}

// awaitAudit waits until audit's checkpoint of org holds want events, and
// fails with what it holds after a minute.
func (s *auditSuite) awaitAudit(ctx context.Context, owner context.Context, org string, want int64) *auditv1.Checkpoint {
	s.t.Helper()
	a := auditv1.NewAuditServiceClient(s.conn("audit"))
	var last *auditv1.Checkpoint
	var err error
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		last, err = a.GetAuditCheckpoint(owner, &auditv1.GetAuditCheckpointRequest{Name: org + "/auditCheckpoint"}, grpc.WaitForReady(true))
		if err == nil && last.GetTreeSize() >= want {
			break
		}
	}
	if err != nil || last.GetTreeSize() != want {
		s.t.Fatalf("audit's log of %s: %v, %v; want exactly %d events (the sources hold %d)\n%s", org, last, err, want, want, s.audit.out.String())
	}
	return last
}

// sourceHeads returns the newest sequence of each source's log, as a
// ListEvents page past the head says.
func (s *auditSuite) sourceHeads(ctx context.Context) map[string]uint64 {
	s.t.Helper()
	heads := map[string]uint64{}
	for _, src := range auditSources {
		page, err := eventlogv1.NewEventLogServiceClient(s.conn(src)).ListEvents(s.asAudit(ctx),
			&eventlogv1.ListEventsRequest{AfterSequence: math.MaxUint64, PageSize: 1})
		if err != nil {
			s.t.Fatalf("the head of %s's log: %v", src, err)
		}
		heads[src] = page.GetHeadSequence()
	}
	return heads
}

// consumerStarting is the line of audit's log that says from which
// cursor a consumer starts: what audit had durably recorded of the source.
var consumerStarting = regexp.MustCompile(`msg="eventlog: consumer starting".* consumer=audit-(\w+) cursor=(\d+)`)

// startingCursors waits, at most 30s, until the audit just started has
// said from which cursor it follows each source, and returns them.
func (s *auditSuite) startingCursors() map[string]uint64 {
	s.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		cursors := map[string]uint64{}
		for _, m := range consumerStarting.FindAllStringSubmatch(s.audit.out.String(), -1) {
			n, err := strconv.ParseUint(m[2], 10, 64)
			if err != nil {
				s.t.Fatal(err)
			}
			cursors[m[1]] = n
		}
		if len(cursors) == len(auditSources) {
			return cursors
		}
	}
	s.t.Fatalf("audit never said where its consumers start:\n%s", s.audit.out.String())
	return nil
}

// killMidIngestion polls audit's GetIngestionStatus (as op) every
// millisecond or two and SIGKILLs audit as soon as every source's cursor
// is past where it began (begin) and, unless a source is about to finish,
// has covered at least the fraction share of what remained to its head;
// it fails if a source finishes first.
func (s *auditSuite) killMidIngestion(op context.Context, begin, heads map[string]uint64, fraction float64) killed {
	s.t.Helper()
	// minLag is how far from its head every source must still be when
	// the kill is decided: a few of the consumer's batches (256 events),
	// more than audit records between a status and the kill.
	const minLag = 1024
	// A connection of its own, dialled now and redialled quickly: the
	// suite's connection to audit may be waiting out a reconnection
	// backoff from the previous process, longer than the ingestion.
	conn, err := grpc.NewClient(s.addrs["audit"], grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{BaseDelay: time.Millisecond, Multiplier: 1, MaxDelay: time.Millisecond}}))
	if err != nil {
		s.t.Fatal(err)
	}
	defer conn.Close()
	a := auditv1.NewAuditServiceClient(conn)
	var k killed
	started := time.Now()
	for deadline := started.Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		st, err := a.GetIngestionStatus(op, &auditv1.GetIngestionStatusRequest{}, grpc.WaitForReady(true))
		if status.Code(err) == codes.Unavailable {
			continue // the connection to the process just restarted broke: ask again
		}
		if err != nil {
			s.t.Fatalf("GetIngestionStatus: %v\n%s", err, s.audit.out.String())
		}
		seen := map[string]uint64{}
		k.polls++
		progressed, reached, nearEnd := 0, 0, false
		for _, ss := range st.GetSources() {
			src, cursor := ss.GetSource(), ss.GetCursor()
			seen[src] = cursor
			if cursor >= heads[src] {
				s.t.Fatalf("audit recorded all of %s's log (%d events from %d) before the kill: %v; make the backlog bigger (AUDIT_MUTATIONS)",
					src, heads[src], begin[src], st)
			}
			if cursor > begin[src] {
				progressed++
			}
			if float64(cursor-min(cursor, begin[src])) >= fraction*float64(heads[src]-begin[src]) {
				reached++
			}
			nearEnd = nearEnd || heads[src]-cursor < minLag
		}
		if k.firstSeen == nil {
			k.first, k.firstSeen = time.Since(started), seen
		}
		if progressed == len(auditSources) && (reached == len(auditSources) || nearEnd) {
			if err := s.audit.cmd.Process.Kill(); err != nil {
				s.t.Fatal(err)
			}
			k.after, k.seen = time.Since(started), seen
			_ = s.audit.cmd.Wait()
			return k
		}
	}
	s.t.Fatalf("audit made no progress with every source within 30s:\n%s", s.audit.out.String())
	return k
}

// killed is how a kill by killMidIngestion went: the times are since the
// consumers said where they start.
type killed struct {
	// The first status audit answered, and when.
	firstSeen map[string]uint64
	first     time.Duration
	// The last status before the kill, and when the kill came.
	seen  map[string]uint64
	after time.Duration
	// How many statuses were read.
	polls int
}

// mutate makes n changes of org through directory, access and licensing,
// about a third each, 16 at a time.
func (s *auditSuite) mutate(ctx context.Context, owner context.Context, org, ownerName string, n int, tag string) {
	s.t.Helper()
	dir := directoryv1.NewDirectoryServiceClient(s.conn("directory"))
	acc := accessv1.NewAccessServiceClient(s.conn("access"))
	lic := licensingv1.NewLicensingServiceClient(s.conn("licensing"))
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				id := fmt.Sprintf("%s%d", tag, i)
				var err error
				switch i % 3 {
				case 0:
					_, err = dir.CreateUser(owner, &directoryv1.CreateUserRequest{Parent: org, UserId: "u" + id,
						User: &directoryv1.User{Nickname: "u" + id, Email: "u" + id + "@audit.example"}})
				case 1:
					_, err = acc.CreateRole(owner, &accessv1.CreateRoleRequest{Parent: org, RoleId: "r" + id,
						Role: &accessv1.Role{DisplayName: "Role " + id, Level: accessv1.Level_LEVEL_ORGANIZATION, Permissions: []string{"users.view"}}})
				default:
					_, err = lic.AcquireExecution(owner, &licensingv1.AcquireExecutionRequest{Parent: org, User: ownerName, Job: "job " + id})
				}
				if err != nil {
					select {
					case errs <- fmt.Errorf("mutation %d: %w", i, err):
					default:
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		s.t.Fatal(err)
	}
}

// TestAuditExactlyOnce is issue 12's proof with real processes (R28):
// audit is stopped while 10,000 changes are made across directory, access
// and licensing; started again it records exactly the events the sources
// hold - none lost, none twice - and VerifyAuditLog passes. Then the same
// while audit is killed with SIGKILL three times in the middle of
// ingestion: each kill comes when GetIngestionStatus shows every source's
// cursor past where that start began and short of the source's head, and
// the cursors audit restarts from prove that the kill left every source
// part-recorded. AUDIT_MUTATIONS (default 10,000) sets the count; the
// kills need a backlog of a few thousand events per source.
func TestAuditExactlyOnce(t *testing.T) {
	mutations := 10000
	if v, err := strconv.Atoi(os.Getenv("AUDIT_MUTATIONS")); err == nil && v > 0 {
		mutations = v
	}
	s := startAuditSuite(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	s.startAudit()
	healthOf(t, s.conn("audit"), "audit", healthpb.HealthCheckResponse_SERVING, s.audit.out)

	dir := directoryv1.NewDirectoryServiceClient(s.conn("directory"))
	su, err := dir.SignUp(ctx, &directoryv1.SignUpRequest{OrganizationId: "ledger", OrganizationDisplayName: "Ledger",
		Nickname: "owner", Email: "owner@ledger.example", Password: "owner's long password"})
	if err != nil {
		t.Fatal(err)
	}
	org := su.GetOrganization().GetName()
	in, err := dir.SignIn(ctx, &directoryv1.SignInRequest{Organization: org, Credential: &directoryv1.SignInRequest_Password{
		Password: &directoryv1.PasswordCredential{Email: "owner@ledger.example", Password: "owner's long password"}}})
	if err != nil {
		t.Fatal(err)
	}
	owner := withBearer(ctx, in.GetAccessToken())
	before := s.awaitAudit(ctx, owner, org, int64(len(s.sourceEvents(ctx, org)))).GetTreeSize()

	// Audit is away while the suite changes: each mutation is one event.
	s.audit.stop(t)
	s.mutate(ctx, owner, org, su.GetOwner().GetName(), mutations, "a")
	want := s.sourceEvents(ctx, org)
	s.startAudit()
	cp := s.awaitAudit(ctx, owner, org, int64(len(want)))
	a := auditv1.NewAuditServiceClient(s.conn("audit"))
	v, err := a.VerifyAuditLog(owner, &auditv1.VerifyAuditLogRequest{Parent: org})
	if err != nil || !v.GetOk() || v.GetEventsChecked() != cp.GetTreeSize() {
		t.Fatalf("VerifyAuditLog after the restart: %v, %v", v, err)
	}
	if got := cp.GetTreeSize() - before; got != int64(mutations) {
		t.Errorf("%d new audit events for %d mutations", got, mutations)
	}
	s.recordedOnce(owner, org, want)
	t.Logf("audit restarted: %d events, exactly the sources' %d", cp.GetTreeSize(), len(want))

	// Killed mid-ingestion, three times over: each SIGKILL lands once
	// audit has recorded part of every source's backlog and before it has
	// recorded all of it. GetIngestionStatus, polled as the operator,
	// picks the moment; the cursors audit starts from next prove where the
	// kill left it.
	s.audit.stop(t)
	s.mutate(ctx, owner, org, su.GetOwner().GetName(), mutations, "b")
	want = s.sourceEvents(ctx, org)
	heads := s.sourceHeads(ctx)
	before = cp.GetTreeSize()
	op := asLoneService(ctx, t, s.dataDir, "operator")
	s.startAudit()
	begin := s.startingCursors()
	for round := range 3 {
		// The first kill comes with the first recorded batch, the second
		// once a sixth of what remained is recorded, the third a third.
		k := s.killMidIngestion(op, begin, heads, float64(round)/6)
		s.startAudit()
		next := s.startingCursors()
		for _, src := range auditSources {
			if next[src] <= begin[src] || next[src] >= heads[src] || next[src] < k.seen[src] {
				t.Errorf("kill %d did not land in the middle of %s's ingestion: audit started at %d, was seen at %d, restarted from %d; the head is %d",
					round+1, src, begin[src], k.seen[src], next[src], heads[src])
			}
		}
		t.Logf("kill %d: cursors at start %v; first status after %v: %v; killed after %v (%d statuses) seeing %v; restarted from %v; heads %v",
			round+1, begin, k.first.Round(time.Millisecond), k.firstSeen, k.after.Round(time.Millisecond), k.polls, k.seen, next, heads)
		begin = next
	}
	cp = s.awaitAudit(ctx, owner, org, int64(len(want)))
	v, err = a.VerifyAuditLog(owner, &auditv1.VerifyAuditLogRequest{Parent: org})
	if err != nil || !v.GetOk() || v.GetEventsChecked() != cp.GetTreeSize() {
		t.Fatalf("VerifyAuditLog after SIGKILLs: %v, %v", v, err)
	}
	// Newest first: no event is later than the first of the list.
	page, err := a.ListAuditEvents(owner, &auditv1.ListAuditEventsRequest{Parent: org, PageSize: 1})
	last, lerr := a.GetAuditEvent(owner, &auditv1.GetAuditEventRequest{Name: fmt.Sprintf("%s/auditEvents/%d", org, cp.GetTreeSize()-1)})
	if err != nil || lerr != nil || len(page.GetAuditEvents()) != 1 || page.GetAuditEvents()[0].GetTime().AsTime().Before(last.GetTime().AsTime()) {
		t.Errorf("the newest audit event: %v, %v; the last recorded: %v, %v", page, err, last, lerr)
	}
	if got := cp.GetTreeSize() - before; got != int64(mutations) {
		t.Errorf("%d new audit events for %d mutations", got, mutations)
	}
	s.recordedOnce(owner, org, want)
	// Nothing was skipped: every cursor reaches its head without a resync.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		st, err := a.GetIngestionStatus(op, &auditv1.GetIngestionStatusRequest{})
		done := err == nil
		for _, ss := range st.GetSources() {
			done = done && ss.GetCursor() == heads[ss.GetSource()] && ss.GetResyncs() == 0
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit's ingestion after the kills: %v, %v; want every cursor at its head %v and no resync", st, err, heads)
		}
	}
	t.Logf("audit killed 3 times mid-ingestion: %d events, exactly the sources' %d", cp.GetTreeSize(), len(want))
}
