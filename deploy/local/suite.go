package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"steward.dev/pkg/authn"
	"steward.dev/pkg/backend"
)

// exitGrace is how long a child's exit waits for a signal to the launcher
// before it counts as unexpected: Ctrl-C in a terminal signals the whole
// process group, so the children may see it a moment before the launcher.
const exitGrace = 500 * time.Millisecond

// child is one process of the suite.
type child struct {
	process
	cmd   *exec.Cmd
	ready chan struct{} // etcd members: closed once the member serves clients
	done  chan struct{} // closed once the process has been waited for
	err   error         // its exit error, set before done is closed
	// lost is set when the child's exit was reported as unexpected and the
	// suite went on without it (cluster mode).
	lost bool
}

// exit reports that a child's process ended.
type exit struct {
	c   *child
	err error
}

// suite is the set of service processes of one launcher run.
type suite struct {
	cfg      config
	credsDir string    // one secret per service, and the trusted services
	procs    []process // what to start, in order (plan)
	children []*child
	exits    chan exit
	outMu    sync.Mutex // serializes the prefixed output of all children
}

// newSuite prepares the data directory and the services' credentials.
func newSuite(cfg config) (*suite, error) {
	dataDir, err := filepath.Abs(cfg.dataDir)
	if err != nil {
		return nil, err
	}
	cfg.dataDir = dataDir
	if cfg.binDir, err = filepath.Abs(cfg.binDir); err != nil {
		return nil, err
	}
	bins := append(backendNames, "gateway")
	if cfg.cluster() {
		bins = append(bins, "etcd")
	}
	for _, name := range bins {
		if _, err := os.Stat(binary(cfg, name)); err != nil {
			return nil, fmt.Errorf("%w (run `make build`, or pass -bin-dir)", err)
		}
	}
	credsDir := filepath.Join(dataDir, backend.CredentialsDir)
	procs, err := plan(cfg, credsDir)
	if err != nil {
		return nil, err
	}
	s := &suite{cfg: cfg, credsDir: credsDir, procs: procs, exits: make(chan exit, len(procs))}
	if err := os.MkdirAll(s.credsDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the data directory: %w", err)
	}
	created, err := writeCredentials(s.credsDir)
	if err != nil {
		return nil, err
	}
	if len(created) > 0 {
		s.logf("created the credentials of %s in %s (mode 0600)", strings.Join(created, ", "), s.credsDir)
	}
	s.logf("services verify each other against %s", s.trustedPath())
	if _, err := os.Stat(filepath.Join(dataDir, "service-credential")); err == nil {
		s.logf("%s is no longer used (each service has its own credential now): remove it", filepath.Join(dataDir, "service-credential"))
	}
	return s, nil
}

// writeCredentials creates in dir the credential of every service that has
// none, and writes the trusted-services file naming all of them with the
// hash of their secret. It returns the services whose credential it
// created.
func writeCredentials(dir string) (created []string, err error) {
	var trusted authn.TrustedServices
	for _, name := range backend.ServiceNames {
		path := filepath.Join(dir, name)
		_, statErr := os.Stat(path)
		cred, err := authn.LoadOrCreateServiceCredential(path)
		if err != nil {
			return nil, err
		}
		if errors.Is(statErr, os.ErrNotExist) {
			created = append(created, name)
		}
		trusted = trusted.With(name, cred)
	}
	if err := authn.WriteTrustedServices(filepath.Join(dir, backend.TrustedServicesFileName), trusted); err != nil {
		return nil, err
	}
	return created, nil
}

// credentialPath is where the credential of the service name is.
func (s *suite) credentialPath(name string) string { return filepath.Join(s.credsDir, name) }

// trustedPath is the trusted-services file.
func (s *suite) trustedPath() string { return trustedPath(s.credsDir) }

// trustedPath is the trusted-services file of the credentials in credsDir.
func trustedPath(credsDir string) string {
	return filepath.Join(credsDir, backend.TrustedServicesFileName)
}

func binary(cfg config, name string) string {
	return filepath.Join(cfg.binDir, "steward-"+name)
}

// logf prints a line of the launcher's own.
func (s *suite) logf(format string, args ...any) {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	fmt.Fprintf(os.Stdout, "steward-local | "+format+"\n", args...)
}

// run starts the suite, waits until it is healthy, prints the banner and
// serves until a signal, or a child's exit outside cluster mode, then stops
// everything. It returns the launcher's exit status.
func (s *suite) run() int {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	// The etcd members first, all of them: a member is ready once a leader
	// is elected, which takes a majority.
	var members []*child
	for _, p := range s.procs {
		if !p.etcd() {
			continue
		}
		c, err := s.start(p)
		if err != nil {
			s.logf("%v", err)
			return s.stop(syscall.SIGTERM, 1)
		}
		members = append(members, c)
	}
	if len(members) > 0 {
		if status, ok := s.waitEtcd(members, sigs); !ok {
			return status
		}
	}
	for _, p := range s.procs {
		if p.etcd() {
			continue
		}
		if _, err := s.start(p); err != nil {
			s.logf("%v", err)
			return s.stop(syscall.SIGTERM, 1)
		}
	}

	ready := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { ready <- s.waitHealthy(ctx) }()
	for started := false; ; {
		select {
		case err := <-ready:
			if err != nil {
				s.logf("the suite did not become healthy: %v", err)
				return s.stop(syscall.SIGTERM, 1)
			}
			started = true
			s.banner()
		case sig := <-sigs:
			s.logf("received %v, stopping every service", sig)
			status := 0
			if !started {
				status = 1
			}
			return s.stop(sig.(syscall.Signal), status)
		case e := <-s.exits:
			select {
			case sig := <-sigs:
				s.logf("received %v, stopping every service", sig)
				return s.stop(sig.(syscall.Signal), 0)
			case <-time.After(exitGrace):
			}
			if !started || !s.cfg.cluster() {
				s.logf("%s exited unexpectedly (%v); stopping the others", e.c.name, describe(e.err))
				return s.stop(syscall.SIGTERM, 1)
			}
			// Cluster mode: replicas (and etcd members) are killed on
			// purpose to test faults; the others carry on.
			e.c.lost = true
			left := s.running()
			s.logf("!!! %s EXITED UNEXPECTEDLY (%v): not restarted; the suite goes on without it. Still running: %s", e.c.name, describe(e.err), strings.Join(left, ", "))
			if len(left) == 0 {
				s.logf("no process is left")
				return s.stop(syscall.SIGTERM, 1)
			}
		}
	}
}

// waitEtcd waits until every member serves clients. It returns false, with
// the launcher's exit status, when the suite has been stopped instead: on a
// signal, a member's exit or the ready timeout.
func (s *suite) waitEtcd(members []*child, sigs <-chan os.Signal) (int, bool) {
	timeout := time.NewTimer(s.cfg.readyTimeout)
	defer timeout.Stop()
	for _, m := range members {
		select {
		case <-m.ready:
		case sig := <-sigs:
			s.logf("received %v, stopping every service", sig)
			return s.stop(sig.(syscall.Signal), 1), false
		case e := <-s.exits:
			s.logf("%s exited unexpectedly (%v); stopping the others", e.c.name, describe(e.err))
			return s.stop(syscall.SIGTERM, 1), false
		case <-timeout.C:
			s.logf("etcd did not start: %s not serving after %v", m.name, s.cfg.readyTimeout)
			return s.stop(syscall.SIGTERM, 1), false
		}
	}
	s.logf("etcd is serving: %d members", len(members))
	return 0, true
}

// running returns the names of the children still running.
func (s *suite) running() []string {
	var names []string
	for _, c := range s.children {
		select {
		case <-c.done:
		default:
			names = append(names, c.name)
		}
	}
	return names
}

// start starts the process p.
func (s *suite) start(p process) (*child, error) {
	cmd := exec.Command(binary(s.cfg, p.binary), p.args...)
	c := &child{process: p, cmd: cmd, ready: make(chan struct{}), done: make(chan struct{})}
	prefix := fmt.Sprintf("%-13s | ", p.name)
	stdout := newPrefixWriter(&s.outMu, os.Stdout, prefix)
	stderr := newPrefixWriter(&s.outMu, os.Stderr, prefix)
	if p.etcd() {
		var once sync.Once
		stderr.onLine = func(line []byte) {
			if bytes.Contains(line, []byte(etcdReadyLine)) {
				once.Do(func() { close(c.ready) })
			}
		}
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// If the launcher dies, even by SIGKILL, the kernel sends the child
	// SIGTERM: it shuts down gracefully and leaves no orphan.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", p.name, err)
	}
	s.children = append(s.children, c)
	s.logf("started %s (pid %d): %s", p.name, cmd.Process.Pid, strings.Join(cmd.Args, " "))
	go func() {
		c.err = cmd.Wait()
		stdout.Flush()
		stderr.Flush()
		close(c.done)
		s.exits <- exit{c: c, err: c.err}
	}()
	return c, nil
}

// stop sends sig to every service still running, waits for them up to the
// stop timeout and kills the rest, then does the same with SIGTERM for the
// etcd members (last, so that the services stop cleanly). It returns
// status, or 1 if a child had to be killed or failed on the way out (a
// child already reported lost does not count).
func (s *suite) stop(sig syscall.Signal, status int) int {
	var services, members []*child
	for _, c := range s.children {
		if c.etcd() {
			members = append(members, c)
		} else {
			services = append(services, c)
		}
	}
	status = s.stopAll(services, sig, status)
	if len(members) > 0 {
		s.logf("stopping etcd")
		status = s.stopAll(members, syscall.SIGTERM, status)
	}
	s.logf("stopped")
	return status
}

// stopAll sends sig to those of children still running and waits for them
// as stop describes.
func (s *suite) stopAll(children []*child, sig syscall.Signal, status int) int {
	for _, c := range children {
		select {
		case <-c.done:
		default:
			_ = c.cmd.Process.Signal(sig)
		}
	}
	timer := time.NewTimer(s.cfg.stopTimeout)
	defer timer.Stop()
	expired := false
	for _, c := range children {
		if !expired {
			select {
			case <-c.done:
			case <-timer.C:
				expired = true
			}
		}
		select {
		case <-c.done:
		default:
			s.logf("%s still running %v after %v; killing it", c.name, s.cfg.stopTimeout, sig)
			_ = c.cmd.Process.Kill()
			<-c.done
			status = 1
		}
		if c.err != nil && status == 0 && !c.lost {
			s.logf("%s exited with %v", c.name, describe(c.err))
			status = 1
		}
	}
	return status
}

// describe renders a child's exit error.
func describe(err error) string {
	if err == nil {
		return "status 0"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Sprintf("killed by signal %d, %v", int(ws.Signal()), ws.Signal())
		}
		return fmt.Sprintf("status %d", ee.ExitCode())
	}
	return err.Error()
}

// waitHealthy polls the grpc.health.v1 Check of every backend replica and
// the gateway's /healthz until all are serving, or the ready timeout
// passes, or ctx ends.
func (s *suite) waitHealthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.readyTimeout)
	defer cancel()
	var backends []process
	clients := make(map[string]healthpb.HealthClient)
	for _, p := range s.procs {
		if p.service == "" {
			continue
		}
		conn, err := grpc.NewClient(p.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		defer conn.Close()
		backends = append(backends, p)
		clients[p.name] = healthpb.NewHealthClient(conn)
	}
	httpc := &http.Client{Timeout: 2 * time.Second}
	defer httpc.CloseIdleConnections()
	healthz := "http://" + *s.cfg.addrs["gateway"] + "/healthz"

	var waiting []string
	for {
		waiting = waiting[:0]
		for _, p := range backends {
			cctx, ccancel := context.WithTimeout(ctx, time.Second)
			resp, err := clients[p.name].Check(cctx, &healthpb.HealthCheckRequest{})
			ccancel()
			if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				waiting = append(waiting, p.name)
			}
		}
		if len(waiting) == 0 {
			if gatewayHealthy(ctx, httpc, healthz) {
				return nil
			}
			waiting = append(waiting, "gateway /healthz")
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("still waiting for %s: %w", strings.Join(waiting, ", "), ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// gatewayHealthy reports whether GET url answers 200.
func gatewayHealthy(ctx context.Context, c *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK
}

// banner prints where the suite listens and commands that work against it.
func (s *suite) banner() {
	text := s.bannerText()
	s.outMu.Lock()
	defer s.outMu.Unlock()
	fmt.Fprintln(os.Stdout, text)
}

// bannerText is what banner prints: every process with its addresses, then
// where the data is and commands to try.
func (s *suite) bannerText() string {
	var b strings.Builder
	header, width := "service", 10
	if s.cfg.cluster() {
		fmt.Fprintf(&b, "\nSteward is running in cluster mode: %d etcd members, %d replica(s) of each backend. Press Ctrl-C to stop.\n\n", s.cfg.etcdMembers, s.cfg.replicas)
		header, width = "process", 12
	} else {
		b.WriteString("\nSteward is running. Press Ctrl-C to stop.\n\n")
	}
	row := func(name, addr, metrics string) { fmt.Fprintf(&b, "  %-*s %-24s %s\n", width, name, addr, metrics) }
	row(header, "address", "metrics")
	var endpoints []string
	for _, p := range s.procs {
		switch {
		case p.etcd():
			row(p.name, p.addr, "(etcd peers: "+p.metrics+")")
			endpoints = append(endpoints, p.addr)
		case p.service != "":
			m := p.metrics
			if m != "" {
				m = "http://" + m + "/metrics"
			}
			row(p.name, p.addr, m)
		}
	}
	gw := "http://" + *s.cfg.addrs["gateway"]
	row("gateway", gw, gw+"/metrics")
	b.WriteString("\n")
	fmt.Fprintf(&b, "  console:            %s/ (the admin console: sign up there, or sign in)\n", gw)
	fmt.Fprintf(&b, "  API description:    %s/openapi.json\n", gw)
	fmt.Fprintf(&b, "  data directory:     %s\n", s.cfg.dataDir)
	if len(endpoints) > 0 {
		fmt.Fprintf(&b, "  etcd endpoints:     %s (every backend's store)\n", strings.Join(endpoints, ","))
	}
	fmt.Fprintf(&b, "  credentials:        %s/<service> (one secret per service, mode 0600)\n", s.credsDir)
	fmt.Fprintf(&b, "  trusted services:   %s (each service's SHA-256)\n", s.trustedPath())
	fmt.Fprintf(&b, "  operator:           %s (the installation's operator: license pools, signing keys)\n\n", s.credentialPath(backend.Operator))
	if s.cfg.cluster() {
		b.WriteString("A process that exits from now on is not restarted: the launcher says so and the others go on without it.\n\n")
	}
	dir := *s.cfg.addrs["directory"]
	b.WriteString("Try (grpcurl: go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3):\n")
	fmt.Fprintf(&b, "  curl -s %s/healthz\n", gw)
	fmt.Fprintf(&b, "  grpcurl -plaintext %s grpc.health.v1.Health/Check\n", dir)
	fmt.Fprintf(&b, "  grpcurl -plaintext %s list\n", dir)
	fmt.Fprintf(&b, "  grpcurl -plaintext %s steward.eventlog.v1.EventLogService/ListEvents    # refused: Unauthenticated\n", dir)
	fmt.Fprintf(&b, "  grpcurl -plaintext -H \"authorization: Service audit:$(cat %s)\" %s steward.eventlog.v1.EventLogService/ListEvents    # as audit, which reads every log\n", shellQuote(s.credentialPath("audit")), dir)
	b.WriteString("First steps (sign up, sign in, a tenant, a Check): README.md, \"Use it\".\n")
	return b.String()
}

// shellQuote quotes p for a POSIX shell when it needs it.
func shellQuote(p string) string {
	if !strings.ContainsAny(p, " \t\n'\"\\$`!*?[](){};&|<>#~") {
		return p
	}
	return "'" + strings.ReplaceAll(p, "'", `'\''`) + "'"
}
