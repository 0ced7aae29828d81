// Command steward-audit runs the audit service of Steward.
//
// Every flag can also be set through an environment variable named after it
// (-data-dir: STEWARD_DATA_DIR); a flag given on the command line wins over
// the variable, which wins over the default. Run with -help to list them.
//
// Unless GOGC is set, the collector runs at GOGC=400: audit's heap is small
// and its ingestion allocates per event, so collecting four times less often
// buys about a tenth of its recording rate for a few megabytes
// (BENCHMARKS.md).
//
// `steward-audit verify` instead checks an exported JSON-lines file against
// a signed checkpoint, offline (R28); run `steward-audit verify -help`.
package main

import (
	"os"
	"runtime/debug"

	"steward.dev/pkg/program"
	"steward.dev/services/audit/server"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "verify" {
		os.Exit(runVerify(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	cfg := server.NewConfig()
	program.Main("steward-audit", &cfg)
}
