// Package launch starts the Steward suite for a benchmark: steward-local on
// free loopback ports with a data directory of its own, and stops it again.
// The launcher's output goes to a log file in that directory, so that a
// benchmark prints only its own figures.
package launch

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Backends are the suite's backend services, in the launcher's order.
var Backends = []string{"directory", "access", "licensing", "audit"}

// readyBanner is what steward-local prints once every service is healthy.
const readyBanner = "Steward is running"

// Suite is a running steward-local.
type Suite struct {
	// Addrs are the services' gRPC addresses by name, and "gateway".
	Addrs map[string]string
	// MetricsAddrs are the backends' Prometheus /metrics addresses by
	// name (loopback).
	MetricsAddrs map[string]string
	// DataDir is the suite's data directory.
	DataDir string
	// LogFile holds the launcher's and the services' output.
	LogFile string

	cmd  *exec.Cmd
	log  *os.File
	done chan struct{} // closed when the launcher has exited
	err  error         // its exit error, set before done is closed
}

// Start runs binDir/steward-local with its data in dataDir (created if
// missing) on free loopback ports, with extra launcher arguments (e.g.
// "-service-flag", "access=-debug-addr=127.0.0.1:6060"), and waits up to
// a minute for it to report the suite healthy.
func Start(binDir, dataDir string, extra ...string) (*Suite, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("launch: %w", err)
	}
	ports, err := FreePorts(2*len(Backends) + 1)
	if err != nil {
		return nil, err
	}
	s := &Suite{
		Addrs:        map[string]string{"gateway": ports[0]},
		MetricsAddrs: make(map[string]string),
		DataDir:      dataDir,
		LogFile:      filepath.Join(dataDir, "steward-local.log"),
		done:         make(chan struct{}),
	}
	args := []string{"-bin-dir", binDir, "-data-dir", dataDir, "-gateway-addr", ports[0], "-log-level", "warn"}
	for i, name := range Backends {
		s.Addrs[name], s.MetricsAddrs[name] = ports[1+2*i], ports[2+2*i]
		args = append(args, "-"+name+"-addr", s.Addrs[name], "-"+name+"-metrics-addr", s.MetricsAddrs[name])
	}
	if s.log, err = os.Create(s.LogFile); err != nil {
		return nil, fmt.Errorf("launch: %w", err)
	}
	s.cmd = exec.Command(filepath.Join(binDir, "steward-local"), append(args, extra...)...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		s.log.Close()
		return nil, fmt.Errorf("launch: %w", err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	for deadline := time.Now().Add(time.Minute); ; {
		out, err := os.ReadFile(s.LogFile)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("launch: %w", err), s.Stop())
		}
		if strings.Contains(string(out), readyBanner) {
			return s, nil
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("launch: steward-local exited before the suite was ready (%v); its output is in %s", s.err, s.LogFile)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, errors.Join(fmt.Errorf("launch: suite not ready within a minute; see %s", s.LogFile), s.Stop())
		}
	}
}

// Stop asks the launcher to stop the suite (SIGINT, as Ctrl-C does) and
// waits for it, killing it after 30 seconds. The launcher stops its
// services itself; its parent-death signal covers a kill.
func (s *Suite) Stop() error {
	defer s.log.Close()
	select {
	case <-s.done:
		return s.err
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		return fmt.Errorf("launch: stopping steward-local: %w", err)
	}
	select {
	case <-s.done:
		return s.err
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		return fmt.Errorf("launch: steward-local did not stop within 30s; killed (see %s)", s.LogFile)
	}
}

// FreePorts returns n loopback addresses whose ports were free a moment
// ago (the kernel picked them).
func FreePorts(n int) ([]string, error) {
	var addrs []string
	var lis []net.Listener
	defer func() {
		for _, l := range lis {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("launch: finding a free port: %w", err)
		}
		lis = append(lis, l)
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}
