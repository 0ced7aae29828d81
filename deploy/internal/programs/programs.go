// Package programs describes Steward's five service programs as the
// deployment artefacts (deploy/kubernetes, deploy/systemd) use them: each
// one's binary name, default addresses and real flag set, built from the
// service's own Config and AddFlags, so that a test can check that every
// flag and STEWARD_* variable a manifest or unit gives is one the program
// takes, with a value it accepts.
package programs

import (
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"

	"steward.dev/pkg/flagenv"
	access "steward.dev/services/access/server"
	audit "steward.dev/services/audit/server"
	directory "steward.dev/services/directory/server"
	gateway "steward.dev/services/gateway/server"
	licensing "steward.dev/services/licensing/server"
)

// Program is one of Steward's service programs.
type Program struct {
	// Name is the service's name: directory, access, licensing, audit or
	// gateway.
	Name string
	// Backend is true for the four gRPC backends, false for the gateway.
	Backend bool
	// DefaultAddr is the default listen address (gRPC for a backend, HTTP
	// for the gateway); DefaultMetricsAddr the default /metrics address of a
	// backend ("" for the gateway, which serves /metrics on DefaultAddr).
	DefaultAddr, DefaultMetricsAddr string

	addFlags func(fs *flag.FlagSet)
}

// All are the five programs, backends first in their start order.
var All = []Program{
	{Name: "directory", Backend: true, DefaultAddr: directory.DefaultAddr, DefaultMetricsAddr: directory.DefaultMetricsAddr,
		addFlags: func(fs *flag.FlagSet) { c := directory.NewConfig(); c.AddFlags(fs) }},
	{Name: "access", Backend: true, DefaultAddr: access.DefaultAddr, DefaultMetricsAddr: access.DefaultMetricsAddr,
		addFlags: func(fs *flag.FlagSet) { c := access.NewConfig(); c.AddFlags(fs) }},
	{Name: "licensing", Backend: true, DefaultAddr: licensing.DefaultAddr, DefaultMetricsAddr: licensing.DefaultMetricsAddr,
		addFlags: func(fs *flag.FlagSet) { c := licensing.NewConfig(); c.AddFlags(fs) }},
	{Name: "audit", Backend: true, DefaultAddr: audit.DefaultAddr, DefaultMetricsAddr: audit.DefaultMetricsAddr,
		addFlags: func(fs *flag.FlagSet) { c := audit.NewConfig(); c.AddFlags(fs) }},
	{Name: "gateway", DefaultAddr: gateway.DefaultAddr,
		addFlags: func(fs *flag.FlagSet) { c := gateway.NewConfig(); c.AddFlags(fs) }},
}

// ByName returns the program called name.
func ByName(name string) (Program, bool) {
	for _, p := range All {
		if p.Name == name {
			return p, true
		}
	}
	return Program{}, false
}

// Binary is the program's file name as `make build` writes it into ./bin:
// steward-<name>.
func (p Program) Binary() string { return "steward-" + p.Name }

// Port returns the port of the address addr ("0.0.0.0:7001": 7001).
func Port(addr string) (int, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(port)
}

// FlagSet returns a new flag set with the program's flags at their
// defaults, as its main registers them.
func (p Program) FlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet(p.Binary(), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	p.addFlags(fs)
	return fs
}

// Parse parses args (the program's command line, without the program name)
// into a new flag set of the program's flags, as its main would, and returns
// it: an unknown flag, a value the flag refuses or a positional argument is
// an error.
func (p Program) Parse(args []string) (*flag.FlagSet, error) {
	fs := p.FlagSet()
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("%s: %w", p.Binary(), err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%s: unexpected arguments %q", p.Binary(), fs.Args())
	}
	return fs, nil
}

// FlagForEnv returns the name of the program's flag that the environment
// variable env sets (flagenv.EnvName), and whether there is one.
func (p Program) FlagForEnv(env string) (string, bool) {
	var found string
	p.FlagSet().VisitAll(func(f *flag.Flag) {
		if flagenv.EnvName(flagenv.Prefix, f.Name) == env {
			found = f.Name
		}
	})
	return found, found != ""
}

// CheckEnv checks the environment variable env=value as the program would
// read it: "" when the program has no flag it sets (the program ignores
// it), else the flag's name, or an error when the flag refuses the value.
func (p Program) CheckEnv(env, value string) (string, error) {
	name, ok := p.FlagForEnv(env)
	if !ok {
		return "", nil
	}
	fs := p.FlagSet()
	if err := fs.Set(name, value); err != nil {
		return name, fmt.Errorf("%s: %s=%q: %w", p.Binary(), env, value, err)
	}
	return name, nil
}
