package domain

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"regexp"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "steward.dev/gen/steward/audit/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store"
	"steward.dev/services/audit/ledger"
)

// organizationName matches the organization names audit keeps a log for
// (the directory's organization IDs).
var organizationName = regexp.MustCompile(`^organizations/[a-z0-9][a-z0-9-]{0,62}$`)

// LogOf returns the name of the log an event of organization org belongs
// to: the organization's name, or InstallationLog for an event without a
// (well-formed) organization.
func LogOf(org string) string {
	if organizationName.MatchString(org) {
		return org
	}
	return InstallationLog
}

// ApplyEvent returns the Apply function of the consumer of source's log
// ("directory", "access", "licensing"; see eventlog.Consumer): it records
// each event as an audit event (Convert) in its organization's log, in the
// consumer's transaction, which also advances the consumer's cursor, so
// every event is recorded exactly once, whatever was down and for how long
// (R27, R28). The source is the one followed, whatever the event claims.
func (s *Service) ApplyEvent(source string) func(tx store.Tx, ev *eventlogv1.Event) error {
	return func(tx store.Tx, ev *eventlogv1.Event) error {
		_, err := s.record(tx, LogOf(ev.GetOrganization()), Convert(source, ev))
		return err
	}
}

// Convert returns the audit event of ev, an event of source's log (R27):
// its time, source, sequence and type; who acted, the action, the outcome,
// the request, the client's address and the message from its audit
// envelope; the target (the event's resource), its tenant and its
// organization. An envelope without an action gets the event type's verb
// ("directory.user.created" -> "user.created"). Index and name are left to
// the log.
func Convert(source string, ev *eventlogv1.Event) *auditv1.AuditEvent {
	a := ev.GetAudit()
	action := a.GetAction()
	if action == "" || action == ev.GetType() {
		action = actionOf(ev.GetType())
	}
	var t *timestamppb.Timestamp
	if ev.GetTime() != nil {
		t = proto.CloneOf(ev.GetTime())
	}
	return &auditv1.AuditEvent{
		Time:             t,
		Source:           source,
		SourceSequence:   ev.GetSequence(),
		Type:             ev.GetType(),
		Actor:            a.GetActor(),
		ActorDisplayName: a.GetActorDisplayName(),
		Action:           action,
		Target:           ev.GetResource(),
		Tenant:           TenantOf(ev.GetResource()),
		Outcome:          a.GetOutcome(),
		RequestId:        a.GetRequestId(),
		SourceAddress:    a.GetSourceAddress(),
		Message:          a.GetMessage(),
		Organization:     ev.GetOrganization(),
	}
}

// actionOf returns the verb of an event type: the type without its
// service ("directory.user.created" -> "user.created").
func actionOf(typ string) string {
	if _, rest, ok := strings.Cut(typ, "."); ok && rest != "" {
		return rest
	}
	return typ
}

// TenantOf returns the "organizations/{o}/tenants/{t}" prefix of name, ""
// when name is not in a tenant.
func TenantOf(name string) string {
	parts := strings.SplitN(name, "/", 5)
	if len(parts) < 4 || parts[0] != "organizations" || parts[1] == "" || parts[2] != "tenants" || parts[3] == "" {
		return ""
	}
	return strings.Join(parts[:4], "/")
}

// EventName returns the resource name of the event at index of log,
// "organizations/{o}/auditEvents/{index}".
func EventName(log string, index int64) string { return ledger.EventName(log, index) }

// record appends ev to log in tx (ledger.AppendEvent: its index is the
// log's next, its name set, its leaf the deterministic encoding of ev
// without name), stores that leaf under eventPrefix, exactly the bytes the
// ledger hashed, and writes ev's index entries. It returns the index.
func (s *Service) record(tx store.Tx, log string, ev *auditv1.AuditEvent) (int64, error) {
	leaf, err := s.ledger.AppendEvent(tx, log, ev)
	if err != nil {
		return 0, err
	}
	index := ev.GetIndex()
	if err := tx.Put(eventKey(log, index), leaf); err != nil {
		return 0, err
	}
	for _, k := range indexKeys(log, ev) {
		if err := tx.Put(k, nil); err != nil {
			return 0, err
		}
	}
	return index, nil
}

// eventKey returns the key of the event at index of log.
func eventKey(log string, index int64) []byte {
	k := make([]byte, 0, len(eventPrefix)+len(log)+1+8)
	k = append(append(append(k, eventPrefix...), log...), '/')
	return binary.BigEndian.AppendUint64(k, uint64(index))
}

// timeBytes encodes Unix nanoseconds so that byte order is time order: 8
// bytes big-endian with the sign bit flipped.
func timeBytes(b []byte, nanos int64) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(nanos)^(1<<63))
}

// decodeTimeBytes is the inverse of timeBytes.
func decodeTimeBytes(b []byte) int64 { return int64(binary.BigEndian.Uint64(b) ^ (1 << 63)) }

// maxIndexedValue bounds the bytes of a value an index key holds; longer
// values are indexed by their first maxIndexedValue bytes (searches check
// the whole value on the record).
const maxIndexedValue = 1024

// indexValue escapes v for an index key and terminates it: every 0x00 of
// v becomes 0x00 0xFF and "\x00\x00" ends it, so no value's key is a prefix
// of another value's keys.
func indexValue(b []byte, v string) []byte {
	if len(v) > maxIndexedValue {
		v = v[:maxIndexedValue]
	}
	for i := 0; i < len(v); i++ {
		b = append(b, v[i])
		if v[i] == 0 {
			b = append(b, 0xFF)
		}
	}
	return append(b, 0, 0)
}

// indexValueLen returns the length of indexValue's encoding of v.
func indexValueLen(v string) int {
	if len(v) > maxIndexedValue {
		v = v[:maxIndexedValue]
	}
	return len(v) + strings.Count(v, "\x00") + 2
}

// timePrefix returns the prefix of log's time index.
func timePrefix(log string) []byte { return []byte(timeIndex + log + "|") }

// fieldPrefix returns the prefix of the index entries of log's events whose
// field has value.
func fieldPrefix(f Field, log, value string) []byte {
	return indexValue([]byte(fieldIndex+string(f)+"/"+log+"|"), value)
}

// eventNanos returns the time of ev in Unix nanoseconds (0 when unset).
func eventNanos(ev *auditv1.AuditEvent) int64 {
	if ev.GetTime() == nil {
		return 0
	}
	return unixNanos(ev.GetTime().AsTime())
}

// fieldValue returns the value of field f of ev as the filter compares it
// (the outcome by its enum value name).
func fieldValue(ev *auditv1.AuditEvent, f Field) string {
	switch f {
	case FieldActor:
		return ev.GetActor()
	case FieldAction:
		return ev.GetAction()
	case FieldTarget:
		return ev.GetTarget()
	case FieldTenant:
		return ev.GetTenant()
	case FieldSource:
		return ev.GetSource()
	case FieldOutcome:
		if ev.GetOutcome() == eventlogv1.Outcome_OUTCOME_UNSPECIFIED {
			return ""
		}
		return ev.GetOutcome().String()
	}
	return ""
}

// indexKeys returns the index entries of ev at log: the time index and one
// entry per non-empty equality field. The keys share one buffer.
func indexKeys(log string, ev *auditv1.AuditEvent) [][]byte {
	nanos, index := eventNanos(ev), ev.GetIndex()
	size := len(timeIndex) + len(log) + 1 + 16
	for _, f := range equalityFields {
		if v := fieldValue(ev, f); v != "" {
			size += len(fieldIndex) + len(f) + 1 + len(log) + 1 + indexValueLen(v) + 16
		}
	}
	buf := make([]byte, 0, size)
	keys := make([][]byte, 0, 1+len(equalityFields))
	buf = append(append(append(buf, timeIndex...), log...), '|')
	buf = binary.BigEndian.AppendUint64(timeBytes(buf, nanos), uint64(index))
	keys = append(keys, buf[:len(buf):len(buf)])
	for _, f := range equalityFields {
		v := fieldValue(ev, f)
		if v == "" {
			continue
		}
		start := len(buf)
		buf = append(append(append(append(append(buf, fieldIndex...), f...), '/'), log...), '|')
		buf = binary.BigEndian.AppendUint64(timeBytes(indexValue(buf, v), nanos), uint64(index))
		keys = append(keys, buf[start:len(buf):len(buf)])
	}
	return keys
}

// RecordOwn records an event of audit's own in tx, as the events of the
// followed logs are (Convert, source "audit"), in its organization's log,
// at the current time when ev has none: the refused calls of audit's own
// API (R27), which the backend hands it (backend.Config.RecordRefused).
func (s *Service) RecordOwn(tx store.Tx, ev *eventlogv1.Event) error {
	if ev.GetTime() == nil {
		ev.Time = timestamppb.New(s.clock())
	}
	return s.ApplyEvent(auditSource)(tx, ev)
}

// Audit's own notes in InstallationLog.
const (
	// TypeResynced is the type of the event audit records when it had to
	// skip events of a source it could not read any more.
	TypeResynced = "audit.ingestion.resynced"
	// auditSource is the source of audit's own notes.
	auditSource = "audit"
	// auditActor is the actor of audit's own notes.
	auditActor = "services/audit"
)

// SourcePosition is where a followed log stands now: its identity, its
// newest sequence and its retention horizon (the highest deleted sequence).
type SourcePosition struct {
	// LogID is the log's identity.
	LogID string
	// Head is the newest sequence.
	Head uint64
	// Horizon is the highest deleted sequence: events after it are kept.
	Horizon uint64
}

// Loss is what a resync recorded: the events of a source audit could not
// record, and where it continues.
type Loss struct {
	// Source is the followed service.
	Source string
	// From and Through are the first and last sequence lost (Through <
	// From when none is known lost).
	From, Through uint64
	// Resumed is the position the consumer continues from.
	Resumed eventlog.Position
	// Event is the audit event recorded in InstallationLog; nil when
	// nothing was skipped.
	Event *auditv1.AuditEvent
}

// Count returns the number of events lost.
func (l Loss) Count() uint64 {
	if l.Through < l.From {
		return 0
	}
	return l.Through - l.From + 1
}

// Resync is the Resync of the consumer named consumer of source's log
// (eventlog.Consumer) when its cursor fell behind the source's retention
// horizon or the source's log was replaced. There is no snapshot to
// rebuild an audit trail from: the events in between are gone. In one
// transaction it moves the consumer's position to where the source's log
// continues (now: the source's identity, head and horizon), counts the
// resync, and records in InstallationLog an audit event saying how many
// events were lost between which sequences (R28: nothing is lost
// silently). When the source's log continues right after the cursor there
// is nothing to skip: the position stays and nothing is recorded. It
// returns the new position (what Resync must return) with what was lost.
func (s *Service) Resync(ctx context.Context, source, consumer string, now SourcePosition) (Loss, error) {
	var loss Loss
	err := s.store.Update(ctx, func(tx store.Tx) error {
		pos, err := eventlog.GetPosition(tx, consumer)
		if err != nil {
			return err
		}
		loss = Loss{Source: source}
		var msg string
		switch {
		case pos.LogID != "" && now.LogID != "" && pos.LogID != now.LogID:
			// A new log: its retained events are new to audit; what the old
			// log held after the cursor is unknown.
			loss.From, loss.Through = 1, now.Horizon
			loss.Resumed = eventlog.Position{LogID: now.LogID, Sequence: now.Horizon}
			msg = fmt.Sprintf("The %s's event log was replaced (log %s, audit had recorded up to sequence %d of log %s): "+
				"events of the old log after sequence %d, if any, and %d events of the new log (sequences 1 to %d) deleted by its retention were not recorded. Audit continues from sequence %d of the new log.",
				source, now.LogID, pos.Sequence, pos.LogID, pos.Sequence, loss.Count(), now.Horizon, now.Horizon+1)
		case pos.Sequence > now.Head:
			// The same log went back (restored from a backup): audit holds
			// the events up to its cursor; the source's next sequences are
			// new events.
			loss.From, loss.Through = 1, 0
			loss.Resumed = eventlog.Position{LogID: cmp.Or(now.LogID, pos.LogID), Sequence: now.Head}
			msg = fmt.Sprintf("The %s's event log went back from sequence %d to %d (restored?): audit keeps what it recorded up to sequence %d; the %s's sequences after %d are new events, recorded from now on.",
				source, pos.Sequence, now.Head, pos.Sequence, source, now.Head)
		default:
			// Retention deleted events audit had not read.
			loss.From, loss.Through = pos.Sequence+1, now.Horizon
			loss.Resumed = eventlog.Position{LogID: cmp.Or(now.LogID, pos.LogID), Sequence: max(pos.Sequence, now.Horizon)}
			msg = fmt.Sprintf("%d events of the %s (sequences %d to %d) were deleted by its retention before audit recorded them. Audit continues from sequence %d.",
				loss.Count(), source, loss.From, loss.Through, loss.Resumed.Sequence+1)
		}
		if loss.Resumed == pos && loss.Count() == 0 {
			// Nothing to skip (the source's horizon is not past the
			// cursor): no note, or a consumer retrying would write one
			// per attempt.
			return nil
		}
		if err := eventlog.PutPosition(tx, consumer, loss.Resumed); err != nil {
			return err
		}
		n, err := store.GetUint64(tx, []byte(resyncPrefix+source))
		if err != nil {
			return err
		}
		if err := store.PutUint64(tx, []byte(resyncPrefix+source), n+1); err != nil {
			return err
		}
		loss.Event = &auditv1.AuditEvent{
			Time:    timestamppb.New(s.clock()),
			Source:  auditSource,
			Type:    TypeResynced,
			Actor:   auditActor,
			Action:  actionOf(TypeResynced),
			Target:  "services/" + source,
			Outcome: eventlogv1.Outcome_OUTCOME_FAILURE,
			Message: msg,
		}
		_, err = s.record(tx, InstallationLog, loss.Event)
		return err
	})
	if err != nil {
		return Loss{}, err
	}
	return loss, nil
}

// Resyncs returns how often audit resynced from source.
func (s *Service) Resyncs(ctx context.Context, source string) (int64, error) {
	var n int64
	err := s.view(ctx, func(tx store.ReadTx) error {
		var err error
		c, err := store.GetUint64(tx, []byte(resyncPrefix+source))
		n = int64(c)
		return err
	})
	return n, err
}
