// Package eventlog is Steward's change feed: every state change of a service is
// written in the same store transaction as an event appended to that service's
// log, under a gap-free, strictly increasing sequence.
//
// A producer keeps one Log on its store:
//
//	log, err := eventlog.New(st, "directory", eventlog.Options{
//		Retention: eventlog.Retention{MaxEvents: 1_000_000, MaxAge: 30 * 24 * time.Hour},
//	})
//	err = st.Update(ctx, func(tx store.Tx) error {
//		// ... write the record ...
//		seq, err := log.Append(tx, &eventlogv1.Event{Type: "directory.user.created", ...})
//		// seq is the consistency token the write response carries.
//	})
//	eventlog.Register(grpcServer, log) // EventLogService: Watch and ListEvents
//	go log.RunRetention(ctx)
//
// Read-your-writes: a backend registers its gRPC services through
// SequenceServer, so that every successful mutating unary call (Mutating:
// not a GET binding, not named Get/List/Check/...) sends the log's head as
// gRPC header and trailer x-steward-<source>-sequence, whatever its
// response message (Empty included). Callers pass it to access's
// CheckPermission as at_least_directory_sequence or at_least_sequence.
//
// Readers use Read for a page of history and Watch to stream history and then
// tail new commits. Watch reads history in bounded batches, each in its own
// short read transaction, and then sleeps on a broadcast channel that the
// commit hook of Append closes: an idle watcher does no work at all.
//
// A consumer (another service) follows a Source (a local *Log, or a remote log
// through NewClientSource) with a Consumer, which applies each event and
// advances its cursor in one transaction of the consumer's own store, so every
// event is applied exactly once whatever crashes or disconnects happen.
//
// Every log has an identity, a random ID created with its store and carried
// by every event (Event.log_id): a consumer's cursor is a Position (log ID and
// sequence), so a producer that comes back with a fresh store is noticed (its
// log ID differs, or its head is below the cursor: a *ResetError, reason
// EVENTLOG_RESET) and the consumer resyncs instead of skipping events. A
// Consumer applies the events that arrive together in one transaction, reports
// readiness (caught up with the head it saw on connecting) and exports its
// cursor, the source's head and its lag as metrics.
//
// Retention deletes the oldest events, in bounded batches, and records the
// horizon: the highest deleted sequence. Durable consumers (audit) register with
// the producer and acknowledge their position; retention never deletes what
// they have not acknowledged unless the operator's hard bound is exceeded. A cursor below the horizon has missed
// events for good; Watch and Read then fail with a *FellBehindError (matching
// ErrFellBehind; FAILED_PRECONDITION with ErrorInfo reason EVENTLOG_FELL_BEHIND
// on the wire) and the consumer must resync from a snapshot.
//
// Ordering guarantee. Sequences come from store.Tx.NextSequence inside the
// appending transaction, and a committed transaction's events become visible
// atomically. A backend therefore never shows sequence n+1 without n as long as
// it serializes transactions that take the same sequence (bbolt has a single
// writer; an optimistic backend conflicts on the counter). The log is the only
// user of the "eventlog" sequence and of the "eventlog/" key range of its store;
// there is one log per store.
package eventlog
