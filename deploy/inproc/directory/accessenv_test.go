package directory_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/accessauthz"
	"steward.dev/pkg/backend"
	"steward.dev/pkg/backend/backendtest"
	"steward.dev/pkg/grpcclient"
	"steward.dev/pkg/verifier"
	accessserver "steward.dev/services/access/server"
	"steward.dev/services/directory/domain"
	"steward.dev/services/directory/server"
)

// accessEnv is a directory whose permission checks are answered by a real
// access management service (issue 5 item 9), both on bufconn: access
// follows the directory's event log, the directory asks access with its
// service credential, as in the suite.
type accessEnv struct {
	*env
	// acc is the access backend; a calls it, accSvc authenticates as the
	// test harness's service there (backendtest.HarnessService).
	acc    *backend.Backend
	a      accessv1.AccessServiceClient
	accSvc grpc.CallOption
	// batchAsks counts the directory's round trips to access management's
	// BatchCheckMembershipChange.
	batchAsks *atomic.Int32
}

// accessEnvTimeout bounds how long a test waits for access to have applied
// a directory change (its feed is asynchronous).
const accessEnvTimeout = 5 * time.Second

// newAccessEnv starts a directory and an access service following it, the
// directory's authorizer asking that access.
func newAccessEnv(t *testing.T) *accessEnv {
	t.Helper()
	// The directory must serve before access can follow it; its authorizer
	// is set once access runs.
	ask := &accessauthz.Deferred{}
	var accessClient atomic.Pointer[accessv1.AccessServiceClient]
	cfg := server.NewConfig()
	cfg.Config = backendtest.Config(t, cfg.Config)
	cfg.Authorizer = ask
	cfg.Domain.AdministratorRoles = func(ctx context.Context, user string) ([]string, error) {
		return server.AdministratorRoles(*accessClient.Load())(ctx, user)
	}
	cfg.Domain.MembershipChange = func(ctx context.Context, group string, add bool) error {
		return server.MembershipChange(*accessClient.Load())(ctx, group, add)
	}
	batchAsks := new(atomic.Int32)
	cfg.Domain.MembershipChanges = func(ctx context.Context, changes []domain.GroupChange) (int, error) {
		batchAsks.Add(1)
		return server.MembershipChanges(*accessClient.Load())(ctx, changes)
	}
	dir, err := cfg.Complete()
	if err != nil {
		t.Fatal(err)
	}
	conn := backendtest.Run(t, dir)

	// Access reads the directory's log and verifies bearer tokens there.
	feedConn := serviceConn(t, dir, accessserver.Name)
	acfg := accessserver.NewConfig()
	acfg.Config = backendtest.Config(t, acfg.Config)
	acfg.DirectoryConn = feedConn
	acfg.Verifier = verifier.New(feedConn)
	acc, err := acfg.Complete()
	if err != nil {
		t.Fatal(err)
	}
	aconn := backendtest.Run(t, acc)
	// As in the suite (server.Config.AccessFollowsLog): read-your-writes.
	asDirectory := serviceConn(t, acc, server.Name)
	client := accessv1.NewAccessServiceClient(asDirectory)
	accessClient.Store(&client)
	ask.Set(accessauthz.New(asDirectory, accessauthz.WithDirectorySequence(dir.EventLog().Head)))

	return &accessEnv{
		env: &env{
			t: t, b: dir, conn: conn,
			c:      directoryv1.NewDirectoryServiceClient(conn),
			events: eventlogv1.NewEventLogServiceClient(conn),
			svc:    backendtest.ServiceCallOption(dir, backendtest.HarnessService),
		},
		acc:       acc,
		a:         accessv1.NewAccessServiceClient(aconn),
		accSvc:    backendtest.ServiceCallOption(acc, backendtest.HarnessService),
		batchAsks: batchAsks,
	}
}

// serviceConn returns a connection to b authenticating as the service named
// as, with that service's own credential (pkg/grpcclient's interceptors).
func serviceConn(t *testing.T, b *backend.Backend, as string) *grpc.ClientConn {
	t.Helper()
	unary, stream, err := grpcclient.Interceptors(grpcclient.Options{Service: as, Credential: backendtest.ServiceCredential(b, as)})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := b.Server().NewClient(grpc.WithChainUnaryInterceptor(unary), grpc.WithChainStreamInterceptor(stream))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// holds asks access whether principal holds permission at scope.
func (e *accessEnv) holds(principal, permission, scope string) (bool, error) {
	resp, err := e.a.CheckPermission(context.Background(), &accessv1.CheckPermissionRequest{
		Principal: principal, Permission: permission, Scope: scope,
	}, e.accSvc)
	return resp.GetAllowed(), err
}

// awaitAccess waits until access says whether principal holds permission at
// scope as want: access applies the directory's changes asynchronously.
func (e *accessEnv) awaitAccess(principal, permission, scope string, want bool) {
	e.t.Helper()
	deadline := time.Now().Add(accessEnvTimeout)
	for {
		got, err := e.holds(principal, permission, scope)
		if err == nil && got == want {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("access still says %s holds %s at %s: %v (%v), want %v after %v", principal, permission, scope, got, err, want, accessEnvTimeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// signUpReady signs up and waits until access knows the owner (holds the
// Owner role's users.create at the organization).
func (e *accessEnv) signUpReady() *directoryv1.SignUpResponse {
	e.t.Helper()
	su := e.signUp()
	e.awaitAccess(su.GetOwner().GetName(), "users.create", su.GetOrganization().GetName(), true)
	return su
}
