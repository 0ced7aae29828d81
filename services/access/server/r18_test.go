package server_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/backend/backendtest"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store"
	"steward.dev/services/access/server"
)

// TestR18PlatformRoleOverGRPC (R18) is the service level of the Tenant
// Administrator shown at a service, over bufconn: ListRoleAssignments at a
// service of the tenant carries the platform-role label, and
// DeleteRoleAssignment named at that service is FAILED_PRECONDITION with
// ErrorInfo reason PLATFORM_ROLE_IMMUTABLE, whose metadata and message
// point at the tenant scope where it is removed.
func TestR18PlatformRoleOverGRPC(t *testing.T) {
	const (
		org     = "organizations/acme"
		tenant  = org + "/tenants/default"
		service = tenant + "/services/finance"
		owner   = org + "/users/owner"
		john    = org + "/users/john"
	)
	dirConn, dirStore, dirLog := backendtest.ServeLog(t, "directory")
	for _, ev := range []struct {
		typ      directoryv1.EventType
		resource string
		data     proto.Message
	}{
		{directoryv1.EventType_EVENT_TYPE_ORGANIZATION_CREATED, org, &directoryv1.Organization{Name: org, DisplayName: "Acme"}},
		{directoryv1.EventType_EVENT_TYPE_TENANT_CREATED, tenant, &directoryv1.Tenant{Name: tenant, DisplayName: "Default"}},
		{directoryv1.EventType_EVENT_TYPE_USER_CREATED, owner, &directoryv1.User{Name: owner, Nickname: "owner", State: directoryv1.User_STATE_ACTIVE, Owner: true}},
		{directoryv1.EventType_EVENT_TYPE_USER_CREATED, john, &directoryv1.User{Name: john, Nickname: "john", DisplayName: "John Smith", State: directoryv1.User_STATE_ACTIVE}},
		{directoryv1.EventType_EVENT_TYPE_SERVICE_CREATED, service, &directoryv1.Service{Name: service, DisplayName: "Finance", Type: "orchestrator", Creator: owner}},
	} {
		e, err := eventlog.NewEvent(eventlog.TypeName(ev.typ), eventlogv1.Operation_OPERATION_CREATE, ev.resource, ev.data, &eventlogv1.AuditEnvelope{})
		if err != nil {
			t.Fatal(err)
		}
		if err := dirStore.Update(context.Background(), func(tx store.Tx) error {
			_, err := dirLog.Append(tx, e)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	cfg := server.NewConfig()
	cfg.Config = backendtest.Config(t, cfg.Config)
	cfg.DirectoryConn = dirConn
	b, err := cfg.Complete()
	if err != nil {
		t.Fatal(err)
	}
	conn := backendtest.Run(t, b)
	backendtest.WaitServing(t, conn, "steward.access.v1.AccessService")
	c := accessv1.NewAccessServiceClient(conn)
	ctx := context.Background()
	harness := backendtest.ServiceCallOption(b, backendtest.HarnessService)

	created, err := c.CreateRoleAssignment(ctx, &accessv1.CreateRoleAssignmentRequest{
		Parent: org, Principal: john, Scope: tenant, Roles: []string{"roles/tenant-administrator"},
	}, harness)
	if err != nil {
		t.Fatal(err)
	}
	tenantAdmin := created.GetRoleAssignments()[0].GetName()

	// Visible at the service, labelled.
	list, err := c.ListRoleAssignments(ctx, &accessv1.ListRoleAssignmentsRequest{Parent: org, Scope: service}, harness)
	if err != nil {
		t.Fatal(err)
	}
	var shown *accessv1.RoleAssignment
	for _, a := range list.GetRoleAssignments() {
		if a.GetName() == tenantAdmin {
			shown = a
		}
	}
	if shown == nil || shown.GetPlatformRoleLabel() != "Platform role" || shown.GetScope() != tenant {
		t.Fatalf("the Tenant Administrator assignment at the service: %v; want it with its tenant scope and the label %q (listing %v)",
			shown, "Platform role", list.GetRoleAssignments())
	}

	// Immutable there, with a pointer to the tenant scope.
	_, err = c.DeleteRoleAssignment(ctx, &accessv1.DeleteRoleAssignmentRequest{Name: tenantAdmin, Scope: service}, harness)
	st := status.Convert(err)
	var info *errdetails.ErrorInfo
	for _, d := range st.Details() {
		if i, ok := d.(*errdetails.ErrorInfo); ok {
			info = i
		}
	}
	if st.Code() != codes.FailedPrecondition || info.GetReason() != "PLATFORM_ROLE_IMMUTABLE" ||
		info.GetMetadata()["scope"] != tenant || !strings.Contains(st.Message(), "remove it at "+tenant) {
		t.Fatalf("removing the platform role at the service: %v (details %v); want FAILED_PRECONDITION, PLATFORM_ROLE_IMMUTABLE, pointing at %s",
			err, info, tenant)
	}
	// At the tenant it goes.
	if _, err := c.DeleteRoleAssignment(ctx, &accessv1.DeleteRoleAssignmentRequest{Name: tenantAdmin, Scope: tenant}, harness); err != nil {
		t.Fatalf("removing the platform role at its tenant: %v", err)
	}
}
