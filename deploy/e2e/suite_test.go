//go:build e2e

package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
)

var (
	backends = []string{"directory", "access", "licensing", "audit"}
	// withEventLog are the backends that keep an event log.
	withEventLog = []string{"directory", "access", "licensing"}
)

const (
	readyBanner = "Steward is running"
	eventLogSvc = "steward.eventlog.v1.EventLogService"
)

// suite is a running launcher.
type suite struct {
	t        *testing.T
	cmd      *exec.Cmd
	out      *syncBuffer
	dataDir  string
	addrs    map[string]string // backends' gRPC addresses, and "gateway"
	metrics  map[string]string // backends' /metrics addresses
	children map[string]int    // pid by service name
	done     chan struct{}     // closed when the launcher has exited
	err      error             // its exit error, set before done is closed
}

// launch starts steward-local on free ports with a temporary data directory,
// in its own process group (as a shell does), with extra arguments of
// steward-local (e.g. "-service-flag", "audit=-purge-interval=1s"), and
// waits for its banner.
func launch(t *testing.T, extra ...string) *suite {
	t.Helper()
	bin := os.Getenv("STEWARD_BIN")
	if bin == "" {
		t.Fatal("STEWARD_BIN must name the directory of the built binaries (make test-e2e sets it)")
	}
	ports := freePorts(t, 2*len(backends)+1)
	s := &suite{
		t:       t,
		out:     &syncBuffer{},
		dataDir: filepath.Join(t.TempDir(), "data"),
		addrs:   map[string]string{"gateway": ports[0]},
		metrics: map[string]string{},
		done:    make(chan struct{}),
	}
	args := []string{"--bin-dir", bin, "--data-dir", s.dataDir, "--gateway-addr", s.addrs["gateway"], "--ready-timeout", "45s", "--stop-timeout", "15s"}
	for i, name := range backends {
		s.addrs[name], s.metrics[name] = ports[1+2*i], ports[2+2*i]
		args = append(args, "--"+name+"-addr", s.addrs[name], "--"+name+"-metrics-addr", s.metrics[name])
	}
	args = append(args, etcdFlags(t)...)
	s.start(bin, append(args, extra...), time.Minute)
	s.children = childrenOf(t, s.cmd.Process.Pid)
	if len(s.children) != len(backends)+1 {
		t.Fatalf("launcher children = %v, want the four backends and the gateway", s.children)
	}
	return s
}

// start runs bin/steward-local with args in its own process group (as a
// shell does), killed with its children when the test ends, and waits up to
// ready for its banner.
func (s *suite) start(bin string, args []string, ready time.Duration) {
	t := s.t
	t.Helper()
	s.cmd = exec.Command(filepath.Join(bin, "steward-local"), args...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		// Whatever happened, leave nothing running: the children share the
		// launcher's process group.
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
		if t.Failed() {
			t.Logf("launcher output:\n%s", s.out.String())
		}
	})
	deadline := time.Now().Add(ready)
	for !strings.Contains(s.out.String(), readyBanner) {
		select {
		case <-s.done:
			t.Fatalf("launcher exited before the suite was ready: %v", s.err)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("suite not ready within %v", ready)
		}
	}
}

// waitExit waits for the launcher to exit and returns its exit code.
func (s *suite) waitExit(timeout time.Duration) int {
	s.t.Helper()
	select {
	case <-s.done:
	case <-time.After(timeout):
		s.t.Fatalf("launcher still running %v later", timeout)
	}
	if s.err == nil {
		return 0
	}
	if ee, ok := s.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	s.t.Fatalf("launcher: %v", s.err)
	return -1
}

// assertAllGone fails unless every child has exited and every port is closed.
func (s *suite) assertAllGone(timeout time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for name, pid := range s.children {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if alive(pid) {
			s.t.Errorf("%s (pid %d) still running", name, pid)
		}
	}
	for name, addr := range s.addrs {
		if portOpenUntil(addr, deadline) {
			s.t.Errorf("%s port %s still open", name, addr)
		}
	}
	for name, addr := range s.metrics {
		if portOpenUntil(addr, deadline) {
			s.t.Errorf("%s metrics port %s still open", name, addr)
		}
	}
}

// portOpenUntil reports whether addr still accepts connections at deadline.
// A process can leave the running state a moment before the kernel has
// closed all of its listeners, so the ports get the same grace as the PIDs.
func portOpenUntil(addr string, deadline time.Time) bool {
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		if time.Now().After(deadline) {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// asService returns ctx authenticating as the service name, with that
// service's own credential as the launcher made it.
func (s *suite) asService(ctx context.Context, name string) context.Context {
	s.t.Helper()
	secret, err := os.ReadFile(filepath.Join(s.dataDir, "credentials", name))
	if err != nil {
		s.t.Fatal(err)
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Service "+name+":"+strings.TrimSpace(string(secret)))
}

func (s *suite) dial(name string) *grpc.ClientConn {
	s.t.Helper()
	conn, err := grpc.NewClient(s.addrs[name], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { conn.Close() })
	return conn
}

// healthz returns the status code and report of the gateway's /healthz.
func (s *suite) healthz() (int, map[string]any) {
	s.t.Helper()
	resp, err := http.Get("http://" + s.addrs["gateway"] + "/healthz")
	if err != nil {
		s.t.Fatalf("GET /healthz: %v", err)
	}
	defer resp.Body.Close()
	var report map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&report); err != nil {
		s.t.Fatalf("GET /healthz: decoding: %v", err)
	}
	return resp.StatusCode, report
}

func TestSuite(t *testing.T) {
	s := launch(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	for _, name := range append(slices.Clone(backends), "gateway") {
		fi, err := os.Stat(filepath.Join(s.dataDir, "credentials", name))
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("credential of %s: mode %#o, want 0600", name, perm)
		}
	}
	asService := s.asService(ctx, "audit") // audit reads every event log

	for _, name := range backends {
		t.Run(name, func(t *testing.T) {
			conn := s.dial(name)
			resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
			if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("health Check = %v, %v; want SERVING", resp, err)
			}
			services := listServices(ctx, t, conn)
			if !slices.Contains(services, "grpc.health.v1.Health") {
				t.Errorf("reflection lists %q, want grpc.health.v1.Health", services)
			}
			keepsLog := slices.Contains(withEventLog, name)
			if slices.Contains(services, eventLogSvc) != keepsLog {
				t.Errorf("reflection lists %q; EventLogService wanted: %v", services, keepsLog)
			}
			if keepsLog {
				logs := eventlogv1.NewEventLogServiceClient(conn)
				if _, err := logs.ListEvents(ctx, &eventlogv1.ListEventsRequest{}); status.Code(err) != codes.Unauthenticated {
					t.Errorf("ListEvents without credentials: %v, want Unauthenticated", err)
				}
				if _, err := logs.ListEvents(asService, &eventlogv1.ListEventsRequest{}); err != nil {
					t.Errorf("ListEvents with the service credential: %v", err)
				}
			}
			if _, err := os.Stat(filepath.Join(s.dataDir, name, name+".db")); err != nil && !onEtcd() {
				t.Errorf("store file: %v", err)
			}
			get(t, "http://"+s.metrics[name]+"/metrics", http.StatusOK)
		})
	}

	code, report := s.healthz()
	if code != http.StatusOK || report["status"] != "SERVING" {
		t.Errorf("GET /healthz = %d %v, want 200 SERVING", code, report)
	}
	for _, name := range backends {
		if st := report["backends"].(map[string]any)[name]; st != "SERVING" {
			t.Errorf("/healthz backends[%s] = %v, want SERVING", name, st)
		}
	}
	get(t, "http://"+s.addrs["gateway"]+"/metrics", http.StatusOK)

	// A frozen backend cannot answer its health check: the gateway must say
	// so, and recover when it thaws.
	access := s.children["access"]
	if err := syscall.Kill(access, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	code, report = s.healthz()
	_ = syscall.Kill(access, syscall.SIGCONT)
	if code != http.StatusServiceUnavailable || report["status"] != "NOT_SERVING" {
		t.Errorf("GET /healthz with access frozen = %d %v, want 503 NOT_SERVING", code, report)
	}
	if st := report["backends"].(map[string]any)["access"]; st == "SERVING" {
		t.Errorf("/healthz says frozen access is %v", st)
	}
	deadline := time.Now().Add(10 * time.Second)
	for code, _ = s.healthz(); code != http.StatusOK && time.Now().Before(deadline); code, _ = s.healthz() {
		time.Sleep(100 * time.Millisecond)
	}
	if code != http.StatusOK {
		t.Errorf("GET /healthz after access thawed = %d, want 200", code)
	}

	// Ctrl-C in a terminal: SIGINT to the whole process group.
	http.DefaultClient.CloseIdleConnections()
	if err := syscall.Kill(-s.cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := s.waitExit(30 * time.Second); code != 0 {
		t.Errorf("launcher exit code after SIGINT = %d, want 0", code)
	}
	s.assertAllGone(5 * time.Second)
}

// A service that dies takes the suite down with a non-zero status, rather
// than leaving it half running.
func TestChildExitStopsSuite(t *testing.T) {
	s := launch(t)
	if err := syscall.Kill(s.children["licensing"], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if code := s.waitExit(30 * time.Second); code == 0 {
		t.Error("launcher exit code 0 after a service died, want non-zero")
	}
	s.assertAllGone(5 * time.Second)
	if out := s.out.String(); !strings.Contains(out, "licensing exited unexpectedly") {
		t.Errorf("launcher did not report the failed service:\n%s", out)
	}
}

// A launcher killed outright (no chance to stop anything) leaves no orphans:
// the children get their parent-death signal.
func TestKilledLauncherLeavesNoOrphans(t *testing.T) {
	s := launch(t)
	if err := syscall.Kill(s.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	s.waitExit(10 * time.Second)
	s.assertAllGone(20 * time.Second)
}

// listServices lists the services of conn through server reflection.
func listServices(ctx context.Context, t *testing.T, conn *grpc.ClientConn) []string {
	t.Helper()
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.CloseSend()
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{ListServices: "*"}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, svc := range resp.GetListServicesResponse().GetService() {
		names = append(names, svc.GetName())
	}
	return names
}

func get(t *testing.T, url string, want int) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != want {
		t.Errorf("GET %s = %d, want %d", url, resp.StatusCode, want)
	}
}

// freePorts returns n distinct free loopback addresses.
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	var lis []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lis = append(lis, l)
		addrs = append(addrs, l.Addr().String())
	}
	for _, l := range lis {
		l.Close()
	}
	return addrs
}

// childrenOf returns the child processes of pid by service name, from /proc.
func childrenOf(t *testing.T, pid int) map[string]int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]int)
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) < 2 || fields[1] != strconv.Itoa(pid) {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		if err != nil {
			continue
		}
		argv0, _, _ := strings.Cut(string(cmdline), "\x00")
		out[strings.TrimPrefix(filepath.Base(argv0), "steward-")] = p
	}
	return out
}

// alive reports whether pid is a live process (a zombie is not).
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}
