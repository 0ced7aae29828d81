package storetest

import (
	"context"

	"steward.dev/pkg/store"
)

// FailingUpdates is a store whose read-write transactions fail with Err
// without running, while its reads go to Store: for tests of an operation
// whose first write must succeed before anything else happens (an export
// recorded before its first byte, R27).
type FailingUpdates struct {
	store.Store
	// Err is what Update returns.
	Err error
}

// Update returns f.Err without running fn.
func (f FailingUpdates) Update(context.Context, func(tx store.Tx) error) error { return f.Err }
