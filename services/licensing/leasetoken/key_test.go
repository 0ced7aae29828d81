package leasetoken_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"steward.dev/pkg/accesstoken"
	"steward.dev/pkg/store"
	"steward.dev/pkg/store/bboltstore"
	"steward.dev/services/licensing/leasetoken"
)

// openStore opens the bbolt store at path; closeStore checks and closes
// it, as the end of the test does when the test has not.
func openStore(t *testing.T, path string) *bboltstore.Store {
	t.Helper()
	s, err := bboltstore.Open(path, bboltstore.Options{LockTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeStore(t, s) })
	return s
}

// closeStore runs bbolt's consistency check over s and closes it, once.
func closeStore(t *testing.T, s *bboltstore.Store) {
	t.Helper()
	if err := s.View(context.Background(), func(store.ReadTx) error { return nil }); errors.Is(err, store.ErrClosed) {
		return
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
}

func loadKey(t *testing.T, s store.Store) accesstoken.Key {
	t.Helper()
	k, err := leasetoken.LoadKey(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sameKey(a, b accesstoken.Key) bool { return a.ID == b.ID && a.Private.Equal(b.Private) }

// TestR24LoadKey: the lease-signing key is created once, stored under
// leasetoken/key, and the same key comes back on every later call and after
// the store is reopened (a restart), so lease tokens a robot holds stay
// verifiable.
func TestR24LoadKey(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "licensing.db")
	s := openStore(t, path)
	k := loadKey(t, s)
	if len(k.Private) != ed25519.PrivateKeySize || k.ID != accesstoken.NewKey(k.Private).ID {
		t.Fatalf("LoadKey = %+v, not an Ed25519 key with its ID", k)
	}
	if again := loadKey(t, s); !sameKey(again, k) {
		t.Errorf("second LoadKey = %s, want %s", again.ID, k.ID)
	}
	var stored struct {
		ID   string `json:"id"`
		Seed []byte `json:"seed"`
	}
	if err := s.View(ctx, func(tx store.ReadTx) error {
		b, err := tx.Get([]byte("leasetoken/key"))
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &stored)
	}); err != nil {
		t.Fatal(err)
	}
	if stored.ID != k.ID || !ed25519.NewKeyFromSeed(stored.Seed).Equal(k.Private) {
		t.Errorf("stored key %s does not hold the key %s", stored.ID, k.ID)
	}
	signer := newSigner(t, k)
	raw := sign(t, signer, testClaims())
	closeStore(t, s)

	// A restart: the same key, so the token signed before verifies with the
	// JWKS served after.
	s = openStore(t, path)
	after := loadKey(t, s)
	if !sameKey(after, k) {
		t.Fatalf("LoadKey after reopening = %s, want %s", after.ID, k.ID)
	}
	if _, err := newVerifier(t, newSigner(t, after).JWKS()).Verify(raw, now); err != nil {
		t.Errorf("token signed before the restart: %v", err)
	}

	// Another store has another key.
	if other := loadKey(t, openStore(t, filepath.Join(t.TempDir(), "other.db"))); other.ID == k.ID {
		t.Error("two stores have one key")
	}
}

// TestR24LoadKeyConcurrent: callers racing on an empty store get one key.
func TestR24LoadKeyConcurrent(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "licensing.db"))
	const n = 8
	keys := make([]accesstoken.Key, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, err := leasetoken.LoadKey(context.Background(), s)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if !sameKey(k, keys[0]) {
			t.Fatalf("concurrent LoadKey returned keys %s and %s", keys[0].ID, k.ID)
		}
	}
}

// TestR24LoadKeyRefusesDamagedKey: a stored key that does not decode or
// whose seed does not make its ID is an error, and LoadKey does not replace
// it (tokens signed with it would stop verifying).
func TestR24LoadKeyRefusesDamagedKey(t *testing.T) {
	ctx := context.Background()
	good := testKey(1)
	encode := func(id string, seed []byte) []byte {
		b, err := json.Marshal(map[string]any{"id": id, "seed": seed})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for name, value := range map[string][]byte{
		"not JSON":      []byte("{"),
		"no seed":       encode(good.ID, nil),
		"short seed":    encode(good.ID, good.Private.Seed()[:31]),
		"another's ID":  encode(testKey(2).ID, good.Private.Seed()),
		"no ID":         encode("", good.Private.Seed()),
		"seed a string": []byte(`{"id":"` + good.ID + `","seed":"not base64!"}`),
	} {
		t.Run(name, func(t *testing.T) {
			s := openStore(t, filepath.Join(t.TempDir(), "licensing.db"))
			if err := s.Update(ctx, func(tx store.Tx) error { return tx.Put([]byte(leasetoken.StoreKey), value) }); err != nil {
				t.Fatal(err)
			}
			if k, err := leasetoken.LoadKey(ctx, s); err == nil {
				t.Fatalf("LoadKey = %s, want error", k.ID)
			}
			var after []byte
			if err := s.View(ctx, func(tx store.ReadTx) error {
				var err error
				after, err = tx.Get([]byte(leasetoken.StoreKey))
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if string(after) != string(value) {
				t.Errorf("LoadKey replaced the stored key %s with %s", value, after)
			}
		})
	}
	// The same record, undamaged, loads.
	s := openStore(t, filepath.Join(t.TempDir(), "licensing.db"))
	if err := s.Update(ctx, func(tx store.Tx) error {
		return tx.Put([]byte(leasetoken.StoreKey), encode(good.ID, good.Private.Seed()))
	}); err != nil {
		t.Fatal(err)
	}
	if k := loadKey(t, s); !sameKey(k, good) {
		t.Errorf("LoadKey = %s, want the stored %s", k.ID, good.ID)
	}
}
