package domain

// The history's upkeep: the first base, rolling the base forward past the
// events older than the history's retention, and the acknowledgements that
// keep both logs' retention from deleting what the base has not absorbed.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	accessv1 "steward.dev/gen/steward/access/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store"
	"steward.dev/services/access/authorizer"
	"steward.dev/services/access/catalogue"
)

// Defaults of HistoryOptions.
const (
	// DefaultHistoryInterval is how often RunHistory rolls the base
	// forward.
	DefaultHistoryInterval = time.Hour
	// DefaultHistoryRetention is how far back the history answers: a
	// compliance reviewer needs months.
	DefaultHistoryRetention = 90 * 24 * time.Hour
)

// HistoryConsumer is the durable consumer under which the history
// acknowledges both logs up to its base.
const HistoryConsumer = "access-history"

// HistoryOptions tunes RunHistory.
type HistoryOptions struct {
	// Interval is how often the base is rolled forward; default
	// DefaultHistoryInterval.
	Interval time.Duration
	// Retention is how far back the history answers; default
	// DefaultHistoryRetention.
	Retention time.Duration
}

// RunHistory keeps the history's base (RollHistory) at once and then every
// opts.Interval, or sooner when a resync calls for a new base, until ctx is
// done; a failed round is logged and retried after a growing wait of at
// most a minute. It returns nil when ctx is done.
func (s *Service) RunHistory(ctx context.Context, opts HistoryOptions) error {
	if opts.Interval <= 0 {
		opts.Interval = DefaultHistoryInterval
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultHistoryRetention
	}
	retry := historyFirstRetry
	for {
		wait := opts.Interval
		if err := s.RollHistory(ctx, opts.Retention); err != nil && ctx.Err() == nil {
			wait = min(wait, retry)
			retry = min(2*retry, historyRetry)
			s.logger.Error("access: history: keeping the base failed; retrying", "error", err, "in", wait)
		} else {
			retry = historyFirstRetry
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		case <-s.history.kick:
			t.Stop()
		}
	}
}

// RunHistory retries a failed round after historyFirstRetry, doubling the
// wait up to historyRetry: the directory may not be up yet when access
// starts, and until the first base is written no as_of can be answered.
const (
	historyFirstRetry = 100 * time.Millisecond
	historyRetry      = time.Minute
)

// RollHistory makes the history's base if there is none (the empty model
// when both logs still hold their first event, else the current state),
// replaces it with the current state when a resync asked for it or the
// directory's log no longer holds what follows it, and otherwise folds into
// it the events committed before now - retention. Then it acknowledges
// both logs up to the base as HistoryConsumer.
func (s *Service) RollHistory(ctx context.Context, retention time.Duration) error {
	base, err := s.keptBase(ctx, retention)
	if err != nil {
		return err
	}
	if err := s.log.Acknowledge(ctx, HistoryConsumer, base.Access); err != nil {
		return fmt.Errorf("domain: history: acknowledging access's log: %w", err)
	}
	src := s.directorySource()
	if src == nil {
		return nil
	}
	pos := base.Directory
	if pos.LogID == "" && pos.Sequence == 0 {
		// The directory's log was empty (without an identity yet) when
		// the base was made: position 0 is that of whatever log it is now.
		head, err := src.HeadPosition(ctx)
		if err != nil {
			return fmt.Errorf("domain: history: the directory's log: %w", err)
		}
		if head.LogID == "" {
			return nil // still empty: nothing to hold back
		}
		pos.LogID = head.LogID
	}
	if err := src.Acknowledge(ctx, HistoryConsumer, pos); err != nil {
		return fmt.Errorf("domain: history: acknowledging the directory's log: %w", err)
	}
	return nil
}

// keptBase returns the base after this round's work on it.
func (s *Service) keptBase(ctx context.Context, retention time.Duration) (historyBase, error) {
	var base historyBase
	var ok, reset bool
	err := s.view(ctx, func(tx store.ReadTx) (err error) {
		if base, ok, err = getBaseMeta(tx); err != nil {
			return err
		}
		_, err = tx.Get([]byte(historyResetKey))
		reset = err == nil
		if errors.Is(err, store.ErrNotFound) {
			err = nil
		}
		return err
	})
	switch {
	case err != nil:
		return base, err
	case !ok:
		return s.firstBase(ctx)
	case reset:
		return s.resetBase(ctx, "access resynced from the directory's snapshot")
	}
	base, err = s.foldBase(ctx, base, s.clock().Add(-retention))
	if errors.Is(err, eventlog.ErrFellBehind) || errors.Is(err, eventlog.ErrReset) {
		return s.resetBase(ctx, err.Error())
	}
	return base, err
}

// firstBase writes the first base: the empty model at the logs' first
// positions when both still hold their first event, else the current
// state.
func (s *Service) firstBase(ctx context.Context) (historyBase, error) {
	full, err := s.fullHistory(ctx)
	if err != nil {
		return historyBase{}, err
	}
	if !full {
		return s.resetBase(ctx, "a log no longer holds its first event")
	}
	id, err := s.log.ID(ctx)
	if err != nil {
		return historyBase{}, err
	}
	b := historyBase{Access: eventlog.Position{LogID: id}}
	if src := s.directorySource(); src != nil {
		head, err := src.HeadPosition(ctx)
		if err != nil {
			return historyBase{}, err
		}
		b.Directory.LogID = head.LogID
	}
	s.logger.Info("access: history: the base is the empty model: the history goes back to the first events")
	return s.writeBase(ctx, b, &historyState{model: authorizer.New(authorizer.Sizes{}), roles: map[string]catalogue.Role{}}, false)
}

// fullHistory reports whether both logs still hold their first event
// (retention never deleted any).
func (s *Service) fullHistory(ctx context.Context) (bool, error) {
	horizon, err := s.log.Horizon(ctx)
	if err != nil || horizon > 0 {
		return false, err
	}
	src := s.directorySource()
	if src == nil {
		return true, nil
	}
	head, err := src.HeadPosition(ctx)
	if err != nil || head.Sequence == 0 {
		return err == nil, err
	}
	err = src.Watch(ctx, eventlog.Subscription{From: eventlog.Position{LogID: head.LogID}}, func(*eventlogv1.Event) error { return errPassed })
	switch {
	case errors.Is(err, errPassed):
		return true, nil
	case errors.Is(err, eventlog.ErrFellBehind):
		return false, nil
	}
	return false, err
}

// resetBase replaces the base with the current state at the current
// positions, saying why in a log line: the moments before are no longer
// available. It holds the writer lock while it reads the model, so that
// the positions and the model agree.
func (s *Service) resetBase(ctx context.Context, why string) (historyBase, error) {
	unlock, err := s.lockWriter(ctx)
	if err != nil {
		return historyBase{}, err
	}
	b := historyBase{Time: s.clock()}
	st := &historyState{model: s.model, roles: map[string]catalogue.Role{}}
	err = s.view(ctx, func(tx store.ReadTx) error {
		if b.Access, err = eventlog.PositionTx(tx); err != nil {
			return err
		}
		if s.feed != nil {
			if b.Directory, err = eventlog.GetPosition(tx, s.feed.Name); err != nil {
				return err
			}
		}
		return storedRoles(tx, st.roles)
	})
	if err != nil {
		unlock()
		return b, err
	}
	chunks, sizes, err := encodeBase(st)
	unlock()
	if err != nil {
		return b, err
	}
	b, err = s.storeBase(ctx, b, chunks, sizes, true)
	if err == nil {
		s.logger.Warn("access: history: the base restarts from the current state; earlier moments are no longer available",
			"reason", why, "earliest", b.Time, "access_sequence", b.Access.Sequence, "directory_sequence", b.Directory.Sequence)
	}
	return b, err
}

// storedRoles reads the stored custom roles into roles.
func storedRoles(tx store.ReadTx, roles map[string]catalogue.Role) error {
	return tx.Scan([]byte(rolePrefix), nil, func(k, v []byte) (bool, error) {
		r, err := decodeRole(k, v)
		if err != nil {
			return false, err
		}
		roles[r.ID] = r
		return true, nil
	})
}

// decodeRole decodes the custom role stored at key k.
func decodeRole(k, v []byte) (catalogue.Role, error) {
	r := &accessv1.Role{}
	if err := proto.Unmarshal(v, r); err != nil {
		return catalogue.Role{}, fmt.Errorf("domain: stored role %q: %w", k, err)
	}
	return catalogueRole(r), nil
}

// foldBase folds into base the events committed up to cutoff and stores
// the result; a base at or past cutoff is kept as it is.
func (s *Service) foldBase(ctx context.Context, base historyBase, cutoff time.Time) (historyBase, error) {
	if !cutoff.After(base.Time) {
		return base, nil
	}
	evs, err := s.collect(ctx, base, historyMoment{time: cutoff})
	if err != nil {
		return base, err
	}
	st, err := s.loadBase(ctx, base)
	if err != nil {
		return base, err
	}
	st.replay(evs)
	base.Access.Sequence, base.Directory.Sequence, base.Time = evs.access, evs.directory, cutoff
	return s.writeBase(ctx, base, st, false)
}
