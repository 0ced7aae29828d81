package main

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
)

// etcdReadyLine is what steward-etcd prints once its member serves clients.
const etcdReadyLine = "serving clients on"

// process is one child process of the suite: an etcd member, a replica of a
// backend or the gateway.
type process struct {
	name    string // in the output's prefix and the logs: "etcd1", "access-2", "gateway"
	binary  string // steward-<binary>: "etcd", "access", "gateway"
	service string // the backend it is a replica of; "" for etcd and the gateway
	args    []string
	addr    string // gRPC address (backends), HTTP address (gateway), client address (etcd)
	metrics string // /metrics address (backends; "" when disabled), peer address (etcd)
}

// etcd reports whether p is an etcd member.
func (p process) etcd() bool { return p.binary == "etcd" }

// cluster reports whether the suite runs in cluster mode: on etcd members
// of its own, each service possibly replicated.
func (c config) cluster() bool { return c.etcdMembers > 0 }

// plan returns the suite's processes in start order: the etcd members, then
// every replica of each backend, then the gateway. dataDir must be absolute;
// credsDir holds the services' credentials.
func plan(cfg config, credsDir string) ([]process, error) {
	var procs []process
	var endpoints []string
	if cfg.etcdMembers > 0 {
		members, err := etcdMembers(cfg)
		if err != nil {
			return nil, err
		}
		procs = append(procs, members...)
		for _, m := range members {
			endpoints = append(endpoints, m.addr)
		}
	}
	// Every replica's address, by service: what the other services dial.
	replicas := make(map[string][]process)
	for _, name := range backendNames {
		for i := 1; i <= cfg.replicas; i++ {
			p := process{name: name, binary: name, service: name}
			if cfg.replicas > 1 {
				p.name = fmt.Sprintf("%s-%d", name, i)
			}
			var err error
			if p.addr, err = offsetPort(*cfg.addrs[name], (i-1)*cfg.replicaPortStep); err != nil {
				return nil, fmt.Errorf("-%s-addr: %w", name, err)
			}
			if *cfg.metricsAddrs[name] != "" {
				if p.metrics, err = offsetPort(*cfg.metricsAddrs[name], (i-1)*cfg.replicaPortStep); err != nil {
					return nil, fmt.Errorf("-%s-metrics-addr: %w", name, err)
				}
			}
			replicas[name] = append(replicas[name], p)
		}
	}
	list := func(name string) string {
		addrs := make([]string, len(replicas[name]))
		for i, p := range replicas[name] {
			addrs[i] = p.addr
		}
		return strings.Join(addrs, ",")
	}
	for _, name := range backendNames {
		for _, p := range replicas[name] {
			p.args = []string{
				"-addr", p.addr,
				"-metrics-addr", p.metrics,
				"-data-dir", filepath.Join(cfg.dataDir, p.name),
				// Every replica of a service is that service: one credential.
				"-service-credential-file", filepath.Join(credsDir, name),
				"-trusted-services-file", trustedPath(credsDir),
				"-directory-addr", list("directory"),
				"-access-addr", list("access"),
				"-log-level", cfg.logLevel,
			}
			if name == "audit" {
				// Audit follows licensing's event log too.
				p.args = append(p.args, "-licensing-addr", list("licensing"))
			}
			if name == "directory" {
				// The local suite is for development: its OIDC issuers (and
				// the end-to-end tests' oidctest issuer) run on loopback over
				// plain http, which a production directory refuses (SSRF).
				p.args = append(p.args, "-oidc-allow-private-issuers")
			}
			if len(endpoints) > 0 {
				p.args = append(p.args, "-store", "etcd", "-etcd-endpoints", strings.Join(endpoints, ","))
			}
			p.args = append(p.args, cfg.serviceFlags[name]...)
			procs = append(procs, p)
		}
	}
	// The gateway's own credential vouches for the client addresses it
	// forwards, and grants nothing else.
	gw := process{name: "gateway", binary: "gateway", addr: *cfg.addrs["gateway"]}
	gw.args = []string{"-addr", gw.addr, "-log-level", cfg.logLevel,
		"-service-credential-file", filepath.Join(credsDir, "gateway"), "-trusted-services-file", trustedPath(credsDir)}
	for _, name := range backendNames {
		gw.args = append(gw.args, "-"+name+"-addr", list(name))
	}
	gw.args = append(gw.args, cfg.serviceFlags["gateway"]...)
	procs = append(procs, gw)

	// Two processes on one port would only fail at start, confusingly.
	used := make(map[string]string)
	for _, p := range procs {
		for _, a := range []string{p.addr, p.metrics} {
			if a == "" {
				continue
			}
			if other, ok := used[a]; ok {
				return nil, fmt.Errorf("%s and %s would both listen on %s: change the addresses or -replica-port-step", other, p.name, a)
			}
			used[a] = p.name
		}
	}
	return procs, nil
}

// etcdMembers returns the etcd members of cfg: member i (from 1) serves
// clients on port etcdPort+2(i-1) of 127.0.0.1 and its peers on the next
// one, with its data in <data-dir>/etcd<i>.
func etcdMembers(cfg config) ([]process, error) {
	if top := cfg.etcdPort + 2*cfg.etcdMembers - 1; cfg.etcdPort <= 0 || top > 65535 {
		return nil, fmt.Errorf("-etcd-port %d: the members' ports %d-%d are not all valid", cfg.etcdPort, cfg.etcdPort, top)
	}
	members := make([]process, cfg.etcdMembers)
	var initial []string
	for i := range members {
		m := &members[i]
		m.name = fmt.Sprintf("etcd%d", i+1)
		m.binary = "etcd"
		m.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.etcdPort+2*i))
		m.metrics = net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.etcdPort+2*i+1))
		initial = append(initial, m.name+"=http://"+m.metrics)
	}
	for i := range members {
		m := &members[i]
		m.args = []string{
			"-name", m.name,
			"-data-dir", filepath.Join(cfg.dataDir, m.name),
			"-client-addr", m.addr,
			"-peer-addr", m.metrics,
			"-initial-cluster", strings.Join(initial, ","),
			// A terminal's Ctrl-C reaches the whole process group: the
			// members ignore it and stop on the launcher's SIGTERM, after
			// the services.
			"-ignore-sigint",
		}
	}
	return members, nil
}

// offsetPort returns addr (host:port) with its port increased by delta.
func offsetPort(addr string, delta int) (string, error) {
	if delta == 0 {
		return addr, nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	n, err := strconv.Atoi(port)
	if err != nil || n <= 0 || n+delta > 65535 {
		return "", fmt.Errorf("%q: a replica's port is the port plus %d: want a fixed port below %d", addr, delta, 65536-delta)
	}
	return net.JoinHostPort(host, strconv.Itoa(n+delta)), nil
}
