package token

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"steward.dev/pkg/accesstoken"
	"steward.dev/pkg/store"
	"steward.dev/pkg/store/bboltstore"
)

const ttl = 15 * time.Minute

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func openStore(t *testing.T) *bboltstore.Store {
	t.Helper()
	s, err := bboltstore.Open(filepath.Join(t.TempDir(), "directory.db"), bboltstore.Options{NoSync: true})
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

func storedIDs(t *testing.T, s store.Store) []string {
	t.Helper()
	var ids []string
	err := s.View(context.Background(), func(tx store.ReadTx) error {
		keys, err := loadKeys(tx)
		for _, k := range keys {
			ids = append(ids, k.ID)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func ids(keys []accesstoken.Key) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.ID
	}
	return out
}

func load(t *testing.T, s store.Store, now time.Time) Ring {
	t.Helper()
	r, err := Load(context.Background(), s, now, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func rotate(t *testing.T, s store.Store, now time.Time) Ring {
	t.Helper()
	var r Ring
	err := s.Update(context.Background(), func(tx store.Tx) error {
		var err error
		r, err = Rotate(tx, now, ttl)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestLoad: the first Load creates a signing key and a next key, published
// ahead of use; later Loads return them unchanged, also when concurrent.
func TestLoad(t *testing.T) {
	s := openStore(t)
	var rings [8]Ring
	var wg sync.WaitGroup
	for i := range rings {
		wg.Go(func() {
			r, err := Load(context.Background(), s, t0, ttl)
			if err != nil {
				t.Error(err)
			}
			rings[i] = r
		})
	}
	wg.Wait()
	for _, r := range rings {
		if r.Signing.ID != rings[0].Signing.ID || r.Next.ID != rings[0].Next.ID {
			t.Fatalf("concurrent Loads disagree: %v, %v", ids(r.Keys()), ids(rings[0].Keys()))
		}
	}
	r := rings[0]
	if r.Signing.ID == r.Next.ID || len(r.Retired) != 0 || !r.SigningSince.Equal(t0) {
		t.Errorf("ring = %v since %v; want a signing and a distinct next key since %v", ids(r.Keys()), r.SigningSince, t0)
	}
	if got := storedIDs(t, s); len(got) != 2 {
		t.Errorf("stored keys = %v, want 2", got)
	}
	if again := load(t, s, t0.Add(time.Hour)); again.Signing.ID != r.Signing.ID || again.Next.ID != r.Next.ID {
		t.Errorf("second Load = %v, want %v", ids(again.Keys()), ids(r.Keys()))
	}
	if _, err := r.Signer(accesstoken.Issuer, accesstoken.Audience); err != nil {
		t.Errorf("Signer: %v", err)
	}
}

// TestRotate (issue 9 item 9): a rotation makes the published next key the
// signing key, keeps the old signing key until its last token has expired,
// and publishes a new next key; retired keys are dropped after that.
func TestRotate(t *testing.T) {
	s := openStore(t)
	r0 := load(t, s, t0)
	r1 := rotate(t, s, t0.Add(time.Minute))
	r2 := rotate(t, s, t0.Add(2*time.Minute))
	for _, tc := range []struct {
		name    string
		ring    Ring
		signing string
		retired []string
		earlier []accesstoken.Key
	}{
		{"first rotation", r1, r0.Next.ID, []string{r0.Signing.ID}, r0.Keys()},
		{"second rotation", r2, r1.Next.ID, []string{r1.Signing.ID, r0.Signing.ID}, r1.Keys()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.ring.Signing.ID != tc.signing {
				t.Errorf("signing key = %s, want the previous next key %s", tc.ring.Signing.ID, tc.signing)
			}
			if got := ids(tc.ring.Retired); strings.Join(got, ",") != strings.Join(tc.retired, ",") {
				t.Errorf("retired = %v, want %v", got, tc.retired)
			}
			for _, k := range tc.earlier {
				if tc.ring.Next.ID == k.ID {
					t.Errorf("next key %s is not new", k.ID)
				}
			}
		})
	}
	// Tokens signed before a rotation verify after it.
	before, _ := r0.Signer(accesstoken.Issuer, accesstoken.Audience)
	raw, err := before.Sign(accesstoken.Claims{Subject: "organizations/o/users/u", Kind: accesstoken.KindUser, IssuedAt: t0, Expiry: t0.Add(ttl)})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := r2.Signer(accesstoken.Issuer, accesstoken.Audience)
	if _, err := after.Verify(raw, t0.Add(3*time.Minute)); err != nil {
		t.Errorf("token of a retired key after two rotations: %v", err)
	}

	// A retired key stays until rotation time + TTL + margin, then goes.
	for _, tc := range []struct {
		at      time.Time
		retired int
	}{
		{t0.Add(time.Minute + ttl + RetireMargin - time.Second), 2},
		{t0.Add(time.Minute + ttl + RetireMargin), 1},
		{t0.Add(2*time.Minute + ttl + RetireMargin), 0},
	} {
		var r Ring
		var changed bool
		err := s.Update(context.Background(), func(tx store.Tx) error {
			var err error
			r, changed, err = Maintain(tx, tc.at, ttl)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Retired) != tc.retired || changed != (tc.retired < 2) {
			t.Errorf("Maintain at %v: retired %v, changed %v; want %d retired", tc.at, ids(r.Retired), changed, tc.retired)
		}
		if r.Signing.ID != r2.Signing.ID || r.Next.ID != r2.Next.ID {
			t.Errorf("Maintain changed the signing or next key")
		}
	}
	if got := storedIDs(t, s); len(got) != 2 {
		t.Errorf("stored keys after the drops = %v, want 2", got)
	}
}

// TestLoadLegacy: keys stored before rotation existed (no sign or drop
// time) are taken over: the newest signs, older ones are retired from
// their successor's creation and dropped once that is past.
func TestLoadLegacy(t *testing.T) {
	s := openStore(t)
	old, err := newStoredKey(t0)
	if err != nil {
		t.Fatal(err)
	}
	newer, err := newStoredKey(t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(context.Background(), func(tx store.Tx) error {
		if err := tx.Put(storeKey(old.ID), []byte(`{"id":"`+old.ID+`","seed":"`+b64(old.Seed)+`","create_time":"2026-01-01T00:00:00Z"}`)); err != nil {
			return err
		}
		return tx.Put(storeKey(newer.ID), []byte(`{"id":"`+newer.ID+`","seed":"`+b64(newer.Seed)+`","create_time":"2026-01-01T01:00:00Z"}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	r := load(t, s, t0.Add(time.Hour+time.Minute))
	if r.Signing.ID != newer.ID || len(r.Retired) != 1 || r.Retired[0].ID != old.ID || r.Next.ID == "" {
		t.Errorf("ring = signing %s, retired %v, next %s; want signing %s, retired [%s]", r.Signing.ID, ids(r.Retired), r.Next.ID, newer.ID, old.ID)
	}
	r = load(t, s, t0.Add(2*time.Hour))
	if len(r.Retired) != 0 {
		t.Errorf("retired after the drop time = %v", ids(r.Retired))
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestLoadCorrupt(t *testing.T) {
	k := accesstoken.NewKey(ed25519.NewKeyFromSeed(make([]byte, 32)))
	for _, tc := range []struct {
		name  string
		value string
	}{
		{"not JSON", "{"},
		{"short seed", `{"id":"` + k.ID + `","seed":"AAAA","create_time":"2026-01-01T00:00:00Z"}`},
		{"ID mismatch", `{"id":"0000000000000000","seed":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=","create_time":"2026-01-01T00:00:00Z"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t)
			err := s.Update(context.Background(), func(tx store.Tx) error {
				return tx.Put([]byte("token/keys/x"), []byte(tc.value))
			})
			if err != nil {
				t.Fatal(err)
			}
			if r, err := Load(context.Background(), s, t0, ttl); err == nil {
				t.Errorf("Load = %v, want error", ids(r.Keys()))
			}
		})
	}
}
