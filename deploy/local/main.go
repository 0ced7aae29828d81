// Command steward-local runs the whole Steward suite on this machine, as
// `make run` does: it creates the data directory and each service's own
// credential (with the file of their hashes the services verify each other
// against), starts the four backends and the gateway as child
// processes on 127.0.0.1 with their output prefixed by the service name,
// waits until all of them are healthy, prints where they listen and a few
// commands to try, and stops them all on Ctrl-C (SIGINT) or SIGTERM.
//
// In cluster mode (-etcd-members M, `make run-cluster`, issue 17) it first
// starts M steward-etcd members on loopback, waits until each serves, then
// starts -replicas N replicas of each backend on that etcd (replica i on the
// usual ports plus (i-1)*-replica-port-step), every service dialling the
// others' replicas as a comma-separated list, and one gateway; on Ctrl-C the
// etcd members stop last, after the services.
//
// Children are started with a parent-death signal, so even a launcher killed
// with SIGKILL leaves no process behind. If a child exits on its own while
// the suite starts, or at any time outside cluster mode, the launcher stops
// the others and exits with status 1; in cluster mode, once the suite is
// running, it says so loudly and goes on without it (replicas are killed on
// purpose to test faults), until no child is left.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// backendNames are the backend services, in start order.
var backendNames = []string{"directory", "access", "licensing", "audit"}

// config is the launcher's configuration, from its flags.
type config struct {
	binDir       string
	dataDir      string
	addrs        map[string]*string // by service name, the gateway included
	metricsAddrs map[string]*string // by backend name
	logLevel     string
	readyTimeout time.Duration
	stopTimeout  time.Duration
	serviceFlags serviceFlags // extra flags, by service name
	// Cluster mode (issue 17): etcdMembers steward-etcd members (0: no etcd,
	// every backend on its bbolt file), clients on etcdPort, etcdPort+2, ...
	// and peers on the port after each; replicas of each backend, replica i
	// on its service's ports plus (i-1)*replicaPortStep.
	etcdMembers     int
	etcdPort        int
	replicas        int
	replicaPortStep int
}

// serviceFlags collects -service-flag NAME=FLAG: extra flags passed to one
// service, in order.
type serviceFlags map[string][]string

// String returns the flags as given.
func (f serviceFlags) String() string { return fmt.Sprint(map[string][]string(f)) }

// Set adds one NAME=FLAG; NAME must be a backend or "gateway".
func (f serviceFlags) Set(v string) error {
	name, flagText, ok := strings.Cut(v, "=")
	if !ok || flagText == "" || !strings.HasPrefix(flagText, "-") {
		return fmt.Errorf("want NAME=-flag[=value], e.g. audit=-purge-interval=10m; got %q", v)
	}
	if name != "gateway" && !slices.Contains(backendNames, name) {
		return fmt.Errorf("unknown service %q: want one of %s or gateway", name, strings.Join(backendNames, ", "))
	}
	f[name] = append(f[name], flagText)
	return nil
}

func main() {
	// The parent-death signal of a child fires when the thread that started
	// it exits, not the process. Keep the main goroutine, which starts every
	// child, on the main thread, which lives as long as the process.
	runtime.LockOSThread()
	os.Exit(run(os.Args[1:]))
}

// run runs the launcher and returns its exit status.
func run(args []string) int {
	cfg, err := parseFlags(args)
	if err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		fmt.Fprintln(os.Stderr, "steward-local:", err)
		return 2
	}
	s, err := newSuite(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "steward-local:", err)
		return 1
	}
	return s.run()
}

func parseFlags(args []string) (config, error) {
	fs := flag.NewFlagSet("steward-local", flag.ContinueOnError)
	cfg := config{addrs: make(map[string]*string), metricsAddrs: make(map[string]*string), serviceFlags: serviceFlags{}}
	defaultBinDir := "bin"
	if exe, err := os.Executable(); err == nil {
		defaultBinDir = filepath.Dir(exe)
	}
	fs.StringVar(&cfg.binDir, "bin-dir", defaultBinDir, "directory holding the steward-<service> binaries")
	fs.StringVar(&cfg.dataDir, "data-dir", "data", "data directory of the suite: the services' credentials (credentials/) and one subdirectory per service")
	for i, name := range backendNames {
		cfg.addrs[name] = fs.String(name+"-addr", fmt.Sprintf("127.0.0.1:%d", 7001+i), "gRPC address of "+name)
		cfg.metricsAddrs[name] = fs.String(name+"-metrics-addr", fmt.Sprintf("127.0.0.1:%d", 9001+i), "/metrics address of "+name+" (empty disables it)")
	}
	cfg.addrs["gateway"] = fs.String("gateway-addr", "127.0.0.1:8080", "HTTP address of the gateway (it serves /metrics itself)")
	fs.StringVar(&cfg.logLevel, "log-level", "info", "log level of the services: debug, info, warn or error")
	fs.DurationVar(&cfg.readyTimeout, "ready-timeout", time.Minute, "how long to wait for the suite to become healthy")
	fs.DurationVar(&cfg.stopTimeout, "stop-timeout", 15*time.Second, "how long to wait for the services to stop before killing them")
	fs.IntVar(&cfg.etcdMembers, "etcd-members", 0, "cluster mode: start this many steward-etcd members on 127.0.0.1 and keep every backend's data in them (0: each backend on its own bbolt file)")
	fs.IntVar(&cfg.etcdPort, "etcd-port", 2379, "client port of the first etcd member; member i serves clients on this port plus 2(i-1) and its peers on the next port")
	fs.IntVar(&cfg.replicas, "replicas", 1, "replicas of each backend (more than 1 needs -etcd-members); replica i listens on its service's ports plus (i-1) times -replica-port-step")
	fs.IntVar(&cfg.replicaPortStep, "replica-port-step", 10, "port distance between the replicas of a backend (gRPC and metrics)")
	fs.Var(cfg.serviceFlags, "service-flag", "`NAME=-flag[=value]`: pass one more flag to the service NAME (repeatable), e.g. audit=-purge-interval=10m")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch {
	case cfg.etcdMembers < 0:
		return config{}, fmt.Errorf("-etcd-members %d: want 0 (no etcd) or more", cfg.etcdMembers)
	case cfg.replicas < 1:
		return config{}, fmt.Errorf("-replicas %d: want 1 or more", cfg.replicas)
	case cfg.replicas > 1 && cfg.etcdMembers == 0:
		return config{}, errors.New("-replicas above 1 needs -etcd-members: the replicas of a service share its data through etcd")
	case cfg.replicas > 1 && cfg.replicaPortStep <= 0:
		return config{}, fmt.Errorf("-replica-port-step %d: want a positive step", cfg.replicaPortStep)
	}
	return cfg, nil
}
