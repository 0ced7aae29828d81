package eventlog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"steward.dev/pkg/apierr"
	"steward.dev/pkg/store"
)

// Position is where a consumer stands in a log: the log's identity and the
// sequence of the last event applied. The zero Position is the start of any
// log.
type Position struct {
	// LogID is the identity of the log (Event.log_id); "" before the consumer
	// has seen one.
	LogID string
	// Sequence is the last event applied; 0 before the first.
	Sequence uint64
}

// ReasonReset is the ErrorInfo reason of a Watch whose position does not
// belong to the producer's log: another log ID, or a sequence past the head.
const ReasonReset = "EVENTLOG_RESET"

// ErrReset is matched (errors.Is) by every *ResetError: the producer's log is
// not the one the consumer's cursor was taken from (its store was replaced),
// and the consumer must resync from a snapshot rather than skip or wait.
var ErrReset = errors.New("eventlog: the producer's log is not the one the cursor belongs to")

// ResetError reports a position that does not belong to the producer's log. It
// matches ErrReset and becomes FAILED_PRECONDITION with ErrorInfo reason
// EVENTLOG_RESET.
type ResetError struct {
	// Source is the producing service, when known.
	Source string
	// Position is the consumer's position.
	Position Position
	// LogID and Head are the producer's log identity and newest sequence.
	LogID string
	Head  uint64
}

// Error implements error.
func (e *ResetError) Error() string {
	if e.Position.LogID != "" && e.Position.LogID != e.LogID {
		return fmt.Sprintf("eventlog: cursor %d belongs to log %s, but the %s log is now %s: resync from a snapshot",
			e.Position.Sequence, e.Position.LogID, sourceName(e.Source), e.LogID)
	}
	return fmt.Sprintf("eventlog: cursor %d is past the head %d of the %s log %s: resync from a snapshot",
		e.Position.Sequence, e.Head, sourceName(e.Source), e.LogID)
}

// Is reports whether target is ErrReset.
func (e *ResetError) Is(target error) bool { return target == ErrReset }

// GRPCStatus returns FAILED_PRECONDITION with an ErrorInfo of reason
// ReasonReset whose metadata carries the positions.
func (e *ResetError) GRPCStatus() *status.Status {
	return apierr.New(codes.FailedPrecondition, ReasonReset, apierr.Domain, e.Error(), map[string]string{
		"source":         e.Source,
		"after_sequence": strconv.FormatUint(e.Position.Sequence, 10),
		"cursor_log_id":  e.Position.LogID,
		"log_id":         e.LogID,
		"head_sequence":  strconv.FormatUint(e.Head, 10),
	}).GRPCStatus()
}

func sourceName(s string) string {
	if s == "" {
		return "source's"
	}
	return s
}

// ID returns the identity of the log, creating it on first use: a random ID
// stored with the log, so that a producer whose store is replaced has a new
// one.
func (l *Log) ID(ctx context.Context) (string, error) {
	if id := l.loadID(); id != "" {
		return id, nil
	}
	var id string
	err := l.st.Update(ctx, func(tx store.Tx) error {
		var err error
		id, err = l.idTx(tx)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("eventlog: log identity: %w", err)
	}
	return id, nil
}

// idTx returns the log's identity as seen by tx, creating it in tx when
// missing; it is remembered once tx commits.
func (l *Log) idTx(tx store.Tx) (string, error) {
	if id := l.loadID(); id != "" {
		return id, nil
	}
	b, err := tx.Get(idKey)
	switch {
	case err == nil:
		id := string(b)
		tx.OnCommit(func() { l.storeID(id) })
		return id, nil
	case !errors.Is(err, store.ErrNotFound):
		return "", err
	}
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	id := hex.EncodeToString(raw)
	if err := tx.Put(idKey, []byte(id)); err != nil {
		return "", err
	}
	tx.OnCommit(func() { l.storeID(id) })
	return id, nil
}

// readID returns the log's identity as seen by a read transaction, "" when
// none was created yet.
func (l *Log) readID(tx store.ReadTx) (string, error) {
	if id := l.loadID(); id != "" {
		return id, nil
	}
	b, err := tx.Get(idKey)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func (l *Log) loadID() string {
	id, _ := l.id.Load().(string)
	return id
}

func (l *Log) storeID(id string) { l.id.Store(id) }
