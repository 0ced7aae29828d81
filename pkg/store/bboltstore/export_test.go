package bboltstore

import "steward.dev/pkg/store"

// Queued returns how many Update calls wait for the committer.
func (s *Store) Queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// TxID returns the ID of the bbolt transaction t belongs to.
func TxID(t store.Tx) int { return t.(*tx).btx.ID() }
