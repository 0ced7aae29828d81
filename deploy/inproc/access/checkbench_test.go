package access_test

import (
	"context"
	"testing"
	"time"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
)

// BenchmarkCheckPermissionGRPC is one CheckPermission through access's
// whole gRPC server (interceptor chain, protovalidate's fast path,
// authorization, the model), over bufconn in process, asked by a service
// about the owner of an organization: the Check path as a caller meets it,
// without the network. Issue 15 compares it with tracing off before and
// after the OpenTelemetry wiring.
func BenchmarkCheckPermissionGRPC(b *testing.B) {
	e := startEnv(b, nil)
	su, err := e.d.SignUp(context.Background(), &directoryv1.SignUpRequest{
		OrganizationId: "benchorg", OrganizationDisplayName: "Bench Org",
		Nickname: "owner", Email: "owner@benchorg.example", Password: "correct horse battery",
	})
	if err != nil {
		b.Fatalf("SignUp: %v", err)
	}
	req := &accessv1.CheckPermissionRequest{Principal: su.GetOwner().GetName(), Permission: "dashboard.view", Scope: su.GetOrganization().GetName()}
	ctx := context.Background()
	// Wait for access to have applied the sign-up.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := e.a.CheckPermission(ctx, req, e.accSvc)
		if err == nil && resp.GetAllowed() {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("CheckPermission never allowed: %v %v", resp, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.a.CheckPermission(ctx, req, e.accSvc); err != nil {
			b.Fatal(err)
		}
	}
}
