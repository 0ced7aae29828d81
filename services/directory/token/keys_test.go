package token

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"steward.dev/pkg/store"
	"steward.dev/pkg/store/bboltstore"
)

func openStore(t *testing.T, path string) *bboltstore.Store {
	t.Helper()
	s, err := bboltstore.Open(path, bboltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Check(); err != nil {
			t.Error(err)
		}
		_ = s.Close()
	})
	return s
}

func countKeys(t *testing.T, s store.Store) int {
	t.Helper()
	n := 0
	err := s.View(context.Background(), func(tx store.ReadTx) error {
		return tx.Scan(keyPrefix, nil, func(_, _ []byte) (bool, error) { n++; return true, nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLoadOrCreateKeys(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "directory.db")
	s := openStore(t, path)

	first, err := LoadOrCreateKeys(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 1 {
		t.Fatalf("LoadOrCreateKeys on an empty store returned %d keys, want 1", len(first))
	}
	again, err := LoadOrCreateKeys(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 1 || again[0].ID != first[0].ID || !again[0].Private.Equal(first[0].Private) {
		t.Errorf("second call returned %v, want the first key %s", again, first[0].ID)
	}
	if n := countKeys(t, s); n != 1 {
		t.Errorf("store holds %d keys, want 1", n)
	}

	// A key added later (rotation) comes first.
	newer := testKey(9)
	err = s.Update(ctx, func(tx store.Tx) error {
		return putKey(tx, newer, time.Now().Add(time.Hour))
	})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := LoadOrCreateKeys(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].ID != newer.ID || keys[1].ID != first[0].ID {
		t.Errorf("keys = %v, want [%s %s]", keyIDs(keys), newer.ID, first[0].ID)
	}
	if _, err := NewSigner(testIssuer, testAudience, keys...); err != nil {
		t.Errorf("NewSigner(loaded keys) = %v", err)
	}
}

func TestLoadOrCreateKeysConcurrent(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "directory.db"))
	const n = 8
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			keys, err := LoadOrCreateKeys(context.Background(), s)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = keyIDs(keys)[0]
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("concurrent callers got different keys: %v", ids)
		}
	}
	if got := countKeys(t, s); got != 1 {
		t.Errorf("store holds %d keys, want 1", got)
	}
}

func TestLoadOrCreateKeysCorrupt(t *testing.T) {
	k := testKey(1)
	for _, tc := range []struct {
		name  string
		value string
	}{
		{"not JSON", "{"},
		{"short seed", `{"id":"` + k.ID + `","seed":"AAAA","create_time":"2026-01-01T00:00:00Z"}`},
		{"ID mismatch", `{"id":"0000000000000000","seed":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=","create_time":"2026-01-01T00:00:00Z"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t, filepath.Join(t.TempDir(), "directory.db"))
			err := s.Update(context.Background(), func(tx store.Tx) error {
				return tx.Put([]byte("token/keys/x"), []byte(tc.value))
			})
			if err != nil {
				t.Fatal(err)
			}
			if keys, err := LoadOrCreateKeys(context.Background(), s); err == nil {
				t.Errorf("LoadOrCreateKeys = %v, want error", keyIDs(keys))
			}
		})
	}
}

func keyIDs(keys []Key) []string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	return ids
}
