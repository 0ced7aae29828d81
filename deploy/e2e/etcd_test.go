//go:build e2e

package e2e_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// onEtcd reports whether the end-to-end tests run the suite on etcd
// (STEWARD_E2E_STORE=etcd, make test-e2e-etcd): every backend with
// -store=etcd on a steward-etcd member of the test's own (R32: the same API
// on either backend).
func onEtcd() bool { return os.Getenv("STEWARD_E2E_STORE") == "etcd" }

// etcdFlags starts a one-member etcd for t when onEtcd, and returns the
// launcher arguments that put every backend's store on it; nil otherwise.
func etcdFlags(t *testing.T) []string {
	t.Helper()
	if !onEtcd() {
		return nil
	}
	endpoint := startEtcd(t)
	var args []string
	for _, name := range backends {
		args = append(args, "-service-flag", name+"=-store=etcd", "-service-flag", name+"=-etcd-endpoints="+endpoint)
	}
	return args
}

// startEtcd runs bin/steward-etcd, a one-member cluster, for t, and returns
// its client address once it serves.
func startEtcd(t *testing.T) string {
	t.Helper()
	const name = "etcd1"
	ports := freePorts(t, 2)
	cmd := exec.Command(filepath.Join(os.Getenv("STEWARD_BIN"), "steward-etcd"),
		"-name", name, "-data-dir", filepath.Join(t.TempDir(), name),
		"-client-addr", ports[0], "-peer-addr", ports[1])
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
		if t.Failed() {
			t.Logf("steward-etcd %s output:\n%s", name, out.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "serving clients") {
		select {
		case <-done:
			t.Fatalf("steward-etcd %s exited: %s", name, out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("steward-etcd %s not ready in 30s", name)
		}
	}
	return ports[0]
}
