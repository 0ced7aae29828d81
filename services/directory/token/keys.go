package token

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"steward.dev/pkg/store"
)

// keyPrefix is the store key range of signing keys: keyPrefix + key ID.
var keyPrefix = []byte("token/keys/")

// storedKey is the stored form of a Key. Seed is the 32-byte Ed25519 seed,
// base64 in JSON.
type storedKey struct {
	ID         string    `json:"id"`
	Seed       []byte    `json:"seed"`
	CreateTime time.Time `json:"create_time"`
}

// LoadOrCreateKeys returns the signing keys kept in s, newest first, so the
// result can go straight to NewSigner. When s holds none it creates one, in a
// single transaction, so concurrent first callers all get the same one key.
func LoadOrCreateKeys(ctx context.Context, s store.Store) ([]Key, error) {
	var keys []Key
	err := s.View(ctx, func(tx store.ReadTx) error {
		var err error
		keys, err = loadKeys(tx)
		return err
	})
	if err != nil || len(keys) > 0 {
		return keys, err
	}
	err = s.Update(ctx, func(tx store.Tx) error {
		var err error
		if keys, err = loadKeys(tx); err != nil || len(keys) > 0 {
			return err
		}
		k, err := GenerateKey()
		if err != nil {
			return err
		}
		keys = []Key{k}
		return putKey(tx, k, time.Now())
	})
	if err != nil {
		return nil, err
	}
	return keys, nil
}

// loadKeys reads every stored key, newest first.
func loadKeys(tx store.ReadTx) ([]Key, error) {
	var stored []storedKey
	err := tx.Scan(keyPrefix, nil, func(k, v []byte) (bool, error) {
		var sk storedKey
		if err := json.Unmarshal(v, &sk); err != nil {
			return false, fmt.Errorf("token: decode key %q: %w", k, err)
		}
		stored = append(stored, sk)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(stored, func(a, b storedKey) int {
		return cmp.Or(b.CreateTime.Compare(a.CreateTime), cmp.Compare(a.ID, b.ID))
	})
	keys := make([]Key, 0, len(stored))
	for _, sk := range stored {
		if len(sk.Seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("token: stored key %q has a %d-byte seed", sk.ID, len(sk.Seed))
		}
		k := newKey(ed25519.NewKeyFromSeed(sk.Seed))
		if k.ID != sk.ID {
			return nil, fmt.Errorf("token: stored key %q does not match its ID", sk.ID)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// putKey stores k, created at createTime.
func putKey(tx store.Tx, k Key, createTime time.Time) error {
	b, err := json.Marshal(storedKey{ID: k.ID, Seed: k.Private.Seed(), CreateTime: createTime.UTC()})
	if err != nil {
		return fmt.Errorf("token: encode key: %w", err)
	}
	return tx.Put(append(bytes.Clone(keyPrefix), k.ID...), b)
}
