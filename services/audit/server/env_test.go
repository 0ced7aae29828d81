package server_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	auditv1 "steward.dev/gen/steward/audit/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/accessauthz"
	"steward.dev/pkg/authn"
	"steward.dev/pkg/authz"
	"steward.dev/pkg/backend"
	"steward.dev/pkg/backend/backendtest"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store"
	"steward.dev/services/audit/server"
)

// members stands in for access management: every member of an
// organization holds audit_logs.view and audit_logs.edit in it, except
// users called "plain" (neither) and "viewer" (view only); another
// organization is NotFound, as pkg/accessauthz answers.
var members = authz.AuthorizerFunc(func(_ context.Context, req authz.Request) (authz.Decision, error) {
	if err := accessauthz.SameOrganization(req, "audit.steward.dev"); err != nil {
		return authz.Decision{}, err
	}
	if strings.HasSuffix(req.Principal.Name, "/users/plain") {
		return authz.Decision{Reason: "a plain member (test)", Missing: req.Permissions}, nil
	}
	if strings.HasSuffix(req.Principal.Name, "/users/viewer") {
		var missing []string
		for _, p := range req.Permissions {
			if p != "audit_logs.view" {
				missing = append(missing, p)
			}
		}
		if len(missing) > 0 {
			return authz.Decision{Reason: "a viewer (test)", Missing: missing}, nil
		}
	}
	return authz.Decision{Allowed: true, Reason: "a member (test)"}, nil
})

// source is a stand-in for a followed service: its event log, served over
// bufconn.
type source struct {
	name string
	conn grpc.ClientConnInterface
	st   store.Store
	log  *eventlog.Log
}

// env is an audit service on bufconn following three stand-in logs the
// test writes to. Its data directory outlives a restart.
type env struct {
	t       testing.TB
	dataDir string
	sources map[string]*source
	// Set by start, cleared by stop.
	b    *backend.Backend
	c    auditv1.AuditServiceClient
	stop func()
	// svc authenticates as the test harness (acting for e.as's user);
	// operator as the installation's operator.
	svc, operator grpc.CallOption
}

// newEnv starts an audit service following fresh logs of directory,
// access and licensing (retention as given for each, none by default).
func newEnv(t testing.TB, retention map[string]eventlog.Retention) *env {
	t.Helper()
	e := &env{t: t, dataDir: filepath.Join(t.TempDir(), "audit"), sources: map[string]*source{}}
	for _, name := range server.Sources {
		e.sources[name] = serveLog(t, name, retention[name])
	}
	e.start()
	return e
}

// start runs the audit backend on e's data directory until stop or the
// end of the test.
func (e *env) start() {
	e.t.Helper()
	cfg := server.NewConfig()
	cfg.Config = backendtest.Config(e.t, cfg.Config)
	cfg.DataDir = e.dataDir
	cfg.Authorizer = members
	cfg.CheckpointInterval = 50 * time.Millisecond
	// Retention in milliseconds, so that TestRetention sees purges; no
	// organization has one unless a test sets it.
	cfg.PurgeInterval = 50 * time.Millisecond
	cfg.Domain.MinRetention = time.Millisecond
	// Audit's clock runs a year ahead, past the stand-in logs' times (at),
	// which are then old enough to purge.
	cfg.Domain.Clock = func() time.Time { return time.Now().AddDate(1, 0, 0) }
	cfg.SourceConns = map[string]grpc.ClientConnInterface{}
	for name, s := range e.sources {
		cfg.SourceConns[name] = s.conn
	}
	b, err := cfg.Complete()
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	select {
	case <-b.Server().Ready():
	case err := <-done:
		e.t.Fatalf("Run returned before serving: %v", err)
	case <-time.After(10 * time.Second):
		e.t.Fatal("server not ready within 10s")
	}
	conn, err := b.Server().NewClient()
	if err != nil {
		e.t.Fatal(err)
	}
	stopped := false
	e.stop = func() {
		if stopped {
			return
		}
		stopped = true
		_ = conn.Close()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			e.t.Error("Run did not return within 10s of cancellation")
		}
	}
	e.t.Cleanup(e.stop)
	e.b, e.c = b, auditv1.NewAuditServiceClient(conn)
	e.svc = backendtest.ServiceCallOption(b, backendtest.HarnessService)
	e.operator = backendtest.ServiceCallOption(b, backend.Operator)
	backendtest.WaitServing(e.t, conn, server.Name)
}

// serveLog serves, over bufconn, an event log standing in for source's,
// with retention r.
func serveLog(t testing.TB, name string, r eventlog.Retention) *source {
	t.Helper()
	// Each log's clock starts at at and moves one second per event.
	var n atomic.Int64
	clock := func() time.Time { return at.Add(time.Duration(n.Add(1)-1) * time.Second) }
	conn, st, log := backendtest.ServeLogWith(t, name, eventlog.Options{Retention: r, Clock: clock})
	return &source{name: name, conn: conn, st: st, log: log}
}

// at is the time of the first event of each stand-in log; each later
// event of a log is one second later.
var at = time.Date(2027, 5, 1, 9, 0, 0, 0, time.UTC)

// emit appends n events of type typ about resource (in its organization)
// to source's log, acting as actor, each in its own transaction, and
// returns their sequences.
func (e *env) emit(src, typ, resource, actor string, n int) []uint64 {
	e.t.Helper()
	s := e.sources[src]
	var seqs []uint64
	for i := range n {
		ev, err := eventlog.NewEvent(typ, eventlogv1.Operation_OPERATION_UPDATE, resource, nil, &eventlogv1.AuditEnvelope{
			Actor: actor, Outcome: eventlogv1.Outcome_OUTCOME_SUCCESS, RequestId: fmt.Sprintf("%s-%d", src, i),
			Message: fmt.Sprintf("%s did %s to %s", actor, typ, resource),
		})
		if err != nil {
			e.t.Fatal(err)
		}
		if err := s.st.Update(context.Background(), func(tx store.Tx) error {
			seq, err := s.log.Append(tx, ev)
			seqs = append(seqs, seq)
			return err
		}); err != nil {
			e.t.Fatal(err)
		}
	}
	return seqs
}

// as returns a context acting as user u of org through the harness
// credential (pass e.svc as call option).
func as(org, u string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), authn.MDActor, org+"/users/"+u, authn.MDActorOrganization, org)
}

// waitIngested waits, at most 10s, until audit has recorded source's log
// up to its head.
func (e *env) waitIngested() {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := e.c.GetIngestionStatus(context.Background(), &auditv1.GetIngestionStatusRequest{}, e.operator)
		if err != nil {
			e.t.Fatal(err)
		}
		done := true
		for _, s := range st.GetSources() {
			head, err := e.sources[s.GetSource()].log.Head(context.Background())
			if err != nil {
				e.t.Fatal(err)
			}
			done = done && s.GetCursor() == head
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("not ingested within 10s: %v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
