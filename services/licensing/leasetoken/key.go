package leasetoken

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"steward.dev/pkg/accesstoken"
	"steward.dev/pkg/store"
)

// StoreKey is the store key of the lease-signing key in the licensing
// service's store: one JSON record holding its ID and Ed25519 seed.
const StoreKey = "leasetoken/key"

// storedKey is the stored form of the lease-signing key. Seed is the 32-byte
// Ed25519 seed, base64 in JSON.
type storedKey struct {
	ID         string    `json:"id"`
	Seed       []byte    `json:"seed"`
	CreateTime time.Time `json:"create_time"`
}

// LoadKey returns the licensing service's lease-signing key stored in s,
// creating it (from crypto/rand) in one transaction on first use; a second
// call, concurrent or after a restart, returns the same key. A stored key
// that does not decode, or whose seed does not match its ID, is an error
// and is left as it is.
func LoadKey(ctx context.Context, s store.Store) (accesstoken.Key, error) {
	var key accesstoken.Key
	err := s.Update(ctx, func(tx store.Tx) error {
		b, err := tx.Get([]byte(StoreKey))
		if err == nil {
			key, err = decodeKey(b)
			return err
		}
		if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("leasetoken: load key: %w", err)
		}
		k, err := accesstoken.GenerateKey()
		if err != nil {
			return fmt.Errorf("leasetoken: %w", err)
		}
		b, err = json.Marshal(storedKey{ID: k.ID, Seed: k.Private.Seed(), CreateTime: time.Now().UTC()})
		if err != nil {
			return fmt.Errorf("leasetoken: encode key: %w", err)
		}
		if err := tx.Put([]byte(StoreKey), b); err != nil {
			return fmt.Errorf("leasetoken: store key: %w", err)
		}
		key = k
		return nil
	})
	if err != nil {
		return accesstoken.Key{}, err
	}
	return key, nil
}

// decodeKey returns the key stored as b, checking that its seed makes its ID.
func decodeKey(b []byte) (accesstoken.Key, error) {
	var sk storedKey
	if err := json.Unmarshal(b, &sk); err != nil {
		return accesstoken.Key{}, fmt.Errorf("leasetoken: decode stored key: %w", err)
	}
	if len(sk.Seed) != ed25519.SeedSize {
		return accesstoken.Key{}, fmt.Errorf("leasetoken: stored key %q has a %d-byte seed", sk.ID, len(sk.Seed))
	}
	k := accesstoken.NewKey(ed25519.NewKeyFromSeed(sk.Seed))
	if k.ID != sk.ID {
		return accesstoken.Key{}, fmt.Errorf("leasetoken: stored key %q does not match its seed (key %q)", sk.ID, k.ID)
	}
	return k, nil
}
