package access_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/accessauthz"
	"steward.dev/pkg/authn"
	"steward.dev/pkg/backend"
	"steward.dev/pkg/backend/backendtest"
	"steward.dev/pkg/grpcclient"
	"steward.dev/pkg/verifier"
	"steward.dev/services/access/server"
	dirserver "steward.dev/services/directory/server"
)

// env is a directory and an access service on bufconn, each with its own
// service credential, access following the directory's event log.
type env struct {
	t *testing.T
	// dir and acc are the two backends.
	dir, acc *backend.Backend
	// d calls the directory, a calls access, events reads access's log,
	// dlog the directory's.
	d      directoryv1.DirectoryServiceClient
	a      accessv1.AccessServiceClient
	events eventlogv1.EventLogServiceClient
	dlog   eventlogv1.EventLogServiceClient
	// dirSvc and accSvc authenticate calls as the test harness's service on
	// each backend; with the actor metadata of e.as they act for a user.
	dirSvc, accSvc grpc.CallOption
}

var orgCounter atomic.Int64

// newEnv starts a directory and an access service for one test.
func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvOn(t, nil)
}

// newEnvOn starts a directory and an access service for one test; prepare,
// when not nil, is called with their data directories before either opens
// its store (to start them on existing data).
func newEnvOn(t *testing.T, prepare func(directoryData, accessData string)) *env {
	t.Helper()
	e := startEnv(t, prepare)
	e.t = t
	return e
}

// startEnv starts the directory and access of newEnvOn for a test or a
// benchmark; the env's t is left nil (newEnvOn sets it), so its helpers
// that report through it are for tests only.
func startEnv(t testing.TB, prepare func(directoryData, accessData string)) *env {
	t.Helper()
	// The directory must serve before access can follow it; its permission
	// checks go to access once access runs.
	ask := &accessauthz.Deferred{}
	dcfg := dirserver.NewConfig()
	dcfg.Config = backendtest.Config(t, dcfg.Config)
	dcfg.Authorizer = ask
	acfg := server.NewConfig()
	acfg.Config = backendtest.Config(t, acfg.Config)
	if prepare != nil {
		prepare(dcfg.DataDir, acfg.DataDir)
	}
	dir, err := dcfg.Complete()
	if err != nil {
		t.Fatal(err)
	}
	dconn := backendtest.Run(t, dir)

	feedConn := serviceConn(t, dir, server.Name)
	acfg.DirectoryConn = feedConn
	acfg.Verifier = verifier.New(feedConn)
	acc, err := acfg.Complete()
	if err != nil {
		t.Fatal(err)
	}
	aconn := backendtest.Run(t, acc)
	ask.Set(accessauthz.New(serviceConn(t, acc, "directory"), accessauthz.WithDirectorySequence(dir.EventLog().Head)))
	return &env{
		dir: dir, acc: acc,
		d:      directoryv1.NewDirectoryServiceClient(dconn),
		a:      accessv1.NewAccessServiceClient(aconn),
		events: eventlogv1.NewEventLogServiceClient(aconn),
		dirSvc: backendtest.ServiceCallOption(dir, backendtest.HarnessService),
		accSvc: backendtest.ServiceCallOption(acc, backendtest.HarnessService),
		dlog:   eventlogv1.NewEventLogServiceClient(dconn),
	}
}

// serviceConn returns a connection to b authenticating as the service named
// as, with that service's own credential (pkg/grpcclient's interceptors).
func serviceConn(t testing.TB, b *backend.Backend, as string) *grpc.ClientConn {
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

// signUp creates an organization in the directory; the owner's password is
// "correct horse battery".
func (e *env) signUp() *directoryv1.SignUpResponse {
	e.t.Helper()
	n := orgCounter.Add(1)
	resp, err := e.d.SignUp(context.Background(), &directoryv1.SignUpRequest{
		OrganizationId:          fmt.Sprintf("org%d", n),
		OrganizationDisplayName: fmt.Sprintf("Org %d", n),
		Nickname:                "owner",
		Email:                   fmt.Sprintf("owner@org%d.example", n),
		Password:                "correct horse battery",
	})
	if err != nil {
		e.t.Fatalf("SignUp: %v", err)
	}
	return resp
}

// as returns a context acting as user of org through a service credential
// (pass e.dirSvc or e.accSvc as call option).
func (e *env) as(user, org string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), authn.MDActor, user, authn.MDActorOrganization, org)
}

// bearer returns a context sending token as "authorization: Bearer".
func bearer(token string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
}

// signIn signs in with a password and returns the token.
func (e *env) signIn(org, email, password string) string {
	e.t.Helper()
	resp, err := e.d.SignIn(context.Background(), &directoryv1.SignInRequest{
		Organization: org,
		Credential:   &directoryv1.SignInRequest_Password{Password: &directoryv1.PasswordCredential{Email: email, Password: password}},
	})
	if err != nil {
		e.t.Fatalf("SignIn %s: %v", email, err)
	}
	return resp.GetAccessToken()
}
