package domain

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"steward.dev/pkg/etcdserver/etcdtest"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store/etcdstore"
)

// etcdEndpoint is the etcd member TestMain starts for the replica tests.
var etcdEndpoint string

func TestMain(m *testing.M) { os.Exit(etcdtest.Run(m, &etcdEndpoint)) }

// TestReplicasFollowKeyRotations (R32, issue 17 point 3): two directory
// replicas share one etcd store; a rotation of the signing keys made by one
// reaches the other, whose JWKS then publishes the same keys: a token signed
// with the new key verifies with what either publishes.
func TestReplicasFollowKeyRotations(t *testing.T) {
	prefix := "/test/" + t.Name() + "/"
	replica := func() *Service {
		st, err := etcdstore.Dial(context.Background(), []string{etcdEndpoint}, 5*time.Second, etcdstore.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		log, err := eventlog.New(st, "directory", eventlog.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s, err := New(context.Background(), st, log, Options{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = s.FollowSigningKeys(ctx, slog.New(slog.DiscardHandler)); close(done) }()
		t.Cleanup(func() { cancel(); <-done; _ = log.Close(); _ = st.Close() })
		return s
	}
	a, b := replica(), replica()
	kids := func(s *Service) []string {
		var ids []string
		for _, k := range s.JWKS() {
			ids = append(ids, k.Kid)
		}
		slices.Sort(ids)
		return ids
	}
	if got, want := kids(b), kids(a); !slices.Equal(got, want) {
		t.Fatalf("before any rotation: b publishes %v, a %v", got, want)
	}
	if _, err := a.RotateSigningKeys(context.Background(), KeyRotationActor); err != nil {
		t.Fatal(err)
	}
	want := kids(a)
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Equal(kids(b), want) {
		if time.Now().After(deadline) {
			t.Fatalf("b still publishes %v after a rotated to %v", kids(b), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
