//go:build e2e

package e2e_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	accessv1 "steward.dev/gen/steward/access/v1"
	auditv1 "steward.dev/gen/steward/audit/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	licensingv1 "steward.dev/gen/steward/licensing/v1"
	"steward.dev/pkg/authn"
)

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

// sourceEvents counts the events of org in the three sources' logs, read
// as audit reads them.
func (s *auditSuite) sourceEvents(ctx context.Context, org string) int64 {
	s.t.Helper()
	var n int64
	for _, src := range []string{"directory", "access", "licensing"} {
		log := eventlogv1.NewEventLogServiceClient(s.conn(src))
		for after := uint64(0); ; {
			page, err := log.ListEvents(s.asAudit(ctx), &eventlogv1.ListEventsRequest{AfterSequence: after, PageSize: 1000})
			if err != nil {
				s.t.Fatalf("ListEvents of %s: %v", src, err)
			}
			for _, ev := range page.GetEvents() {
				if ev.GetOrganization() == org {
					n++
				}
				after = ev.GetSequence()
			}
			if len(page.GetEvents()) == 0 || after >= page.GetHeadSequence() {
				break
			}
		}
	}
	return n
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
// while audit is killed with SIGKILL again and again in the middle of
// ingestion. AUDIT_MUTATIONS (default 10,000) sets the count.
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
	before := s.awaitAudit(ctx, owner, org, s.sourceEvents(ctx, org)).GetTreeSize()

	// Audit is away while the suite changes: each mutation is one event.
	s.audit.stop(t)
	s.mutate(ctx, owner, org, su.GetOwner().GetName(), mutations, "a")
	want := s.sourceEvents(ctx, org)
	s.startAudit()
	cp := s.awaitAudit(ctx, owner, org, want)
	a := auditv1.NewAuditServiceClient(s.conn("audit"))
	v, err := a.VerifyAuditLog(owner, &auditv1.VerifyAuditLogRequest{Parent: org})
	if err != nil || !v.GetOk() || v.GetEventsChecked() != cp.GetTreeSize() {
		t.Fatalf("VerifyAuditLog after the restart: %v, %v", v, err)
	}
	if got := cp.GetTreeSize() - before; got != int64(mutations) {
		t.Errorf("%d new audit events for %d mutations", got, mutations)
	}
	t.Logf("audit restarted: %d events, exactly the sources' %d", cp.GetTreeSize(), want)

	// Killed mid-ingestion, three times over.
	s.audit.stop(t)
	s.mutate(ctx, owner, org, su.GetOwner().GetName(), mutations, "b")
	want = s.sourceEvents(ctx, org)
	for round := range 3 {
		// Killed 100, 250 and 400 ms after it starts: while it reads the
		// backlog, or just after (the log says how far it got).
		s.startAudit()
		time.Sleep(time.Duration(100+150*round) * time.Millisecond)
		if err := s.audit.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = s.audit.cmd.Wait()
	}
	s.startAudit()
	cp = s.awaitAudit(ctx, owner, org, want)
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
	t.Logf("audit killed 3 times as it started: %d events, exactly the sources' %d", cp.GetTreeSize(), want)
}
