// Package etcdtest starts a one-member etcd inside a test process, on loopback
// ports, with its data in a temporary directory, shared by a package's tests.
package etcdtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"steward.dev/pkg/etcdserver"
)

// Run starts one member shared by a package's tests (call it from TestMain),
// sets *endpoint to its client address, runs m, stops the member and returns
// m's exit code.
func Run(m *testing.M, endpoint *string) int {
	dir, err := os.MkdirTemp("", "etcdtest")
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcdtest:", err)
		return 2
	}
	defer os.RemoveAll(dir)
	s, err := etcdserver.Start(etcdserver.Config{Name: "test", Dir: dir, ClientAddr: freeAddr(), PeerAddr: freeAddr(), NoFsync: true, LogLevel: "fatal"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcdtest:", err)
		return 2
	}
	defer s.Close()
	*endpoint = s.ClientAddr()
	// One request first, so that the goroutines the server starts on its
	// first connection exist before any test's leak check takes its baseline.
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{*endpoint}, DialTimeout: 5 * time.Second})
	if err == nil {
		_, err = cli.Get(context.Background(), "warm-up")
		_ = cli.Close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcdtest:", err)
		return 2
	}
	return m.Run()
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}
