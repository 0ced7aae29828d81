// Package e2e holds the end-to-end tests of the Steward suite: they start the
// real launcher (deploy/local) with the built binaries, as `make run` does,
// on free ports and a temporary data directory, and talk to it over gRPC and
// HTTP like any client. They carry the build tag e2e and need STEWARD_BIN,
// the directory of the binaries; `make test-e2e` builds them and sets it.
package e2e
