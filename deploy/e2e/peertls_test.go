//go:build e2e

package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/grpcclient"
	"steward.dev/pkg/testpki"
)

// TestPeerTLS (issue 17 point 6): the directory and access, each serving
// TLS only with its own certificate and dialling the other with
// -peer-tls-ca, -peer-tls-cert and -peer-tls-key, as the Kubernetes
// manifests run them. Each has credentials of its own (another data
// directory): neither knows the other's secret, so only its client
// certificate authenticates it. Access, started while the directory is
// down, says NOT_SERVING (503 on /healthz, plain HTTP on the metrics
// port); once the directory is back it follows its log over TLS and turns
// SERVING, having applied a sign-up made before it started.
func TestPeerTLS(t *testing.T) {
	ca := testpki.New(t)
	ports := freePorts(t, 4)
	dirAddr, accAddr, dirMetrics, accMetrics := ports[0], ports[1], ports[2], ports[3]
	dirData, accData := filepath.Join(t.TempDir(), "directory"), filepath.Join(t.TempDir(), "access")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tlsFlags := func(name string) []string {
		cert, key := ca.Service(t, name) // for 127.0.0.1, CN steward-<name>
		return []string{
			"-tls-cert", cert, "-tls-key", key, "-tls-client-ca", ca.CAFile,
			"-peer-tls-ca", ca.CAFile, "-peer-tls-cert", cert, "-peer-tls-key", key,
		}
	}
	dirFlags := append(tlsFlags("directory"), "-metrics-addr", dirMetrics, "-directory-addr", dirAddr, "-access-addr", accAddr)

	dir := startService(t, "directory", dirData, dirAddr, dirFlags...)
	dirConn, err := grpcclient.Dial(dirAddr, grpcclient.Options{TLS: grpcclient.TLSConfig{CAFile: ca.CAFile}})
	if err != nil {
		t.Fatal(err)
	}
	defer dirConn.Close()
	healthOf(t, dirConn, "directory", healthpb.HealthCheckResponse_SERVING, dir.out)
	awaitHealthz(t, dirMetrics, http.StatusOK, "SERVING", dir.out)

	// TLS only: a plaintext client gets nowhere.
	plain, err := grpc.NewClient(dirAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := healthpb.NewHealthClient(plain).Check(ctx, &healthpb.HealthCheckRequest{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("a plaintext health check of the directory: %v, want Unavailable", err)
	}

	su, err := directoryv1.NewDirectoryServiceClient(dirConn).SignUp(ctx, &directoryv1.SignUpRequest{OrganizationId: "tls",
		OrganizationDisplayName: "TLS", Nickname: "owner", Email: "owner@tls.example", Password: "owner's long password"})
	if err != nil {
		t.Fatal(err)
	}
	dir.stop(t)

	acc := startService(t, "access", accData, accAddr, append(tlsFlags("access"),
		"-metrics-addr", accMetrics, "-directory-addr", dirAddr)...)
	awaitHealthz(t, accMetrics, http.StatusServiceUnavailable, "NOT_SERVING", acc.out)

	dir = startService(t, "directory", dirData, dirAddr, dirFlags...)
	accConn, err := grpcclient.Dial(accAddr, grpcclient.Options{TLS: grpcclient.TLSConfig{CAFile: ca.CAFile}})
	if err != nil {
		t.Fatal(err)
	}
	defer accConn.Close()
	healthOf(t, accConn, "access", healthpb.HealthCheckResponse_SERVING, acc.out)
	awaitHealthz(t, accMetrics, http.StatusOK, "SERVING", acc.out)

	resp, err := accessv1.NewAccessServiceClient(accConn).CheckPermission(asLoneService(ctx, t, accData, "licensing"), &accessv1.CheckPermissionRequest{
		Principal: su.GetOwner().GetName(), Permission: "users.create", Scope: su.GetOrganization().GetName()})
	if err != nil {
		t.Fatalf("CheckPermission: %v\n%s", err, acc.out.String())
	}
	if !resp.GetAllowed() {
		t.Fatalf("access is SERVING but has not applied the directory's sign-up: %v\n%s", resp, acc.out.String())
	}
	if out := acc.out.String() + dir.out.String(); strings.Contains(out, "certificate") {
		t.Errorf("a certificate was refused:\n%s", out)
	}
}

// awaitHealthz waits, at most 30s, until GET /healthz on the metrics
// address addr answers code and the status want.
func awaitHealthz(t *testing.T, addr string, code int, want string, logs *syncBuffer) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	var last string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := c.Get("http://" + addr + "/healthz")
		if err != nil {
			last = err.Error()
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode == code && strings.TrimSpace(string(body)) == want {
			return
		}
		last = fmt.Sprintf("%d %q", resp.StatusCode, body)
	}
	t.Fatalf("GET http://%s/healthz never answered %d %s (last: %s):\n%s", addr, code, want, last, logs.String())
}
