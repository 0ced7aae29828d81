// Command steward-licensing runs the licensing service of Steward.
//
// Every flag can also be set through an environment variable named after it
// (-data-dir: STEWARD_DATA_DIR); a flag given on the command line wins over
// the variable, which wins over the default. Run with -help to list them.
package main

import (
	"steward.dev/pkg/program"
	"steward.dev/services/licensing/server"
)

func main() {
	cfg := server.NewConfig()
	program.Main("steward-licensing", &cfg)
}
