// Package access_test runs access management's gRPC API against a real
// directory, both with their production wiring over bufconn in one process:
// in-process end-to-end tests of the two services together (access follows
// the directory's event log and answers its permission checks). They live
// in the deploy module because a service's own module never imports
// another service.
package access_test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
