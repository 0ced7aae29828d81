package bboltstore_test

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"

	"steward.dev/pkg/store"
	"steward.dev/pkg/store/bboltstore"
	"steward.dev/pkg/store/storetest"
)

func TestConformance(t *testing.T) {
	// The suite's keys: "a/..." and "p/..." in unordered ranges of their
	// own, "q/" and "o/" and the rest in the data bucket.
	for _, opts := range []bboltstore.Options{{}, {MaxBatch: 1}, {Unordered: []string{"p/", "a/"}}} {
		t.Run(fmt.Sprintf("MaxBatch=%d,Unordered=%q", opts.MaxBatch, opts.Unordered), func(t *testing.T) {
			var mu sync.Mutex
			dirs := map[testing.TB]string{} // one directory per (sub)test, so a name reopens its file
			storetest.Run(t, func(t testing.TB, name string) store.Store {
				mu.Lock()
				dir, ok := dirs[t]
				if !ok {
					dir = t.TempDir()
					dirs[t] = dir
				}
				mu.Unlock()
				path := filepath.Join(dir, name+".db")
				s, err := bboltstore.Open(path, opts)
				if err != nil {
					t.Fatalf("open: %v", err)
				}
				t.Cleanup(func() {
					_ = s.Close()
					checkFile(t, path)
				})
				return s
			})
		})
	}
}

// checkFile reopens a closed store file and runs bbolt's consistency check.
func checkFile(t testing.TB, path string) {
	t.Helper()
	s, err := bboltstore.Open(path, bboltstore.Options{})
	if err != nil {
		t.Errorf("reopen %s: %v", path, err)
		return
	}
	defer s.Close()
	if err := s.Check(); err != nil {
		t.Errorf("bbolt consistency check of %s: %v", path, err)
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := bboltstore.Open(path, bboltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), binary.BigEndian.AppendUint64(nil, bboltstore.SchemaVersion+1))
	})
	_ = db.Close()
	if s, err := bboltstore.Open(path, bboltstore.Options{}); err == nil {
		_ = s.Close()
		t.Fatal("Open accepted a file with a newer schema version")
	}
}
