// Package directory_test runs the directory's gRPC API with its production
// wiring over bufconn, on its own (a stand-in authorizer) and together with
// a real access management service (accessenv_test.go): in-process
// end-to-end tests. They live in the deploy module because a service's own
// module never imports another service.
package directory_test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
