// Command steward-gateway runs Steward's HTTP/JSON gateway in front of the
// directory, access, licensing and audit services.
//
// Every flag can also be set through an environment variable named after it
// (-directory-addr: STEWARD_DIRECTORY_ADDR); a flag given on the command line
// wins over the variable, which wins over the default. Run with -help to list
// them.
package main

import (
	"steward.dev/pkg/program"
	"steward.dev/services/gateway/server"
)

func main() {
	cfg := server.NewConfig()
	program.Main("steward-gateway", &cfg)
}
