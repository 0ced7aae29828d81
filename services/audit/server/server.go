// Package server wires the audit service, which owns the audit trail of every event of every service:
// its configuration, defaults and the gRPC services it registers. It keeps no event log of its own: audit consumes the logs of
// directory, access and licensing (a later issue adds the consumers).
package server

import (
	"steward.dev/pkg/backend"
)

// Defaults of the audit service. Every address is loopback: serving on
// other interfaces must be asked for.
const (
	// Name is the service name.
	Name = "audit"
	// DefaultAddr is the gRPC listen address.
	DefaultAddr = "127.0.0.1:7004"
	// DefaultMetricsAddr is the Prometheus /metrics listen address.
	DefaultMetricsAddr = "127.0.0.1:9004"
)

// Config is the configuration of the audit service process.
type Config struct {
	backend.Config
}

// NewConfig returns the default configuration of the audit service.
func NewConfig() Config {
	return Config{backend.DefaultConfig(Name, DefaultAddr, DefaultMetricsAddr, false)}
}

// Complete validates c and builds the audit service, ready to Run.
func (c Config) Complete() (*backend.Backend, error) {
	c.Register = register
	return c.Config.Complete()
}

// register registers the audit service's own gRPC services on b. Each one
// must declare an authorization rule on every method (the server refuses to
// start otherwise); the audit issue adds them here.
func register(b *backend.Backend) error {
	return nil
}
