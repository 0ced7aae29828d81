package eventlog

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Every key this package writes, in one place, all under "eventlog/". A producer's store holds the
// events and the log's metadata; a consumer's store holds the consumer's cursor.
var (
	// eventPrefix + 8-byte big-endian sequence -> the event in its stored form
	// (stored.go).
	eventPrefix = []byte("eventlog/e/")
	// horizonKey -> 8-byte big-endian sequence: the highest sequence retention
	// deleted; every event at or below it is gone, every one above is kept.
	horizonKey = []byte("eventlog/meta/horizon")
	// idKey -> the log's identity (Event.log_id), created with the log.
	idKey = []byte("eventlog/meta/id")
	// durablePrefix + consumer name -> 8-byte big-endian sequence: the last
	// event a durable consumer acknowledged; retention keeps every later one.
	durablePrefix = []byte("eventlog/durable/")
	// cursorPrefix + consumer name -> 8-byte big-endian sequence of the last
	// event the consumer applied, followed by the identity of the log it
	// belongs to (absent in cursors stored before logs had one).
	cursorPrefix = []byte("eventlog/cursor/")
)

// sequenceName is the store.Tx.NextSequence counter that numbers the events.
const sequenceName = "eventlog"

func eventKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), eventPrefix...), seq)
}

// eventKeySeq returns the sequence of an event key.
func eventKeySeq(key []byte) (uint64, error) {
	if len(key) != len(eventPrefix)+8 {
		return 0, fmt.Errorf("eventlog: malformed event key %q", key)
	}
	return binary.BigEndian.Uint64(key[len(eventPrefix):]), nil
}

func cursorKey(consumer string) []byte {
	return append(append([]byte(nil), cursorPrefix...), consumer...)
}

func encodeSeq(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func decodeSeq(what string, b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("eventlog: malformed %s (%d bytes)", what, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

func durableKey(consumer string) []byte {
	return append(append([]byte(nil), durablePrefix...), consumer...)
}

// EventSequenceOf returns the sequence of the event stored at key, and false
// when key is not an event's: a replica following its store's changes
// (store.ChangeFeed) learns from it which events committed.
func EventSequenceOf(key []byte) (uint64, bool) {
	if !bytes.HasPrefix(key, eventPrefix) {
		return 0, false
	}
	seq, err := eventKeySeq(key)
	return seq, err == nil
}

// CursorOf returns the consumer and position of a cursor stored at key with
// value, and false when key is not a consumer's cursor or value is malformed.
func CursorOf(key, value []byte) (consumer string, pos Position, ok bool) {
	if !bytes.HasPrefix(key, cursorPrefix) || len(value) < 8 {
		return "", Position{}, false
	}
	return string(key[len(cursorPrefix):]), Position{Sequence: binary.BigEndian.Uint64(value), LogID: string(value[8:])}, true
}
