// Package etcdserver runs an etcd member inside the process with the settings
// Steward's etcd backend (pkg/store/etcdstore) expects: its operation and
// request limits, loopback listeners unless asked otherwise, and quiet logs.
// The steward-etcd program (deploy/etcd) and the tests use it, so that a fresh
// clone needs no etcd release: the server is the pinned go.etcd.io/etcd/server/v3.
package etcdserver

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"go.etcd.io/etcd/server/v3/embed"

	"steward.dev/pkg/store/etcdstore"
)

// Config describes one member.
type Config struct {
	// Name is the member's name in InitialCluster, e.g. "etcd1". Required.
	Name string
	// Dir holds the member's data. Required.
	Dir string
	// ClientAddr is where clients connect (host:port), e.g. 127.0.0.1:2379.
	// Required.
	ClientAddr string
	// PeerAddr is where the other members connect (host:port). Required.
	PeerAddr string
	// InitialCluster lists every member as name=http://peer-addr, comma
	// separated; empty means this member alone.
	InitialCluster string
	// LogLevel is etcd's log level; default "error".
	LogLevel string
	// NoFsync disables fsync: for tests only, acknowledged writes may be lost
	// on power failure.
	NoFsync bool
}

// Server is a running member.
type Server struct {
	e *embed.Etcd
}

// Start starts the member and waits until it is ready to serve (for a cluster:
// until a leader is elected, which needs a majority of members started).
func Start(c Config) (*Server, error) {
	if c.Name == "" || c.Dir == "" || c.ClientAddr == "" || c.PeerAddr == "" {
		return nil, errors.New("etcdserver: Name, Dir, ClientAddr and PeerAddr are required")
	}
	client, err := url.Parse("http://" + c.ClientAddr)
	if err != nil {
		return nil, fmt.Errorf("etcdserver: client address: %w", err)
	}
	peer, err := url.Parse("http://" + c.PeerAddr)
	if err != nil {
		return nil, fmt.Errorf("etcdserver: peer address: %w", err)
	}
	cfg := embed.NewConfig()
	cfg.Name = c.Name
	cfg.Dir = c.Dir
	cfg.ListenClientUrls = []url.URL{*client}
	cfg.AdvertiseClientUrls = []url.URL{*client}
	cfg.ListenPeerUrls = []url.URL{*peer}
	cfg.AdvertisePeerUrls = []url.URL{*peer}
	cfg.InitialCluster = c.InitialCluster
	if cfg.InitialCluster == "" {
		cfg.InitialCluster = c.Name + "=" + peer.String()
	}
	cfg.InitialClusterToken = "steward"
	cfg.MaxTxnOps = etcdstore.DefaultMaxTxnOps
	cfg.MaxRequestBytes = etcdstore.DefaultMaxRequestBytes
	cfg.LogLevel = c.LogLevel
	if cfg.LogLevel == "" {
		cfg.LogLevel = "error"
	}
	cfg.UnsafeNoFsync = c.NoFsync
	// Keep an hour of revisions: snapshots of long reads stay readable, and
	// the store does not grow without bound.
	cfg.AutoCompactionMode = embed.CompactorModePeriodic
	cfg.AutoCompactionRetention = "1h"
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcdserver: starting %s: %w", c.Name, err)
	}
	select {
	case <-e.Server.ReadyNotify():
		return &Server{e: e}, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcdserver: %s: %w", c.Name, err)
	case <-time.After(time.Minute):
		e.Close()
		return nil, fmt.Errorf("etcdserver: %s not ready after a minute (is a majority of the cluster started?)", c.Name)
	}
}

// Err reports a fatal error of the running member.
func (s *Server) Err() <-chan error { return s.e.Err() }

// Close stops the member gracefully.
func (s *Server) Close() { s.e.Close() }

// ClientAddr returns the address clients connect to (host:port).
func (s *Server) ClientAddr() string { return s.e.Config().ListenClientUrls[0].Host }
