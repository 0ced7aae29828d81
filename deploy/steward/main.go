// Command steward is Steward's command line client: it signs in, manages
// the directory (users, groups, departments, robots, API keys) and access
// (roles, assignments), answers access questions (check, explain, who-can,
// where-can), and reads licensing and the audit log, all over gRPC with
// the generated clients. `steward --help` lists the commands and the exit
// codes.
package main

import "os"

func main() {
	os.Exit(newApp(os.Stdin, os.Stdout, os.Stderr).run(os.Args[1:]))
}
