package domain

// The history of access (issue 14, R13–R16 asked of the past): the model
// as it stood at a past moment, for a compliance reviewer asking "who could
// do this last March".
//
// Design. Access keeps a base snapshot: the model (scopes, principals,
// memberships, assignments, API keys, with the custom roles) at positions
// (access sequence A, directory sequence D) and time T0, persisted in its
// own store under "history/" (history_base.go: a version byte, then a
// compress/flate stream of length-prefixed records, cut into chunks of at
// most 1 MiB). ModelAt restores the base into a fresh model with the bulk
// authorizer.Loader and replays, in commit-time order, the access events
// after A and the directory events after D up to the moment
// (history_replay.go): access's own log is read directly, the directory's
// through the Source of the directory feed's consumer, and a directory
// event changes the model through applyFact, the mapping the live feed
// uses. The last few rebuilt models are cached by the positions they
// reflect. At first start the base is the empty model at (0, 0) when both
// logs still hold their first event (full history), otherwise the current
// state at the current positions (Earliest: that moment). RollHistory
// (history_roll.go), run every hour, folds the events older than the
// history's retention into the base and then acknowledges both logs up to
// the base as the durable consumer "access-history", so their retention
// never deletes what the base has not absorbed; when the directory's log
// no longer holds what follows the base (hard bounds, another log) or
// access resynced from the directory's snapshot, the base restarts from
// the current state, said in a log line.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"steward.dev/services/access/authorizer"
)

// AsOf names a past moment; exactly one field is set.
type AsOf struct {
	// Time is the state at this time: every access event and every
	// directory event committed at or before it.
	Time time.Time
	// Sequence is the state just after the access event with this
	// sequence committed: every access event up to it and every directory
	// event committed at or before its time.
	Sequence uint64
}

// HistoryPoint is the moment a model of the past reflects.
type HistoryPoint struct {
	// Time is the moment: the asked time, or the time of the asked access
	// event.
	Time time.Time
	// Sequence and DirectorySequence are the last access and directory
	// events the model reflects.
	Sequence, DirectorySequence uint64
}

// ErrHistoryUnavailable is matched (errors.Is) by *HistoryUnavailableError.
var ErrHistoryUnavailable = errors.New("history unavailable")

// HistoryUnavailableError says that a moment lies before what access can
// rebuild. It matches ErrHistoryUnavailable.
type HistoryUnavailableError struct {
	// Earliest is the earliest moment access can rebuild; zero when it can
	// rebuild none (the history has no base yet).
	Earliest time.Time
}

// Error implements error.
func (e *HistoryUnavailableError) Error() string {
	if e.Earliest.IsZero() {
		return "no history of access is available yet"
	}
	return "the history of access starts at " + e.Earliest.UTC().Format(time.RFC3339Nano)
}

// Is reports whether target is ErrHistoryUnavailable.
func (e *HistoryUnavailableError) Is(target error) bool { return target == ErrHistoryUnavailable }

// Metadata returns the ErrorInfo metadata: "earliest" (RFC 3339), absent
// when no history is available.
func (e *HistoryUnavailableError) Metadata() map[string]string {
	if e.Earliest.IsZero() {
		return map[string]string{}
	}
	return map[string]string{"earliest": e.Earliest.UTC().Format(time.RFC3339Nano)}
}

// historyCacheSize is how many rebuilt models ModelAt keeps.
const historyCacheSize = 4

// history is the Service's state about its history: the cache of rebuilt
// models and the wake-up of RunHistory.
type history struct {
	mu    sync.Mutex
	cache []cachedModel // least recently used first; h.mu must be held
	// kick wakes RunHistory early (a resync calls for a new base).
	kick chan struct{}
}

// newHistory returns an empty history state.
func newHistory() *history { return &history{kick: make(chan struct{}, 1)} }

// cachedModel is a rebuilt model and what it reflects.
type cachedModel struct {
	key   historyKey
	model *authorizer.Model
}

// historyKey identifies a rebuilt model: the base it started from and the
// last events it reflects.
type historyKey struct {
	generation, access, directory uint64
}

// cached returns the model cached under k, marking it recently used.
func (h *history) cached(k historyKey) (*authorizer.Model, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, c := range h.cache {
		if c.key == k {
			h.cache = append(append(h.cache[:i:i], h.cache[i+1:]...), c)
			return c.model, true
		}
	}
	return nil, false
}

// remember caches m under k, dropping the least recently used model.
func (h *history) remember(k historyKey, m *authorizer.Model) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.cache) == historyCacheSize {
		h.cache = h.cache[1:]
	}
	h.cache = append(h.cache, cachedModel{key: k, model: m})
}

// wake asks RunHistory for a round now.
func (h *history) wake() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// ModelAt returns the model as it stood at the moment at, and the positions
// it reflects. The model is shared (cached): callers only read it (Check,
// Explain, ...). A moment before the history's base fails with a
// *HistoryUnavailableError; a time in the future or a sequence past the
// log's head is a *FieldError (InvalidArgument).
func (s *Service) ModelAt(ctx context.Context, at AsOf) (*authorizer.Model, HistoryPoint, error) {
	if err := s.checkAsOf(at); err != nil {
		return nil, HistoryPoint{}, err
	}
	base, ok, err := s.readBaseMeta(ctx)
	if err != nil {
		return nil, HistoryPoint{}, err
	}
	if !ok {
		return nil, HistoryPoint{}, &HistoryUnavailableError{}
	}
	m, err := s.moment(ctx, base, at)
	if err != nil {
		return nil, HistoryPoint{}, err
	}
	evs, err := s.collect(ctx, base, m)
	if err != nil {
		return nil, HistoryPoint{}, err
	}
	point := HistoryPoint{Time: m.time, Sequence: evs.access, DirectorySequence: evs.directory}
	key := historyKey{generation: base.Generation, access: evs.access, directory: evs.directory}
	if model, ok := s.history.cached(key); ok {
		return model, point, nil
	}
	st, err := s.loadBase(ctx, base)
	if err != nil {
		return nil, HistoryPoint{}, err
	}
	st.replay(evs)
	s.history.remember(key, st.model)
	return st.model, point, nil
}

// checkAsOf refuses an AsOf without exactly one field, or in the future.
func (s *Service) checkAsOf(at AsOf) error {
	switch {
	case at.Time.IsZero() == (at.Sequence == 0):
		return fieldError("as_of", "set exactly one of time and sequence")
	case at.Time.After(s.clock()):
		return fieldError("as_of.time", "%s is in the future", at.Time.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// historyMoment is a resolved AsOf: the access events up to seq (all of
// them when 0) and every event of either log committed at or before time.
type historyMoment struct {
	time time.Time
	seq  uint64
}

// moment resolves at against base: a sequence is looked up for its time.
func (s *Service) moment(ctx context.Context, base historyBase, at AsOf) (historyMoment, error) {
	if at.Sequence == 0 {
		if at.Time.Before(base.Time) {
			return historyMoment{}, &HistoryUnavailableError{Earliest: base.Time}
		}
		return historyMoment{time: at.Time}, nil
	}
	if at.Sequence <= base.Access.Sequence {
		return historyMoment{}, &HistoryUnavailableError{Earliest: base.Time}
	}
	evs, err := s.log.Read(ctx, at.Sequence-1, 1)
	if err != nil {
		return historyMoment{}, fmt.Errorf("domain: history: reading access event %d: %w", at.Sequence, err)
	}
	if len(evs) == 0 || evs[0].GetSequence() != at.Sequence {
		return historyMoment{}, fieldError("as_of.sequence", "access has no event %d yet", at.Sequence)
	}
	return historyMoment{time: evs[0].GetTime().AsTime(), seq: at.Sequence}, nil
}
