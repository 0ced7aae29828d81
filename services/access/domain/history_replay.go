package domain

// The history's replay: the events of both logs after a base, up to a
// moment, merged by commit time and applied to a model of the past.

import (
	"context"
	"errors"
	"fmt"
	"time"

	accessv1 "steward.dev/gen/steward/access/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/eventlog"
	"steward.dev/services/access/authorizer"
	"steward.dev/services/access/catalogue"
)

// historyReadBatch is how many access events one read of the log returns.
const historyReadBatch = 1024

// historyState is a model of the past with the custom roles it holds
// (which the base persists whole: the model keeps only their permissions).
type historyState struct {
	model *authorizer.Model
	roles map[string]catalogue.Role
}

// timedFact is a directory event's fact and commit time.
type timedFact struct {
	time time.Time
	fact directoryFact
}

// historyEvents are the events after a base up to a moment, each log's in
// sequence order, and the last sequence of each they reach (the base's when
// none).
type historyEvents struct {
	accessEvents      []*eventlogv1.Event
	directoryFacts    []timedFact
	access, directory uint64
}

// errPassed ends a directory Watch that passed the moment.
var errPassed = errors.New("domain: history: past the moment")

// collect reads the events after base up to the moment m: access's from its
// log, the directory's from the feed's Source up to the head it has now.
func (s *Service) collect(ctx context.Context, base historyBase, m historyMoment) (historyEvents, error) {
	evs := historyEvents{access: base.Access.Sequence, directory: base.Directory.Sequence}
	if err := s.collectAccess(ctx, m, &evs); err != nil {
		return evs, err
	}
	return evs, s.collectDirectory(ctx, base.Directory, m, &evs)
}

// collectAccess reads access's events after evs.access up to m.
func (s *Service) collectAccess(ctx context.Context, m historyMoment, evs *historyEvents) error {
	for {
		page, err := s.log.Read(ctx, evs.access, historyReadBatch)
		if err != nil {
			return fmt.Errorf("domain: history: reading access's log: %w", err)
		}
		for _, ev := range page {
			if (m.seq != 0 && ev.GetSequence() > m.seq) || ev.GetTime().AsTime().After(m.time) {
				return nil
			}
			evs.accessEvents = append(evs.accessEvents, ev)
			evs.access = ev.GetSequence()
		}
		if len(page) < historyReadBatch {
			return nil
		}
	}
}

// collectDirectory reads the directory's events after from up to m's time,
// and no further than the head the directory has when asked.
func (s *Service) collectDirectory(ctx context.Context, from eventlog.Position, m historyMoment, evs *historyEvents) error {
	src := s.directorySource()
	if src == nil {
		return nil
	}
	head, err := src.HeadPosition(ctx)
	if err != nil {
		return fmt.Errorf("domain: history: the directory's head: %w", err)
	}
	if head.Sequence <= from.Sequence {
		if head.Sequence < from.Sequence || (from.LogID != "" && head.LogID != from.LogID) {
			return &eventlog.ResetError{Source: "directory", Position: from, LogID: head.LogID, Head: head.Sequence}
		}
		return nil
	}
	err = src.Watch(ctx, eventlog.Subscription{From: from}, func(ev *eventlogv1.Event) error {
		if ev.GetTime().AsTime().After(m.time) {
			return errPassed
		}
		f, err := decodeDirectoryEvent(ev)
		if err != nil {
			return err
		}
		if f.op != factNone {
			evs.directoryFacts = append(evs.directoryFacts, timedFact{time: ev.GetTime().AsTime(), fact: f})
		}
		evs.directory = ev.GetSequence()
		if evs.directory >= head.Sequence {
			return errPassed
		}
		return nil
	})
	if errors.Is(err, errPassed) {
		return nil
	}
	return fmt.Errorf("domain: history: reading the directory's log: %w", err)
}

// directorySource returns the Source the directory feed follows, nil
// without a feed.
func (s *Service) directorySource() eventlog.Source {
	if s.feed == nil {
		return nil
	}
	return s.feed.Source
}

// replay applies evs to st, the two logs merged by commit time (access's
// first at equal times).
func (st *historyState) replay(evs historyEvents) {
	acc, dir := evs.accessEvents, evs.directoryFacts
	for len(acc) > 0 || len(dir) > 0 {
		if len(dir) == 0 || (len(acc) > 0 && !dir[0].time.Before(acc[0].GetTime().AsTime())) {
			st.applyAccess(acc[0])
			acc = acc[1:]
			continue
		}
		applyFact(st.model, dir[0].fact)
		dir = dir[1:]
	}
}

// applyAccess applies one of access's own events: the role assignments and
// custom roles it changes. The others (robot usage scopes, exports,
// refusals) do not touch the model; data that does not decode is skipped,
// as the live model skips what it refuses.
func (st *historyState) applyAccess(ev *eventlogv1.Event) {
	switch ev.GetType() {
	case TypeRoleAssignmentCreated:
		a := &accessv1.RoleAssignment{}
		if ev.GetData().UnmarshalTo(a) == nil {
			if a.GetName() == "" {
				a.Name = ev.GetResource()
			}
			_ = st.model.UpsertAssignment(modelAssignment(a))
		}
	case TypeRoleAssignmentDeleted:
		st.model.DeleteAssignment(ev.GetResource())
	case TypeRoleCreated, TypeRoleUpdated:
		r := &accessv1.Role{}
		if ev.GetData().UnmarshalTo(r) == nil {
			cr := catalogueRole(r)
			if st.model.UpsertRole(cr) == nil {
				st.roles[cr.ID] = cr
			}
		}
	case TypeRoleDeleted:
		_ = st.model.DeleteRole(ev.GetResource())
		delete(st.roles, ev.GetResource())
	}
}
