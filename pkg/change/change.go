// Package change is the scaffolding of a domain operation that changes a
// Steward service's state: one store transaction with its actor and time,
// the events it appends to the service's event log in that transaction
// (with their audit envelope), idempotent creates keyed by the caller's own
// request IDs, and random resource IDs. Each service's domain package
// builds its own transaction type on Tx, so licensing and audit start from
// the same rules as directory and access.
package change

import (
	"context"
	"crypto/rand"
	"math/big"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/records"
	"steward.dev/pkg/store"
)

// Actor is who a change is recorded as made by: the audit envelope of its
// events.
type Actor struct {
	// Name is the principal's resource name ("organizations/o1/users/u1",
	// "services/licensing"); empty for public calls.
	Name string
	// DisplayName is shown in audit messages.
	DisplayName string
	// RequestID correlates the change with its request.
	RequestID string
	// SourceAddress is the client's network address, when known.
	SourceAddress string
	// Traceparent is the W3C traceparent of the traced request the change
	// is made in (pkg/tracing.Traceparent), "" when tracing is off: each
	// event records it (Event.traceparent) for its consumers' spans.
	Traceparent string
}

// Tx is one read-write transaction of a domain operation: the store
// transaction, who acts, the operation's time, and the sequence of the last
// event it appended (the consistency token its response carries).
type Tx struct {
	store.Tx
	// Actor is recorded in the audit envelope of every event.
	Actor Actor
	// Now is the operation's time, the same for all it writes.
	Now time.Time
	// LastSeq is the sequence of the last event appended, 0 if none.
	LastSeq uint64

	log *eventlog.Log
}

// Begin returns the operation transaction over tx, appending to log.
func Begin(tx store.Tx, log *eventlog.Log, actor Actor, now time.Time) *Tx {
	return &Tx{Tx: tx, Actor: actor, Now: now, log: log}
}

// Update runs fn in one read-write transaction of st and returns the
// sequence of the last event fn appended (0 if none).
func Update(ctx context.Context, st store.Store, log *eventlog.Log, actor Actor, now time.Time, fn func(t *Tx) error) (uint64, error) {
	var seq uint64
	err := st.Update(ctx, func(tx store.Tx) error {
		t := Begin(tx, log, actor, now)
		if err := fn(t); err != nil {
			return err
		}
		seq = t.LastSeq
		return nil
	})
	return seq, err
}

// View runs fn in one read-only transaction of st and returns the event-log
// sequence that transaction reflects.
func View(ctx context.Context, st store.Store, fn func(tx store.ReadTx) error) (uint64, error) {
	var head uint64
	err := st.View(ctx, func(tx store.ReadTx) error {
		var err error
		if head, err = eventlog.HeadTx(tx); err != nil {
			return err
		}
		return fn(tx)
	})
	return head, err
}

// Timestamp returns the operation's time as a protobuf timestamp.
func (t *Tx) Timestamp() *timestamppb.Timestamp { return timestamppb.New(t.Now) }

// Emit appends, in t, a successful change of type typ to resource. data is
// the record after a create or update, before a delete; message is the
// audit text a person reads ("User alice was created.").
func (t *Tx) Emit(typ string, op eventlogv1.Operation, resource string, data proto.Message, message string) error {
	return t.append(typ, op, resource, data, "", message, eventlogv1.Outcome_OUTCOME_SUCCESS)
}

// EmitOutcome appends, in t, an event that records an attempt rather than
// a change (a refused sign-in: outcome DENIED).
func (t *Tx) EmitOutcome(typ, resource, message string, outcome eventlogv1.Outcome) error {
	return t.append(typ, eventlogv1.Operation_OPERATION_UNSPECIFIED, resource, nil, "", message, outcome)
}

// EmitRead appends, in t, a successful event that records a read someone
// must answer for rather than a change (an export, R27): no operation, no
// data, and the audit action action, the method called
// ("ExportRoleAssignments"), in place of the type.
func (t *Tx) EmitRead(typ, action, resource, message string) error {
	return t.append(typ, eventlogv1.Operation_OPERATION_UNSPECIFIED, resource, nil, action, message, eventlogv1.Outcome_OUTCOME_SUCCESS)
}

// append appends, in t, the event of type typ on resource with t's actor in
// its audit envelope; action, unless empty, replaces the envelope's action
// (which eventlog.NewEvent sets to typ).
func (t *Tx) append(typ string, op eventlogv1.Operation, resource string, data proto.Message, action, message string, outcome eventlogv1.Outcome) error {
	ev, err := eventlog.NewEvent(typ, op, resource, data, &eventlogv1.AuditEnvelope{
		Actor:            t.Actor.Name,
		ActorDisplayName: t.Actor.DisplayName,
		Message:          message,
		RequestId:        t.Actor.RequestID,
		Outcome:          outcome,
		SourceAddress:    t.Actor.SourceAddress,
	})
	if err != nil {
		return err
	}
	if action != "" {
		ev.Audit.Action = action
	}
	ev.Traceparent = t.Actor.Traceparent
	seq, err := t.log.Append(t.Tx, ev)
	if err != nil {
		return err
	}
	t.LastSeq = seq
	return nil
}

// Idempotent makes a create retryable (records.Idempotent) under the key
// prefix + caller + "/" + requestID, where the caller is t.Actor.Name
// ("anonymous" for public calls): each caller has their own request IDs, so
// one replaying another's gets neither the other's response nor a refusal.
// Without a requestID it just runs do. A request ID reused for another
// request fails with records.ErrRequestIDReused.
func (t *Tx) Idempotent(prefix, requestID string, req, resp proto.Message, do func() error) (replayed bool, err error) {
	if requestID == "" {
		return false, do()
	}
	caller := t.Actor.Name
	if caller == "" {
		caller = "anonymous"
	}
	return records.Idempotent(t.Tx, []byte(prefix+caller+"/"+requestID), req, resp, do)
}

// idAlphabet is what generated IDs are made of: lowercase letters and
// digits, so they are valid AIP-122 IDs.
const idAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// NewID returns a random resource ID: a letter followed by 11 letters or
// digits (about 57 bits).
func NewID() string {
	b := make([]byte, 12)
	for i := range b {
		n := 36
		if i == 0 {
			n = 26
		}
		v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
		if err != nil {
			panic("change: crypto/rand failed: " + err.Error())
		}
		b[i] = idAlphabet[v.Int64()]
	}
	return string(b)
}
