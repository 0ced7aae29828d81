package store

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// GetUint64 returns the number stored at key as 8 bytes big-endian (a
// count, a generation), 0 when the key is absent; a value of another
// length is an error naming the key.
func GetUint64(tx ReadTx, key []byte) (uint64, error) {
	b, err := tx.Get(key)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("store: the number at %q is %d bytes, want 8", key, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

// PutUint64 stores n at key as 8 bytes big-endian (read by GetUint64).
func PutUint64(tx Tx, key []byte, n uint64) error {
	return tx.Put(key, binary.BigEndian.AppendUint64(nil, n))
}
