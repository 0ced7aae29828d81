// Package server wires the access service, which owns the permission catalogue, roles and role assignments, and answers Check:
// its configuration, defaults and the gRPC services it registers. It keeps an event log in its store, served as
// steward.eventlog.v1.EventLogService.
package server

import (
	"steward.dev/pkg/backend"
)

// Defaults of the access service. Every address is loopback: serving on
// other interfaces must be asked for.
const (
	// Name is the service name.
	Name = "access"
	// DefaultAddr is the gRPC listen address.
	DefaultAddr = "127.0.0.1:7002"
	// DefaultMetricsAddr is the Prometheus /metrics listen address.
	DefaultMetricsAddr = "127.0.0.1:9002"
)

// Config is the configuration of the access service process.
type Config struct {
	backend.Config
}

// NewConfig returns the default configuration of the access service.
func NewConfig() Config {
	return Config{backend.DefaultConfig(Name, DefaultAddr, DefaultMetricsAddr, true)}
}

// Complete validates c and builds the access service, ready to Run.
func (c Config) Complete() (*backend.Backend, error) {
	c.Register = register
	return c.Config.Complete()
}

// register registers the access service's own gRPC services on b. Each one
// must declare an authorization rule on every method (the server refuses to
// start otherwise); the access issue adds them here.
func register(b *backend.Backend) error {
	return nil
}
