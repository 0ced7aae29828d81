// Package program is the main function of every Steward binary: flags (with
// their STEWARD_* environment variables) into a Config, Complete() into a
// runnable, and Run until SIGINT or SIGTERM.
package program

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"steward.dev/pkg/flagenv"
)

// Runnable is a completed service: it runs until ctx is cancelled and then
// shuts down gracefully, returning nil on a clean stop.
type Runnable interface {
	Run(ctx context.Context) error
}

// Config is a service configuration that declares its flags and completes into
// a Runnable. It is implemented by pointers to the services' Config types.
type Config[R Runnable] interface {
	AddFlags(fs *flag.FlagSet)
	Complete() (R, error)
}

// Main parses the command line and environment into cfg, completes it and runs
// the result until SIGINT or SIGTERM. It exits the process with status 1 on
// error, after printing it prefixed by name.
func Main[R Runnable](name string, cfg Config[R]) {
	if err := run(name, cfg, os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

func run[R Runnable](name string, cfg Config[R], args []string) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	cfg.AddFlags(fs)
	if err := flagenv.Parse(fs, flagenv.Prefix, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	r, err := cfg.Complete()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = r.Run(ctx)
	// The process is exiting. A signal arriving now (a launcher forwarding
	// the Ctrl-C that the terminal also sent to the whole group) must not
	// turn a clean stop into death by that signal.
	signal.Ignore(os.Interrupt, syscall.SIGTERM)
	stop()
	return err
}
