package backend_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	licensingv1 "steward.dev/gen/steward/licensing/v1"
	"steward.dev/pkg/apierr"
	"steward.dev/pkg/authn"
	"steward.dev/pkg/authz"
	"steward.dev/pkg/backend"
	"steward.dev/pkg/backend/backendtest"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store"
	"steward.dev/pkg/store/bboltstore"
)

// Each service's EVENT_TYPE_CALL_REFUSED is "<name>.call.refused", the
// type its server package records refused calls under.
func TestRefusedCallTypes(t *testing.T) {
	for name, typ := range map[string]string{
		backend.Directory: eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_CALL_REFUSED),
		backend.Access:    eventlog.TypeName(accessv1.EventType_EVENT_TYPE_CALL_REFUSED),
		backend.Licensing: eventlog.TypeName(licensingv1.EventType_EVENT_TYPE_CALL_REFUSED),
	} {
		if typ != name+".call.refused" {
			t.Errorf("%s: EVENT_TYPE_CALL_REFUSED is %q, want %s.call.refused", name, typ, name)
		}
	}
}

func TestRefusedCallTypeNeedsOwnEventLog(t *testing.T) {
	for _, c := range []backend.Config{
		{Name: "audit", RefusedCallType: "audit.call.refused"},
		{Name: "licensing", EventLog: true, RefusedCallType: "directory.call.refused"},
	} {
		if b, err := backendtest.Config(t, c).Complete(); err == nil {
			backendtest.Run(t, b)
			t.Errorf("Complete(%s, EventLog %v, RefusedCallType %q) succeeded", c.Name, c.EventLog, c.RefusedCallType)
		}
	}
}

// refusingDirectory is a DirectoryService whose DeactivateUser refuses
// users/owner (FailedPrecondition, with an ErrorInfo) and whose other user
// methods succeed; the authorizer of newRefusingBackend refuses plain users
// before them.
type refusingDirectory struct {
	directoryv1.UnimplementedDirectoryServiceServer
}

func (refusingDirectory) CreateUser(_ context.Context, req *directoryv1.CreateUserRequest) (*directoryv1.User, error) {
	return &directoryv1.User{Name: req.GetParent() + "/users/" + req.GetUserId()}, nil
}

func (refusingDirectory) DeactivateUser(_ context.Context, req *directoryv1.DeactivateUserRequest) (*directoryv1.User, error) {
	if strings.HasSuffix(req.GetName(), "/users/owner") {
		return nil, apierr.New(codes.FailedPrecondition, "OWNER_IMMUTABLE", "directory.steward.dev", "the owner cannot be deactivated", nil).GRPCStatus().Err()
	}
	return &directoryv1.User{Name: req.GetName()}, nil
}

func (refusingDirectory) GetUser(_ context.Context, req *directoryv1.GetUserRequest) (*directoryv1.User, error) {
	return &directoryv1.User{Name: req.GetName()}, nil
}

// plainRefused allows everything to everyone but users called "plain".
var plainRefused = authz.AuthorizerFunc(func(_ context.Context, req authz.Request) (authz.Decision, error) {
	if strings.HasSuffix(req.Principal.Name, "/users/plain") {
		return authz.Decision{Reason: "a plain member (test)", Missing: req.Permissions}, nil
	}
	return authz.Decision{Allowed: true}, nil
})

// refusingBackend is a directory recording refused calls, serving
// refusingDirectory, with its logs in logs.
type refusingBackend struct {
	b    *backend.Backend
	dir  directoryv1.DirectoryServiceClient
	svc  grpc.CallOption
	logs *syncBuffer
}

func newRefusingBackend(t *testing.T, queue int) *refusingBackend {
	t.Helper()
	logs := &syncBuffer{}
	cfg := backendtest.Config(t, backend.Config{Name: "directory", EventLog: true, RefusedCallType: "directory.call.refused", RefusalQueue: queue})
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg.Authorizer = plainRefused
	cfg.Register = func(b *backend.Backend) error {
		directoryv1.RegisterDirectoryServiceServer(b.GRPCServer(), refusingDirectory{})
		return nil
	}
	b, err := cfg.Complete()
	if err != nil {
		t.Fatal(err)
	}
	conn := backendtest.Run(t, b)
	return &refusingBackend{b: b, dir: directoryv1.NewDirectoryServiceClient(conn), svc: backendtest.ServiceCallOption(b, backendtest.HarnessService), logs: logs}
}

// as returns a context acting as user u of organizations/o1 through the
// harness credential, under request ID id.
func as(u, id string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(),
		authn.MDActor, "organizations/o1/users/"+u, authn.MDActorOrganization, "organizations/o1", authn.MDRequestID, id)
}

// events waits, at most 10s, until the backend's log holds at least n
// events, and returns them.
func (r *refusingBackend) events(t *testing.T, n int) []*eventlogv1.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs, err := r.b.EventLog().Read(context.Background(), 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) >= n {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log holds %d events after 10s, want %d", len(evs), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRefusedCallsAreRecorded: a refused call of a mutating method
// (PermissionDenied by authorization, FailedPrecondition by the handler)
// becomes, shortly after it returned, a directory.call.refused event of
// the right shape; a refused read and a successful call do not.
func TestRefusedCallsAreRecorded(t *testing.T) {
	r := newRefusingBackend(t, 0)
	user := &directoryv1.User{Nickname: "x", Email: "x@example.com"}

	_, err := r.dir.CreateUser(as("plain", "req-create"), &directoryv1.CreateUserRequest{Parent: "organizations/o1", UserId: "x", User: user}, r.svc)
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("CreateUser as plain: %v, want PermissionDenied", err)
	}
	if _, err := r.dir.GetUser(as("plain", "req-get"), &directoryv1.GetUserRequest{Name: "organizations/o1/users/x"}, r.svc); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("GetUser as plain: %v, want PermissionDenied", err)
	}
	if _, err := r.dir.CreateUser(as("admin", "req-ok"), &directoryv1.CreateUserRequest{Parent: "organizations/o1", UserId: "y", User: user}, r.svc); err != nil {
		t.Fatalf("CreateUser as admin: %v", err)
	}
	_, err = r.dir.DeactivateUser(as("admin", "req-deactivate"), &directoryv1.DeactivateUserRequest{Name: "organizations/o1/users/owner"}, r.svc)
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("DeactivateUser of the owner: %v, want FailedPrecondition", err)
	}

	// One goroutine appends in order: once the last refusal is there, the
	// read and the success would be too, had they been recorded.
	evs := r.events(t, 2)
	if len(evs) != 2 {
		t.Fatalf("the log holds %d events, want the 2 refusals: %v", len(evs), evs)
	}
	want := []struct {
		resource, actor, action, requestID, message string
	}{
		{"organizations/o1", "organizations/o1/users/plain", "CreateUser", "req-create",
			"CreateUser on organizations/o1 was refused: PermissionDenied (PERMISSION_DENIED): permission denied: organizations/o1/users/plain lacks users.create on \"organizations/o1\": a plain member (test)"},
		{"organizations/o1/users/owner", "organizations/o1/users/admin", "DeactivateUser", "req-deactivate",
			"DeactivateUser on organizations/o1/users/owner was refused: FailedPrecondition (OWNER_IMMUTABLE): the owner cannot be deactivated"},
	}
	for i, ev := range evs {
		w, a := want[i], ev.GetAudit()
		if ev.GetType() != "directory.call.refused" || ev.GetSource() != "directory" || ev.GetResource() != w.resource ||
			ev.GetOrganization() != "organizations/o1" || ev.GetOperation() != eventlogv1.Operation_OPERATION_UNSPECIFIED || ev.GetData() != nil {
			t.Errorf("event %d = %v, want a directory.call.refused on %s, no data", i, ev, w.resource)
		}
		if a.GetActor() != w.actor || a.GetAction() != w.action || a.GetOutcome() != eventlogv1.Outcome_OUTCOME_DENIED ||
			a.GetRequestId() != w.requestID || a.GetSourceAddress() == "" {
			t.Errorf("event %d audit = %v, want actor %s, action %s, DENIED, request ID %s, a source address", i, a, w.actor, w.action, w.requestID)
		}
		if a.GetMessage() != w.message {
			t.Errorf("event %d message = %q, want %q", i, a.GetMessage(), w.message)
		}
	}
	if got := metric(t, r.b, "steward_refused_calls_recorded_total", ""); got != 2 {
		t.Errorf("steward_refused_calls_recorded_total = %v, want 2", got)
	}
}

// TestRefusalQueueFull: while the store cannot be written, refused calls
// still return at once; those beyond the queue are dropped, counted and
// logged; the rest are appended once the store is free.
func TestRefusalQueueFull(t *testing.T) {
	const queue, calls = 2, 10
	r := newRefusingBackend(t, queue)

	// Hold the store's single writer.
	inside, release, released := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		released <- r.b.Store().Update(context.Background(), func(store.Tx) error {
			close(inside)
			<-release
			return nil
		})
	}()
	<-inside
	for i := range calls {
		ctx, cancel := context.WithTimeout(as("plain", "req"), 5*time.Second)
		start := time.Now()
		_, err := r.dir.DeactivateUser(ctx, &directoryv1.DeactivateUserRequest{Name: "organizations/o1/users/u1"}, r.svc)
		cancel()
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("call %d: %v, want PermissionDenied (at once, the store being busy)", i, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("call %d took %v while the store was busy", i, d)
		}
	}
	// The appender took at most one batch (what was queued, at most
	// 1+queue) before blocking on the store, and queue more wait.
	dropped := metric(t, r.b, "steward_refused_calls_dropped_total", "queue_full")
	if dropped < calls-(1+2*queue) {
		t.Errorf("dropped %v refusals, want at least %d", dropped, calls-(1+2*queue))
	}
	if !strings.Contains(r.logs.String(), "refused call not recorded") {
		t.Errorf("no warning logged of the dropped refusals; logs:\n%s", r.logs.String())
	}
	close(release)
	if err := <-released; err != nil {
		t.Fatal(err)
	}
	want := calls - int(dropped)
	evs := r.events(t, want)
	deadline := time.Now().Add(10 * time.Second)
	for metric(t, r.b, "steward_refused_calls_recorded_total", "") != float64(want) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if len(evs) != want || metric(t, r.b, "steward_refused_calls_recorded_total", "") != float64(want) {
		t.Errorf("%d events, %v recorded, want %d: every refusal not dropped", len(evs), metric(t, r.b, "steward_refused_calls_recorded_total", ""), want)
	}
}

// metric returns the value of the counter name (with label reason, unless
// ""), 0 when absent.
func metric(t *testing.T, b *backend.Backend, name, reason string) float64 {
	t.Helper()
	families, err := b.Server().MetricsRegistry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			match := reason == ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					match = true
				}
			}
			if match {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// syncBuffer is a bytes.Buffer safe for concurrent use, for logs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestQueuedRefusalsAppendedAtShutdown: refusals still queued when the
// service stops are appended before its store closes.
func TestQueuedRefusalsAppendedAtShutdown(t *testing.T) {
	cfg := backendtest.Config(t, backend.Config{Name: "directory", EventLog: true, RefusedCallType: "directory.call.refused"})
	cfg.Authorizer = plainRefused
	cfg.Register = func(b *backend.Backend) error {
		directoryv1.RegisterDirectoryServiceServer(b.GRPCServer(), refusingDirectory{})
		return nil
	}
	b, err := cfg.Complete()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	<-b.Server().Ready()
	conn, err := b.Server().NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	dir := directoryv1.NewDirectoryServiceClient(conn)
	svc := backendtest.ServiceCallOption(b, backendtest.HarnessService)

	inside, release, released := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		released <- b.Store().Update(context.Background(), func(store.Tx) error {
			close(inside)
			<-release
			return nil
		})
	}()
	<-inside
	const calls = 3
	for range calls {
		if _, err := dir.DeactivateUser(as("plain", "req"), &directoryv1.DeactivateUserRequest{Name: "organizations/o1/users/u1"}, svc); status.Code(err) != codes.PermissionDenied {
			t.Fatalf("DeactivateUser as plain: %v, want PermissionDenied", err)
		}
	}
	cancel()
	time.Sleep(50 * time.Millisecond) // the server stops; the appender waits for the store
	close(release)
	if err := <-released; err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s")
	}

	st, err := bboltstore.Open(filepath.Join(cfg.DataDir, "directory.db"), bboltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, err := eventlog.New(st, "directory", eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := l.Read(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != calls {
		t.Errorf("the log holds %d events after shutdown, want the %d refusals", len(evs), calls)
	}
}
