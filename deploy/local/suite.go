package main

import (
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

// child is one service process.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has been waited for
	err  error         // its exit error, set before done is closed
}

// exit reports that a child's process ended.
type exit struct {
	c   *child
	err error
}

// suite is the set of service processes of one launcher run.
type suite struct {
	cfg      config
	credsDir string // one secret per service, and the trusted services
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
	for _, name := range append(backendNames, "gateway") {
		if _, err := os.Stat(binary(cfg, name)); err != nil {
			return nil, fmt.Errorf("%w (run `make build`, or pass -bin-dir)", err)
		}
	}
	s := &suite{cfg: cfg, credsDir: filepath.Join(dataDir, backend.CredentialsDir), exits: make(chan exit, len(backendNames)+1)}
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
func (s *suite) trustedPath() string {
	return filepath.Join(s.credsDir, backend.TrustedServicesFileName)
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
// serves until a signal or a child's exit, then stops everything. It returns
// the launcher's exit status.
func (s *suite) run() int {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	for _, name := range backendNames {
		args := []string{
			"-addr", *s.cfg.addrs[name],
			"-metrics-addr", *s.cfg.metricsAddrs[name],
			"-data-dir", filepath.Join(s.cfg.dataDir, name),
			"-service-credential-file", s.credentialPath(name),
			"-trusted-services-file", s.trustedPath(),
			"-directory-addr", *s.cfg.addrs["directory"],
			"-access-addr", *s.cfg.addrs["access"],
			"-log-level", s.cfg.logLevel,
		}
		if name == "audit" {
			// Audit follows licensing's event log too.
			args = append(args, "-licensing-addr", *s.cfg.addrs["licensing"])
		}
		if name == "directory" {
			// The local suite is for development: its OIDC issuers (and
			// the end-to-end tests' oidctest issuer) run on loopback over
			// plain http, which a production directory refuses (SSRF).
			args = append(args, "-oidc-allow-private-issuers")
		}
		args = append(args, s.cfg.serviceFlags[name]...)
		if err := s.start(name, args, nil); err != nil {
			s.logf("%v", err)
			return s.stop(syscall.SIGTERM, 1)
		}
	}
	gwArgs := []string{"-addr", *s.cfg.addrs["gateway"], "-log-level", s.cfg.logLevel,
		"-service-credential-file", s.credentialPath("gateway"), "-trusted-services-file", s.trustedPath()}
	for _, name := range backendNames {
		gwArgs = append(gwArgs, "-"+name+"-addr", *s.cfg.addrs[name])
	}
	gwArgs = append(gwArgs, s.cfg.serviceFlags["gateway"]...)
	// The gateway's own credential vouches for the client addresses it
	// forwards, and grants nothing else.
	if err := s.start("gateway", gwArgs, nil); err != nil {
		s.logf("%v", err)
		return s.stop(syscall.SIGTERM, 1)
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
			s.logf("%s exited unexpectedly (%v); stopping the others", e.c.name, describe(e.err))
			return s.stop(syscall.SIGTERM, 1)
		}
	}
}

// start starts the service name with args, adding env to the launcher's
// environment.
func (s *suite) start(name string, args, env []string) error {
	cmd := exec.Command(binary(s.cfg, name), args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	prefix := fmt.Sprintf("%-13s | ", name)
	stdout := newPrefixWriter(&s.outMu, os.Stdout, prefix)
	stderr := newPrefixWriter(&s.outMu, os.Stderr, prefix)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// If the launcher dies, even by SIGKILL, the kernel sends the child
	// SIGTERM: it shuts down gracefully and leaves no orphan.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	s.children = append(s.children, c)
	s.logf("started %s (pid %d): %s", name, cmd.Process.Pid, strings.Join(cmd.Args, " "))
	go func() {
		c.err = cmd.Wait()
		stdout.Flush()
		stderr.Flush()
		close(c.done)
		s.exits <- exit{c: c, err: c.err}
	}()
	return nil
}

// stop sends sig to every child still running, waits for them up to the
// stop timeout, kills the rest, and returns status, or 1 if a child had to be
// killed or failed on the way out.
func (s *suite) stop(sig syscall.Signal, status int) int {
	for _, c := range s.children {
		select {
		case <-c.done:
		default:
			_ = c.cmd.Process.Signal(sig)
		}
	}
	timer := time.NewTimer(s.cfg.stopTimeout)
	defer timer.Stop()
	expired := false
	for _, c := range s.children {
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
		if c.err != nil && status == 0 {
			s.logf("%s exited with %v", c.name, describe(c.err))
			status = 1
		}
	}
	s.logf("stopped")
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
			return "killed by " + ws.Signal().String()
		}
		return fmt.Sprintf("status %d", ee.ExitCode())
	}
	return err.Error()
}

// waitHealthy polls every backend's grpc.health.v1 Check and the gateway's
// /healthz until all are serving, or the ready timeout passes, or ctx ends.
func (s *suite) waitHealthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.readyTimeout)
	defer cancel()
	clients := make(map[string]healthpb.HealthClient)
	for _, name := range backendNames {
		conn, err := grpc.NewClient(*s.cfg.addrs[name], grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		defer conn.Close()
		clients[name] = healthpb.NewHealthClient(conn)
	}
	httpc := &http.Client{Timeout: 2 * time.Second}
	defer httpc.CloseIdleConnections()
	healthz := "http://" + *s.cfg.addrs["gateway"] + "/healthz"

	var waiting []string
	for {
		waiting = waiting[:0]
		for _, name := range backendNames {
			cctx, ccancel := context.WithTimeout(ctx, time.Second)
			resp, err := clients[name].Check(cctx, &healthpb.HealthCheckRequest{})
			ccancel()
			if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				waiting = append(waiting, name)
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
	var b strings.Builder
	b.WriteString("\nSteward is running. Press Ctrl-C to stop.\n\n")
	fmt.Fprintf(&b, "  %-10s %-24s %s\n", "service", "address", "metrics")
	for _, name := range backendNames {
		m := *s.cfg.metricsAddrs[name]
		if m != "" {
			m = "http://" + m + "/metrics"
		}
		fmt.Fprintf(&b, "  %-10s %-24s %s\n", name, *s.cfg.addrs[name], m)
	}
	gw := "http://" + *s.cfg.addrs["gateway"]
	fmt.Fprintf(&b, "  %-10s %-24s %s\n\n", "gateway", gw, gw+"/metrics")
	fmt.Fprintf(&b, "  console:            %s/ (the admin console: sign up there, or sign in)\n", gw)
	fmt.Fprintf(&b, "  API description:    %s/openapi.json\n", gw)
	fmt.Fprintf(&b, "  data directory:     %s\n", s.cfg.dataDir)
	fmt.Fprintf(&b, "  credentials:        %s/<service> (one secret per service, mode 0600)\n", s.credsDir)
	fmt.Fprintf(&b, "  trusted services:   %s (each service's SHA-256)\n", s.trustedPath())
	fmt.Fprintf(&b, "  operator:           %s (the installation's operator: license pools, signing keys)\n\n", s.credentialPath(backend.Operator))
	dir := *s.cfg.addrs["directory"]
	b.WriteString("Try (grpcurl: go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3):\n")
	fmt.Fprintf(&b, "  curl -s %s/healthz\n", gw)
	fmt.Fprintf(&b, "  grpcurl -plaintext %s grpc.health.v1.Health/Check\n", dir)
	fmt.Fprintf(&b, "  grpcurl -plaintext %s list\n", dir)
	fmt.Fprintf(&b, "  grpcurl -plaintext %s steward.eventlog.v1.EventLogService/ListEvents    # refused: Unauthenticated\n", dir)
	fmt.Fprintf(&b, "  grpcurl -plaintext -H \"authorization: Service audit:$(cat %s)\" %s steward.eventlog.v1.EventLogService/ListEvents    # as audit, which reads every log\n", shellQuote(s.credentialPath("audit")), dir)
	b.WriteString("First steps (sign up, sign in, a tenant, a Check): README.md, \"Use it\".\n")
	s.outMu.Lock()
	defer s.outMu.Unlock()
	fmt.Fprintln(os.Stdout, b.String())
}

// shellQuote quotes p for a POSIX shell when it needs it.
func shellQuote(p string) string {
	if !strings.ContainsAny(p, " \t\n'\"\\$`!*?[](){};&|<>#~") {
		return p
	}
	return "'" + strings.ReplaceAll(p, "'", `'\''`) + "'"
}
