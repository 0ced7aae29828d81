// Command steward-access runs the access service of Steward.
//
// Every flag can also be set through an environment variable named after it
// (-data-dir: STEWARD_DATA_DIR); a flag given on the command line wins over
// the variable, which wins over the default. Run with -help to list them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"steward.dev/pkg/flagenv"
	"steward.dev/services/access/server"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "steward-access:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	cfg := server.NewConfig()
	fs := flag.NewFlagSet("steward-access", flag.ContinueOnError)
	cfg.AddFlags(fs)
	if err := flagenv.Parse(fs, flagenv.Prefix, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	srv, err := cfg.Complete()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return srv.Run(ctx)
}
