//go:build e2e

package e2e_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/authn"
)

// service is one backend binary started on its own by a test.
type service struct {
	cmd *exec.Cmd
	out *syncBuffer
}

// startService starts bin/steward-<name> with its data and credentials
// under dataDir and the given extra flags; it is stopped at cleanup.
func startService(t *testing.T, name, dataDir, addr string, flags ...string) *service {
	t.Helper()
	creds := filepath.Join(dataDir, "credentials")
	args := append([]string{
		"-addr", addr, "-metrics-addr", "",
		"-data-dir", filepath.Join(dataDir, name),
		"-service-credential-file", filepath.Join(creds, name),
		"-trusted-services-file", filepath.Join(creds, "services.sha256"),
		"-access-addr", "",
	}, flags...)
	s := &service{cmd: exec.Command(filepath.Join(os.Getenv("STEWARD_BIN"), "steward-"+name), args...), out: &syncBuffer{}}
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop stops the service gracefully (SIGTERM) and waits for it.
func (s *service) stop(t *testing.T) {
	t.Helper()
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
		t.Errorf("%s did not stop within 15s:\n%s", s.cmd.Path, s.out.String())
	}
}

// healthOf waits, at most 30s, until the health of service on conn is want.
func healthOf(t *testing.T, conn *grpc.ClientConn, service string, want healthpb.HealthCheckResponse_ServingStatus, logs *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		stream, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{Service: service}, grpc.WaitForReady(true))
		if err == nil {
			for {
				resp, err := stream.Recv()
				if err != nil {
					break
				}
				if resp.GetStatus() == want {
					return
				}
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("health of %s never became %v:\n%s", service, want, logs.String())
		}
	}
}

// asLoneService returns ctx calling as the service (or operator) name:
// backends started alone make only their own credentials, so it makes
// name's the way steward-local would (its secret, its line in the
// trusted-services file).
func asLoneService(ctx context.Context, t *testing.T, dataDir, name string) context.Context {
	t.Helper()
	creds := filepath.Join(dataDir, "credentials")
	cred, err := authn.LoadOrCreateServiceCredential(filepath.Join(creds, name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := authn.EnsureTrustedService(filepath.Join(creds, "services.sha256"), name, cred); err != nil {
		t.Fatal(err)
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", cred.AuthorizationFor(name))
}

// TestWorstStartOrder (issue 10, deliver 3): access started while the
// directory it follows is down says NOT_SERVING, and once the directory
// comes up it turns SERVING only after it has caught up with the head it
// saw on connecting: a Check right after it turns SERVING, with no
// consistency token, already sees the directory's earlier changes.
func TestWorstStartOrder(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	ports := freePorts(t, 2)
	dirAddr, accAddr := ports[0], ports[1]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The directory writes some history, then goes away.
	dir := startService(t, "directory", dataDir, dirAddr, "-directory-addr", dirAddr)
	dirConn, err := grpc.NewClient(dirAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer dirConn.Close()
	healthOf(t, dirConn, "directory", healthpb.HealthCheckResponse_SERVING, dir.out)
	su, err := directoryv1.NewDirectoryServiceClient(dirConn).SignUp(ctx, &directoryv1.SignUpRequest{OrganizationId: "order",
		OrganizationDisplayName: "Order", Nickname: "owner", Email: "owner@order.example", Password: "owner's long password"}, grpc.WaitForReady(true))
	if err != nil {
		t.Fatal(err)
	}
	dir.stop(t)

	// Access comes first: it cannot follow the directory, so it is not ready.
	acc := startService(t, "access", dataDir, accAddr, "-directory-addr", dirAddr)
	accConn, err := grpc.NewClient(accAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer accConn.Close()
	healthOf(t, accConn, "access", healthpb.HealthCheckResponse_NOT_SERVING, acc.out)

	// The directory comes back: access catches up, then says SERVING.
	startService(t, "directory", dataDir, dirAddr, "-directory-addr", dirAddr)
	healthOf(t, accConn, "access", healthpb.HealthCheckResponse_SERVING, acc.out)
	asLicensing := asLoneService(ctx, t, dataDir, "licensing")
	resp, err := accessv1.NewAccessServiceClient(accConn).CheckPermission(asLicensing, &accessv1.CheckPermissionRequest{
		Principal: su.GetOwner().GetName(), Permission: "users.create", Scope: su.GetOrganization().GetName()})
	if err != nil {
		t.Fatalf("CheckPermission: %v\n%s", err, acc.out.String())
	}
	if !resp.GetAllowed() {
		t.Fatalf("access said SERVING before it knew the owner signed up before it connected: %v", resp)
	}
}

// TestAccessResyncsAfterRetention (issue 10, deliver 2 and 4): access,
// stopped while the directory changed and then trimmed its log past
// access's cursor, resyncs from the directory's snapshot when it comes
// back (it says so in its log), and answers from the directory's present
// state once it is SERVING, built-in assignments included.
func TestAccessResyncsAfterRetention(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	ports := freePorts(t, 2)
	dirAddr, accAddr := ports[0], ports[1]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	retention := []string{"-directory-addr", dirAddr, "-eventlog-max-events", "2"}

	dir := startService(t, "directory", dataDir, dirAddr, retention...)
	dirConn, err := grpc.NewClient(dirAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer dirConn.Close()
	d := directoryv1.NewDirectoryServiceClient(dirConn)
	healthOf(t, dirConn, "directory", healthpb.HealthCheckResponse_SERVING, dir.out)
	acc := startService(t, "access", dataDir, accAddr, "-directory-addr", dirAddr)
	accConn, err := grpc.NewClient(accAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer accConn.Close()
	healthOf(t, accConn, "access", healthpb.HealthCheckResponse_SERVING, acc.out)
	su, err := d.SignUp(ctx, &directoryv1.SignUpRequest{OrganizationId: "trim", OrganizationDisplayName: "Trim",
		Nickname: "owner", Email: "owner@trim.example", Password: "owner's long password"})
	if err != nil {
		t.Fatal(err)
	}
	if su.GetOrganization() == nil {
		t.Fatal("no organization signed up")
	}
	acc.stop(t) // access goes away ...

	// ... another organization signs up (public: it needs no permission
	// check), and on its next start the directory trims its log to the
	// newest two events: access's cursor is behind its horizon.
	late, err := d.SignUp(ctx, &directoryv1.SignUpRequest{OrganizationId: "late", OrganizationDisplayName: "Late",
		Nickname: "owner", Email: "owner@late.example", Password: "owner's long password"})
	if err != nil {
		t.Fatal(err)
	}
	dir.stop(t)
	dir = startService(t, "directory", dataDir, dirAddr, retention...)
	healthOf(t, dirConn, "directory", healthpb.HealthCheckResponse_SERVING, dir.out)

	acc = startService(t, "access", dataDir, accAddr, "-directory-addr", dirAddr)
	healthOf(t, accConn, "access", healthpb.HealthCheckResponse_SERVING, acc.out)
	if !strings.Contains(acc.out.String(), "resynced") {
		t.Errorf("access became SERVING without resyncing:\n%s", acc.out.String())
	}
	asLicensing := asLoneService(ctx, t, dataDir, "licensing")
	// The late organization's owner holds the Owner role, which access
	// binds when it learns of the owner's creation: the resync did it.
	resp, err := accessv1.NewAccessServiceClient(accConn).CheckPermission(asLicensing, &accessv1.CheckPermissionRequest{
		Principal: late.GetOwner().GetName(), Permission: "users.create", Scope: late.GetOrganization().GetName()})
	if err != nil {
		t.Fatalf("CheckPermission: %v\n%s", err, acc.out.String())
	}
	if !resp.GetAllowed() {
		t.Fatalf("after the resync access does not know the owner who signed up while it was away: %v", resp)
	}
}
