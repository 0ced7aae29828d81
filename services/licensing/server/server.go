// Package server wires the licensing service, which owns license pools, seats, leases and execution locks:
// its configuration, defaults and the gRPC services it registers. It keeps an event log in its store, served as
// steward.eventlog.v1.EventLogService.
package server

import (
	"steward.dev/pkg/backend"
)

// Defaults of the licensing service. Every address is loopback: serving on
// other interfaces must be asked for.
const (
	// Name is the service name.
	Name = "licensing"
	// DefaultAddr is the gRPC listen address.
	DefaultAddr = "127.0.0.1:7003"
	// DefaultMetricsAddr is the Prometheus /metrics listen address.
	DefaultMetricsAddr = "127.0.0.1:9003"
)

// Config is the configuration of the licensing service process.
type Config struct {
	backend.Config
}

// NewConfig returns the default configuration of the licensing service.
func NewConfig() Config {
	return Config{backend.DefaultConfig(Name, DefaultAddr, DefaultMetricsAddr, true)}
}

// Complete validates c and builds the licensing service, ready to Run.
func (c Config) Complete() (*backend.Backend, error) {
	c.Register = register
	return c.Config.Complete()
}

// register registers the licensing service's own gRPC services on b. Each one
// must declare an authorization rule on every method (the server refuses to
// start otherwise); the licensing issue adds them here.
func register(b *backend.Backend) error {
	return nil
}
