package directory_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/verifier"
)

// TestRotationUnderLoad (issue 9 item 9): tokens are verified through the
// verifier other services use (locally, with the published keys) by
// concurrent callers while the directory rotates its keys twice, and new
// tokens are issued after each rotation: no call fails.
func TestRotationUnderLoad(t *testing.T) {
	e := newEnv(t)
	su := e.signUp()
	org := su.GetOrganization().GetName()
	signIn := func() string {
		return e.signIn(org, su.GetOwner().GetEmail(), "correct horse battery", "").GetAccessToken()
	}
	v := verifier.New(serviceConn(t, e.b, "access"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = v.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	var mu sync.Mutex
	tokens := []string{signIn()}
	var calls, failed atomic.Int64
	var firstErr atomic.Value
	const workers, perWorker = 8, 150
	for round := range 3 {
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range perWorker {
					mu.Lock()
					// Mostly the newest token, also every older one.
					tok := tokens[len(tokens)-1]
					if i%3 == 0 {
						tok = tokens[(w+i)%len(tokens)]
					}
					mu.Unlock()
					calls.Add(1)
					if _, err := v.Verify(context.Background(), tok); err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err)
					}
				}
			})
		}
		if round < 2 {
			if _, err := e.c.RotateSigningKeys(context.Background(), &directoryv1.RotateSigningKeysRequest{}, e.svc); err != nil {
				t.Fatal(err)
			}
			tok := signIn() // signed with the new key, while the load runs
			mu.Lock()
			tokens = append(tokens, tok)
			mu.Unlock()
		}
		wg.Wait()
	}
	t.Logf("%d verifications of %d tokens across two rotations, %d failed", calls.Load(), len(tokens), failed.Load())
	if failed.Load() != 0 {
		t.Fatalf("%d of %d calls failed during the rotations; first: %v", failed.Load(), calls.Load(), firstErr.Load())
	}
}
