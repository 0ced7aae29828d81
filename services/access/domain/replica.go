package domain

// Replicas (R32, issue 17). On a store that other replicas of access commit
// to (store.ChangeFeed: etcd), commit hooks would keep only the committing
// replica's model in step. There every replica's model, and the Mirror's
// robots, come from the store's own changes instead, in commit order: New
// takes the store's revision before loading, and FollowReplicas applies every
// commit after it, whichever replica made it, as load would read it. The
// applied sequences (access's log, the directory feed's cursor) advance from
// the same changes, so a write's sequence is a consistency token on every
// replica; a write returns once its own replica's model shows it.

import (
	"bytes"
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	accessv1 "steward.dev/gen/steward/access/v1"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store"
	"steward.dev/services/access/authorizer"
)

// replica is the state of a Service on a shared store.
type replica struct {
	changes store.ChangeFeed
	from    int64 // the store's revision before New loaded the model
	// directory is the directory feed's cursor as the model reflects it.
	directory appliedSeq
}

// DirectoryFeedName is the consumer name of access's directory feed: its
// cursor is kept under it.
const DirectoryFeedName = "access-directory"

// newReplica returns the replica state of a Service on the shared store st,
// before New loads the model: the directory feed's stored cursor first, then
// the store's revision, so that the cursor is no newer than what the load
// reads and every later change, the cursor's included, comes from
// FollowReplicas.
func newReplica(ctx context.Context, st store.Store, cf store.ChangeFeed) (*replica, error) {
	var cursor eventlog.Position
	if err := st.View(ctx, func(tx store.ReadTx) error {
		var err error
		cursor, err = eventlog.GetPosition(tx, DirectoryFeedName)
		return err
	}); err != nil {
		return nil, err
	}
	rev, err := cf.Revision(ctx)
	if err != nil {
		return nil, err
	}
	r := &replica{changes: cf, from: rev}
	r.directory.advance(cursor.Sequence)
	return r, nil
}

// Replicated reports whether the service shares its store with other
// replicas, and must then run FollowReplicas.
func (s *Service) Replicated() bool { return s.replica != nil }

// onModel registers fn, which brings the model (or the Mirror) in step with
// what t writes, to run when t commits; on a shared store FollowReplicas
// applies the commit instead, on every replica in the same order.
func (t *txn) onModel(fn func()) {
	if t.s.replica == nil {
		t.OnCommit(fn)
	}
}

// FollowReplicas applies the store's commits after New's load to the model
// until ctx is done. It fails when the store no longer keeps the changes since
// the load (the replica must restart and load again).
func (s *Service) FollowReplicas(ctx context.Context) error {
	if s.replica == nil {
		return nil
	}
	return s.replica.changes.Changes(ctx, nil, s.replica.from, func(_ int64, changes []store.Change) error {
		s.applyCommit(changes)
		return nil
	})
}

// applyCommit applies one commit's changes to the model, then advances the
// applied sequences: whoever waits for one of them sees the whole commit.
func (s *Service) applyCommit(changes []store.Change) {
	var seq, dir uint64
	for _, c := range changes {
		if n, ok := eventlog.EventSequenceOf(c.Key); ok && !c.Deleted {
			seq = max(seq, n)
			continue
		}
		if name, pos, ok := eventlog.CursorOf(c.Key, c.Value); ok && name == DirectoryFeedName {
			dir = max(dir, pos.Sequence)
			continue
		}
		if err := s.applyChange(c); err != nil {
			s.logger.Error("access: a stored change does not decode; the model skips it", "key", string(c.Key), "error", err)
		}
	}
	s.applied.advance(seq)
	s.replica.directory.advance(dir)
}

// applyChange applies one changed key to the model or the Mirror, as load
// reads it; keys the model does not hold are ignored.
func (s *Service) applyChange(c store.Change) error {
	k := c.Key
	name := func(prefix string) string { return string(k[len(prefix):]) }
	switch {
	case bytes.HasPrefix(k, []byte(rolePrefix)):
		if c.Deleted {
			_ = s.model.DeleteRole(name(rolePrefix))
			return nil
		}
		r := &accessv1.Role{}
		if err := proto.Unmarshal(c.Value, r); err != nil {
			return err
		}
		return s.model.UpsertRole(catalogueRole(r))
	case bytes.HasPrefix(k, []byte(assignmentPrefix)):
		if c.Deleted {
			s.model.DeleteAssignment(name(assignmentPrefix))
			return nil
		}
		a, err := decodeModelFields(c.Value)
		if err != nil {
			return err
		}
		return s.model.UpsertAssignment(authorizer.Assignment{
			ID: name(assignmentPrefix), Principal: string(a.principal), Scope: string(a.scope), BuiltIn: a.builtIn,
			Role: string(bytes.TrimPrefix(a.role, []byte(BuiltInRolePrefix))),
		})
	case bytes.HasPrefix(k, []byte(dirScopePrefix)):
		if c.Deleted {
			s.model.DeleteScope(name(dirScopePrefix))
			return nil
		}
		sc, err := storedScope(k, c.Value)
		if err != nil {
			return err
		}
		_ = s.model.UpsertScope(sc)
	case bytes.HasPrefix(k, []byte(dirPrincipalPrefix)):
		if c.Deleted {
			s.model.DeletePrincipal(name(dirPrincipalPrefix))
			return nil
		}
		p, err := storedPrincipal(k, c.Value)
		if err != nil {
			return err
		}
		_ = s.model.UpsertPrincipal(p)
	case bytes.HasPrefix(k, []byte(dirMemberPrefix)):
		group, member, ok := bytes.Cut(k[len(dirMemberPrefix):], []byte("|"))
		if !ok {
			return fmt.Errorf("malformed membership key")
		}
		ms := authorizer.Membership{Group: string(group), Member: string(member)}
		if c.Deleted {
			s.model.DeleteMembership(ms)
			return nil
		}
		_ = s.model.UpsertMembership(ms)
	case bytes.HasPrefix(k, []byte(dirRobotPrefix)):
		if c.Deleted {
			s.Mirror().deleteRobot(name(dirRobotPrefix))
			return nil
		}
		r, err := storedRobot(k, c.Value)
		if err != nil {
			return err
		}
		s.Mirror().putRobot(r)
	case bytes.HasPrefix(k, []byte(dirAPIKeyPrefix)):
		if c.Deleted {
			s.model.DeleteAPIKey(name(dirAPIKeyPrefix))
			return nil
		}
		key, err := storedAPIKey(k, c.Value)
		if err != nil {
			return err
		}
		return s.model.UpsertAPIKey(key)
	}
	return nil
}
