// Package token keeps the directory's access-token signing keys in its store
// and rotates them. The token format (signing, verification, JWKS) is
// pkg/accesstoken, shared with the services that verify tokens.
//
// The keys form a Ring: the key that signs, the next key, published in the
// JWKS ahead of its use so that verifiers already hold it when it starts
// signing, and retired keys, kept (and published) until the last token they
// signed has expired. Rotate makes the next key the signing key, retires the
// signing key and creates a new next key.
package token

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"steward.dev/pkg/accesstoken"
	"steward.dev/pkg/store"
)

// keyPrefix is the store key range of signing keys: keyPrefix + key ID.
var keyPrefix = []byte("token/keys/")

// RetireMargin is added to the token lifetime to get how long a retired key
// stays: it covers a token signed while the rotation committed.
const RetireMargin = time.Minute

// storedKey is the stored form of a key. Seed is the 32-byte Ed25519 seed,
// base64 in JSON. Keys stored before rotation existed have neither SignTime
// nor DropTime.
type storedKey struct {
	ID         string    `json:"id"`
	Seed       []byte    `json:"seed"`
	CreateTime time.Time `json:"create_time"`
	// SignTime is when the key started signing; zero for the next key.
	SignTime time.Time `json:"sign_time,omitzero"`
	// DropTime is when a retired key goes, its last token expired; zero
	// until it is retired.
	DropTime time.Time `json:"drop_time,omitzero"`
}

// Ring is the set of signing keys at one moment.
type Ring struct {
	// Signing signs new tokens.
	Signing accesstoken.Key
	// SigningSince is when Signing started signing.
	SigningSince time.Time
	// Next is published ahead of its use: the next rotation makes it the
	// signing key.
	Next accesstoken.Key
	// Retired keys still verify the tokens they signed, until their drop
	// time; the most recently retired first.
	Retired []accesstoken.Key
}

// Keys returns the ring's keys, signing key first, for accesstoken.NewSigner.
func (r Ring) Keys() []accesstoken.Key {
	return append([]accesstoken.Key{r.Signing, r.Next}, r.Retired...)
}

// Signer returns the accesstoken.Signer of the ring.
func (r Ring) Signer(issuer, audience string) (*accesstoken.Signer, error) {
	return accesstoken.NewSigner(issuer, audience, r.Keys()...)
}

// Load returns the ring stored in s at now, running Maintain's upkeep first
// when the stored keys need it: the first call on an empty store creates
// the signing and next keys, keys stored before rotation existed get their
// times, and retired keys past their drop time go.
func Load(ctx context.Context, s store.Store, now time.Time, tokenTTL time.Duration) (Ring, error) {
	var ring Ring
	err := s.View(ctx, func(tx store.ReadTx) error {
		keys, err := loadKeys(tx)
		if err != nil {
			return err
		}
		var ok bool
		ring, ok = ringOf(keys, now)
		if !ok {
			return errNeedsUpkeep
		}
		return nil
	})
	if !errors.Is(err, errNeedsUpkeep) {
		return ring, err
	}
	err = s.Update(ctx, func(tx store.Tx) error {
		var err error
		ring, _, err = Maintain(tx, now, tokenTTL)
		return err
	})
	return ring, err
}

// errNeedsUpkeep says that the stored keys need Maintain before use.
var errNeedsUpkeep = errors.New("token: stored keys need upkeep")

// Maintain brings the stored keys in tx into shape at now and returns the
// ring: it creates the signing and next keys when missing, gives keys
// stored before rotation existed their times (the newest signs, the others
// are retired), and deletes retired keys past their drop time. changed
// reports whether it wrote anything.
func Maintain(tx store.Tx, now time.Time, tokenTTL time.Duration) (ring Ring, changed bool, err error) {
	keys, err := loadKeys(tx)
	if err != nil {
		return Ring{}, false, err
	}
	var signing, next *storedKey
	for i := range keys {
		switch k := &keys[i]; {
		case k.SignTime.IsZero() && k.DropTime.IsZero() && next == nil && hasSigningTimes(keys):
			next = k
		case !k.SignTime.IsZero() && k.DropTime.IsZero() && signing == nil:
			signing = k
		}
	}
	if signing == nil && !hasSigningTimes(keys) && len(keys) > 0 {
		// Keys stored before rotation existed: the newest signs; the
		// others were retired when their successor was created.
		for i := range keys {
			k := &keys[i]
			if i == 0 {
				k.SignTime = k.CreateTime
				signing = k
			} else {
				k.DropTime = keys[i-1].CreateTime.Add(tokenTTL + RetireMargin)
			}
			if err := putKey(tx, *k); err != nil {
				return Ring{}, false, err
			}
		}
		changed = true
	}
	if signing == nil {
		k, err := newStoredKey(now)
		if err != nil {
			return Ring{}, false, err
		}
		k.SignTime = now
		if err := putKey(tx, k); err != nil {
			return Ring{}, false, err
		}
		keys = append(keys, k)
		signing, changed = &keys[len(keys)-1], true
	}
	if next == nil {
		k, err := newStoredKey(now)
		if err != nil {
			return Ring{}, false, err
		}
		if err := putKey(tx, k); err != nil {
			return Ring{}, false, err
		}
		keys = append(keys, k)
		changed = true
	}
	var kept []storedKey
	for _, k := range keys {
		if !k.DropTime.IsZero() && !now.Before(k.DropTime) {
			if err := tx.Delete(storeKey(k.ID)); err != nil {
				return Ring{}, false, err
			}
			changed = true
			continue
		}
		kept = append(kept, k)
	}
	sortKeys(kept)
	ring, ok := ringOf(kept, now)
	if !ok {
		return Ring{}, false, errors.New("token: stored keys are inconsistent")
	}
	return ring, changed, nil
}

// hasSigningTimes reports whether any key has a sign time (the keys were
// stored with rotation).
func hasSigningTimes(keys []storedKey) bool {
	return slices.ContainsFunc(keys, func(k storedKey) bool { return !k.SignTime.IsZero() })
}

// Rotate makes the next key the signing key, retires the signing key (it
// stays until now + tokenTTL + RetireMargin, when the last token it signed
// has expired) and creates a new next key, in tx, after Maintain's upkeep.
// It returns the new ring.
func Rotate(tx store.Tx, now time.Time, tokenTTL time.Duration) (Ring, error) {
	if _, _, err := Maintain(tx, now, tokenTTL); err != nil {
		return Ring{}, err
	}
	keys, err := loadKeys(tx)
	if err != nil {
		return Ring{}, err
	}
	for _, k := range keys {
		switch {
		case !k.SignTime.IsZero() && k.DropTime.IsZero():
			k.DropTime = now.Add(tokenTTL + RetireMargin)
		case k.SignTime.IsZero() && k.DropTime.IsZero():
			k.SignTime = now
		default:
			continue
		}
		if err := putKey(tx, k); err != nil {
			return Ring{}, err
		}
	}
	next, err := newStoredKey(now)
	if err != nil {
		return Ring{}, err
	}
	if err := putKey(tx, next); err != nil {
		return Ring{}, err
	}
	ring, _, err := Maintain(tx, now, tokenTTL)
	return ring, err
}

// ringOf returns the ring of keys, and false when they do not make one: no
// signing or next key, more than one of either, or a key past its drop time.
func ringOf(keys []storedKey, now time.Time) (Ring, bool) {
	var ring Ring
	var signing, next int
	keys = slices.Clone(keys)
	slices.SortStableFunc(keys, func(a, b storedKey) int { return b.DropTime.Compare(a.DropTime) })
	for _, k := range keys {
		key := accesstoken.NewKey(ed25519.NewKeyFromSeed(k.Seed))
		switch {
		case k.SignTime.IsZero() && k.DropTime.IsZero():
			ring.Next = key
			next++
		case k.DropTime.IsZero():
			ring.Signing, ring.SigningSince = key, k.SignTime
			signing++
		case now.Before(k.DropTime):
			ring.Retired = append(ring.Retired, key)
		default:
			return Ring{}, false // past its drop time
		}
	}
	return ring, signing == 1 && next == 1
}

// newStoredKey returns a new random key created at now.
func newStoredKey(now time.Time) (storedKey, error) {
	k, err := accesstoken.GenerateKey()
	if err != nil {
		return storedKey{}, err
	}
	return storedKey{ID: k.ID, Seed: k.Private.Seed(), CreateTime: now.UTC()}, nil
}

// loadKeys reads every stored key, newest first.
func loadKeys(tx store.ReadTx) ([]storedKey, error) {
	var stored []storedKey
	err := tx.Scan(keyPrefix, nil, func(k, v []byte) (bool, error) {
		var sk storedKey
		if err := json.Unmarshal(v, &sk); err != nil {
			return false, fmt.Errorf("token: decode key %q: %w", k, err)
		}
		if len(sk.Seed) != ed25519.SeedSize {
			return false, fmt.Errorf("token: stored key %q has a %d-byte seed", sk.ID, len(sk.Seed))
		}
		if accesstoken.NewKey(ed25519.NewKeyFromSeed(sk.Seed)).ID != sk.ID {
			return false, fmt.Errorf("token: stored key %q does not match its ID", sk.ID)
		}
		stored = append(stored, sk)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	sortKeys(stored)
	return stored, nil
}

// sortKeys sorts keys newest first.
func sortKeys(keys []storedKey) {
	slices.SortFunc(keys, func(a, b storedKey) int {
		return cmp.Or(b.CreateTime.Compare(a.CreateTime), cmp.Compare(a.ID, b.ID))
	})
}

// putKey stores k.
func putKey(tx store.Tx, k storedKey) error {
	k.CreateTime, k.SignTime, k.DropTime = k.CreateTime.UTC(), k.SignTime.UTC(), k.DropTime.UTC()
	b, err := json.Marshal(k)
	if err != nil {
		return fmt.Errorf("token: encode key: %w", err)
	}
	return tx.Put(storeKey(k.ID), b)
}

// storeKey is the store key of key ID id.
func storeKey(id string) []byte { return append(bytes.Clone(keyPrefix), id...) }
