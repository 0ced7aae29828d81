// Command steward-etcd runs one member of an etcd cluster for Steward's
// scale-out mode (-store=etcd, R32): the pinned go.etcd.io/etcd/server/v3,
// built by `make build`, with the operation and request limits the services'
// etcd store expects (pkg/etcdserver). Any etcd 3.5+ cluster started with
// --max-txn-ops=8192 --max-request-bytes=8388608 serves as well.
//
//	steward-etcd -name etcd1 -data-dir data/etcd1 \
//	  -client-addr 127.0.0.1:2379 -peer-addr 127.0.0.1:2380 \
//	  -initial-cluster etcd1=http://127.0.0.1:2380,etcd2=http://127.0.0.1:2382,etcd3=http://127.0.0.1:2384
//
// Every flag can be set through STEWARD_ETCD_<FLAG> (pkg/flagenv). SIGINT or
// SIGTERM stops the member gracefully; with -ignore-sigint only SIGTERM does
// (steward-local's members: a terminal's Ctrl-C reaches the whole process
// group, and the launcher stops its members after the services).
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"steward.dev/pkg/etcdserver"
	"steward.dev/pkg/flagenv"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "steward-etcd:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	var c etcdserver.Config
	fs := flag.NewFlagSet("steward-etcd", flag.ContinueOnError)
	fs.StringVar(&c.Name, "name", "etcd1", "the member's name in -initial-cluster")
	fs.StringVar(&c.Dir, "data-dir", "data/etcd1", "the member's data directory")
	fs.StringVar(&c.ClientAddr, "client-addr", "127.0.0.1:2379", "where clients (Steward's services) connect")
	fs.StringVar(&c.PeerAddr, "peer-addr", "127.0.0.1:2380", "where the other members connect")
	fs.StringVar(&c.InitialCluster, "initial-cluster", "", "every member as name=http://peer-addr, comma-separated; empty: this member alone")
	fs.StringVar(&c.LogLevel, "log-level", "warn", "etcd's log level: debug, info, warn, error")
	ignoreSIGINT := fs.Bool("ignore-sigint", false, "ignore SIGINT, stop on SIGTERM only (steward-local stops its members after the services, whatever Ctrl-C reaches)")
	if err := flagenv.Parse(fs, flagenv.Prefix+"_ETCD", args); err != nil {
		return err
	}
	stopSignals := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if *ignoreSIGINT {
		signal.Ignore(os.Interrupt)
		stopSignals = stopSignals[1:]
	}
	s, err := etcdserver.Start(c)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "steward-etcd: %s serving clients on %s\n", c.Name, s.ClientAddr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, stopSignals...)
	select {
	case <-sig:
		s.Close()
		return nil
	case err := <-s.Err():
		s.Close()
		return err
	}
}
