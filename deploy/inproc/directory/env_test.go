package directory_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/accessauthz"
	"steward.dev/pkg/authn"
	"steward.dev/pkg/authz"
	"steward.dev/pkg/backend"
	"steward.dev/pkg/backend/backendtest"
	"steward.dev/pkg/eventlog"
	"steward.dev/services/directory/domain"
	"steward.dev/services/directory/server"
)

// env is a directory service on bufconn with clients for the tests.
type env struct {
	t    *testing.T
	b    *backend.Backend
	conn *grpc.ClientConn
	// c calls the directory; use e.as(...) contexts to act as a user.
	c directoryv1.DirectoryServiceClient
	// events reads the directory's event log.
	events eventlogv1.EventLogServiceClient
	// svc authenticates calls as the test harness's service
	// (backendtest.HarnessService); together with the actor metadata of e.as
	// it acts on behalf of a user, held to that user's permissions (without
	// access management: members, below) and the domain's rules.
	svc grpc.CallOption
}

var orgCounter atomic.Int64

// newEnv starts a directory service for one test.
func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, domain.Options{})
}

// newEnvWith starts a directory service with domain options (rate limits,
// clock) for one test.
func newEnvWith(t *testing.T, opts domain.Options) *env {
	t.Helper()
	return newEnvConfig(t, func(c *server.Config) { c.Domain = opts })
}

// members stands in for access management in tests of the directory alone:
// every member of an organization holds every permission in it, an
// enrolment-only session none, and another organization is NotFound, as
// pkg/accessauthz answers. The domain's own rules still apply.
var members = authz.AuthorizerFunc(func(_ context.Context, req authz.Request) (authz.Decision, error) {
	if err := accessauthz.SameOrganization(req, "steward.dev"); err != nil {
		return authz.Decision{}, err
	}
	if accessauthz.IsEnrollmentSession(req.Principal.SessionID) {
		return authz.Decision{Reason: accessauthz.EnrollmentReason, Missing: req.Permissions}, nil
	}
	return authz.Decision{Allowed: true, Reason: "a member (test)"}, nil
})

// newEnvConfig starts a directory whose configuration edit changes.
func newEnvConfig(t *testing.T, edit func(*server.Config)) *env {
	t.Helper()
	cfg := server.NewConfig()
	cfg.Config = backendtest.Config(t, cfg.Config)
	cfg.Authorizer = members
	edit(&cfg)
	b, err := cfg.Complete()
	if err != nil {
		t.Fatal(err)
	}
	conn := backendtest.Run(t, b)
	return &env{
		t: t, b: b, conn: conn,
		c:      directoryv1.NewDirectoryServiceClient(conn),
		events: eventlogv1.NewEventLogServiceClient(conn),
		svc:    backendtest.ServiceCallOption(b, backendtest.HarnessService),
	}
}

// signUp creates an organization with a unique ID and returns what sign-up
// made; the owner's password is "correct horse battery".
func (e *env) signUp() *directoryv1.SignUpResponse {
	e.t.Helper()
	n := orgCounter.Add(1)
	resp, err := e.c.SignUp(context.Background(), &directoryv1.SignUpRequest{
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

// as returns a context acting as user of org through the service
// credential (pass e.svc as call option).
func (e *env) as(user, org string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), authn.MDActor, user, authn.MDActorOrganization, org)
}

// asOwner acts as the owner of the organization sign-up created.
func (e *env) asOwner(su *directoryv1.SignUpResponse) context.Context {
	return e.as(su.GetOwner().GetName(), su.GetOrganization().GetName())
}

// eventsAfter returns every event with sequence greater than after, but
// the records of refused calls (directory.call.refused, R27): they are
// appended after the refusal went back, at no set moment, and change
// nothing.
func (e *env) eventsAfter(after uint64) []*eventlogv1.Event {
	e.t.Helper()
	resp, err := e.events.ListEvents(context.Background(), &eventlogv1.ListEventsRequest{AfterSequence: after, PageSize: 1000}, e.svc)
	if err != nil {
		e.t.Fatalf("ListEvents: %v", err)
	}
	refused := eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_CALL_REFUSED)
	var out []*eventlogv1.Event
	for _, ev := range resp.GetEvents() {
		if ev.GetType() != refused {
			out = append(out, ev)
		}
	}
	return out
}
