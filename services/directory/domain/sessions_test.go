package domain_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store/bboltstore"
	"steward.dev/services/directory/domain"
)

// TestRotateSigningKeysIfDue (issue 9 item 9): the scheduled upkeep
// rotates the keys once the signing key has signed for the rotation
// interval, not before, and never when rotation is off; each rotation
// publishes one more key until the retired ones expire.
func TestRotateSigningKeysIfDue(t *testing.T) {
	ctx := context.Background()
	st, err := bboltstore.Open(filepath.Join(t.TempDir(), "directory.db"), bboltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	log, err := eventlog.New(st, "directory", eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = log.Close() })
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	const ttl = 15 * time.Minute
	d, err := domain.New(ctx, st, log, domain.Options{Clock: func() time.Time { return now }, TokenTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	const every = 24 * time.Hour
	for _, tc := range []struct {
		name    string
		at      time.Time
		every   time.Duration
		rotated bool
		keys    int
	}{
		{"at start", t0, every, false, 2},
		{"just before the interval", t0.Add(every - time.Second), every, false, 2},
		{"rotation off", t0.Add(every), 0, false, 2},
		{"at the interval", t0.Add(every), every, true, 3},
		{"again at once", t0.Add(every), every, false, 3},
		{"retired key expired", t0.Add(every + ttl + time.Minute), every, false, 2},
		{"next interval", t0.Add(2 * every), every, true, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now = tc.at
			at, err := d.RotateSigningKeysIfDue(ctx, tc.every)
			if err != nil {
				t.Fatal(err)
			}
			if rotated := !at.IsZero(); rotated != tc.rotated || (rotated && !at.Equal(tc.at)) {
				t.Errorf("rotated at %v, want rotated %v", at, tc.rotated)
			}
			if n := len(d.JWKS()); n != tc.keys {
				t.Errorf("JWKS has %d keys, want %d", n, tc.keys)
			}
		})
	}
}
