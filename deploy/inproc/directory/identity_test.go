package directory_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/authn"
	"steward.dev/pkg/backend"
	"steward.dev/pkg/backend/backendtest"
)

// TestServiceActingForUser (issue 9 item 10): a service acting for an end
// user gains nothing over the user calling directly, and a service calls
// only the methods granted to it (backend.SuitePolicy), with its own secret.
func TestServiceActingForUser(t *testing.T) {
	e := newAccessEnv(t)
	su := e.signUpReady()
	org := su.GetOrganization().GetName()
	owner := e.asOwner(su)
	member, err := e.c.CreateUser(owner, &directoryv1.CreateUserRequest{Parent: org, UserId: "mia",
		User: &directoryv1.User{Nickname: "mia", Email: "mia@x.example"}}, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	e.awaitAccess(member.GetName(), "users.view", org, true) // Everyone -> User
	asMember := e.as(member.GetName(), org)

	// A plain member may not create users, directly or through a service.
	_, err = e.c.CreateUser(asMember, &directoryv1.CreateUserRequest{Parent: org,
		User: &directoryv1.User{Nickname: "ned", Email: "ned@x.example"}}, e.svc)
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(status.Convert(err).Message(), "users.create") {
		t.Fatalf("member creating a user through a service: %v, want PermissionDenied naming users.create", err)
	}
	// Through a service, another organization stays invisible.
	other := e.signUpReady()
	_, err = e.a.CheckPermission(asMember, &accessv1.CheckPermissionRequest{Principal: other.GetOwner().GetName(),
		Permission: "users.create", Scope: other.GetOrganization().GetName()}, e.accSvc)
	if code := status.Code(err); code != codes.NotFound && code != codes.PermissionDenied {
		t.Fatalf("member asking about another organization through a service: %v, want NotFound", err)
	}

	// The real services, each with its own credential.
	as := func(b *backend.Backend, service string) context.Context {
		return metadata.AppendToOutgoingContext(owner, authn.MDAuthorization,
			backendtest.ServiceCredential(b, service).AuthorizationFor(service))
	}
	// Services are not granted user administration, even for an owner.
	if _, err := e.c.GetOrganization(as(e.b, backend.Access), &directoryv1.GetOrganizationRequest{Name: org}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("access calling GetOrganization: %v, want PermissionDenied (not granted)", err)
	}
	_, err = e.c.CreateUser(as(e.b, backend.Licensing), &directoryv1.CreateUserRequest{Parent: org,
		User: &directoryv1.User{Nickname: "oz", Email: "oz@x.example"}})
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(status.Convert(err).Message(), "services/licensing may not call") {
		t.Errorf("licensing creating a user for the owner: %v, want PermissionDenied (not granted)", err)
	}
	// CheckMembershipChange is the directory's alone.
	_, err = e.a.CheckMembershipChange(as(e.acc, backend.Licensing), &accessv1.CheckMembershipChangeRequest{Group: org + "/groups/administrators", Add: true})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("licensing calling CheckMembershipChange: %v, want PermissionDenied", err)
	}
	// A service's secret authenticates that service only.
	asDirectory := metadata.AppendToOutgoingContext(owner, authn.MDAuthorization,
		backendtest.ServiceCredential(e.acc, backend.Licensing).AuthorizationFor(backend.Directory))
	_, err = e.a.CheckMembershipChange(asDirectory, &accessv1.CheckMembershipChangeRequest{Group: org + "/groups/administrators", Add: true})
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("licensing's secret named directory: %v, want Unauthenticated", err)
	}
}
