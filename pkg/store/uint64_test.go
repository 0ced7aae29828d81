package store_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"steward.dev/pkg/store"
	"steward.dev/pkg/store/bboltstore"
)

// TestUint64: an absent number is 0, a stored one reads back, and a value
// of another length is an error naming the key.
func TestUint64(t *testing.T) {
	st, err := bboltstore.Open(filepath.Join(t.TempDir(), "s.db"), bboltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	err = st.Update(ctx, func(tx store.Tx) error {
		if n, err := store.GetUint64(tx, []byte("n")); n != 0 || err != nil {
			t.Errorf("absent: %d, %v", n, err)
		}
		if err := store.PutUint64(tx, []byte("n"), 1<<40+7); err != nil {
			return err
		}
		if n, err := store.GetUint64(tx, []byte("n")); n != 1<<40+7 || err != nil {
			t.Errorf("stored: %d, %v", n, err)
		}
		if err := tx.Put([]byte("bad"), []byte("abc")); err != nil {
			return err
		}
		if _, err := store.GetUint64(tx, []byte("bad")); err == nil || !strings.Contains(err.Error(), `"bad"`) {
			t.Errorf("malformed: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
