package server_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	licensingv1 "steward.dev/gen/steward/licensing/v1"
	"steward.dev/pkg/accessauthz"
	"steward.dev/pkg/authn"
	"steward.dev/pkg/authz"
	"steward.dev/pkg/backend"
	"steward.dev/pkg/backend/backendtest"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store"
	"steward.dev/services/licensing/server"
)

// env is a licensing service on bufconn following a stand-in directory
// log the test writes to.
type env struct {
	t testing.TB
	b *backend.Backend
	// c calls licensing; use e.as(...) contexts with e.svc to act as a
	// user, e.operator to act as the installation's operator.
	c licensingv1.LicensingServiceClient
	// events reads licensing's event log.
	events eventlogv1.EventLogServiceClient
	// svc authenticates as the test harness (acting for e.as's user).
	svc grpc.CallOption
	// operator authenticates as the installation's operator.
	operator grpc.CallOption
	// dirStore and dirLog are the stand-in directory's log.
	dirStore store.Store
	dirLog   *eventlog.Log
}

// members stands in for access management: every member of an
// organization holds every permission in it, except users called "plain",
// who hold only licenses.view; another organization is NotFound, as
// pkg/accessauthz answers.
var members = authz.AuthorizerFunc(func(_ context.Context, req authz.Request) (authz.Decision, error) {
	if err := accessauthz.SameOrganization(req, "licensing.steward.dev"); err != nil {
		return authz.Decision{}, err
	}
	if strings.HasSuffix(req.Principal.Name, "/users/plain") {
		var missing []string
		for _, p := range req.Permissions {
			if p != "licenses.view" {
				missing = append(missing, p)
			}
		}
		if len(missing) > 0 {
			return authz.Decision{Reason: "a plain member (test)", Missing: missing}, nil
		}
	}
	return authz.Decision{Allowed: true, Reason: "a member (test)"}, nil
})

// newEnv starts a licensing service for one test.
func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t}
	var dirConn grpc.ClientConnInterface
	dirConn, e.dirStore, e.dirLog = directoryLog(t)
	cfg := server.NewConfig()
	cfg.Config = backendtest.Config(t, cfg.Config)
	cfg.Authorizer = members
	cfg.DirectoryConn = dirConn
	b, err := cfg.Complete()
	if err != nil {
		t.Fatal(err)
	}
	conn := backendtest.Run(t, b)
	e.b = b
	e.c = licensingv1.NewLicensingServiceClient(conn)
	e.events = eventlogv1.NewEventLogServiceClient(conn)
	e.svc = backendtest.ServiceCallOption(b, backendtest.HarnessService)
	e.operator = backendtest.ServiceCallOption(b, backend.Operator)
	return e
}

// directoryLog serves an event log standing in for the directory's, over
// bufconn, and returns a connection to it with its store and log.
func directoryLog(t testing.TB) (grpc.ClientConnInterface, store.Store, *eventlog.Log) {
	t.Helper()
	return backendtest.ServeLog(t, "directory")
}

// directory appends an event of the stand-in directory: typ about
// resource, with data (nil for a deletion).
func (e *env) directory(typ directoryv1.EventType, resource string, data proto.Message) {
	e.t.Helper()
	op := eventlogv1.Operation_OPERATION_CREATE
	if data == nil {
		op = eventlogv1.Operation_OPERATION_DELETE
	}
	ev, err := eventlog.NewEvent(eventlog.TypeName(typ), op, resource, data, &eventlogv1.AuditEnvelope{})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.dirStore.Update(context.Background(), func(tx store.Tx) error {
		_, err := e.dirLog.Append(tx, ev)
		return err
	}); err != nil {
		e.t.Fatal(err)
	}
}

// signUp makes the directory sign up organization org with users (active)
// and returns org's name.
func (e *env) signUp(id string, users ...string) string {
	e.t.Helper()
	org := "organizations/" + id
	e.directory(directoryv1.EventType_EVENT_TYPE_ORGANIZATION_CREATED, org, &directoryv1.Organization{Name: org})
	for _, u := range users {
		name := org + "/users/" + u
		e.directory(directoryv1.EventType_EVENT_TYPE_USER_CREATED, name, &directoryv1.User{Name: name, State: directoryv1.User_STATE_ACTIVE})
	}
	return org
}

// as returns a context acting as user u of org through the harness
// credential (pass e.svc as call option).
func (e *env) as(org, u string) context.Context { return e.asPrincipal(org, org+"/users/"+u) }

// asPrincipal returns a context acting as principal (a user or robot
// account) of org through the harness credential.
func (e *env) asPrincipal(org, principal string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), authn.MDActor, principal, authn.MDActorOrganization, org)
}
