package eventlog

// How the log stores an event (issue 13): without what it can give back
// exactly when the event is read, so that an event costs its content and
// not the log's bookkeeping repeated in every one.
//
//	0x00, flags, then the deterministic encoding of the event without
//	- its sequence: the key's;
//	- its source and log ID: the log's own;
//	- its organization when it is its resource's (flagOrganization);
//	- its audit action when it is its type (flagAction), as NewEvent makes it;
//	- "type.googleapis.com/" at the start of its data's type URL (flagTypeURL);
//	- its data's first field when that is field 1 holding the resource
//	  (flagName): the AIP-122 name of the record the event carries.
//
// Events stored before have no such header and are read as they are: a
// protobuf encoding never starts with a zero byte (field number 0 is
// invalid), and a stored event never is empty (its sequence is set).

import (
	"bytes"
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/resourcename"
)

// The flags of a stored event: what was left out, to be given back.
const (
	flagOrganization = 1 << iota
	flagAction
	flagTypeURL
	flagName

	knownFlags = flagOrganization | flagAction | flagTypeURL | flagName
)

// storedMark starts every event stored in the compact form.
const storedMark = 0x00

// typeURLPrefix is the prefix anypb.New gives every type URL.
const typeURLPrefix = "type.googleapis.com/"

// storeOptions encodes stored events deterministically.
var storeOptions = proto.MarshalOptions{Deterministic: true}

// encodeStored returns the stored form of ev. It leaves ev as it found it
// (it clears what it leaves out while encoding, then puts it back), so ev
// must not be read concurrently.
func encodeStored(ev *eventlogv1.Event) ([]byte, error) {
	var flags byte
	seq, source, logID, org := ev.Sequence, ev.Source, ev.LogId, ev.Organization
	ev.Sequence, ev.Source, ev.LogId = 0, "", ""
	if org != "" && org == resourcename.OrganizationOf(ev.GetResource()) {
		flags |= flagOrganization
		ev.Organization = ""
	}
	audit := ev.GetAudit()
	action := audit.GetAction()
	if action != "" && action == ev.GetType() {
		flags |= flagAction
		audit.Action = ""
	}
	data := ev.Data
	if data != nil {
		short := &anypb.Any{TypeUrl: data.GetTypeUrl(), Value: data.GetValue()}
		if u, ok := strings.CutPrefix(short.TypeUrl, typeURLPrefix); ok {
			flags |= flagTypeURL
			short.TypeUrl = u
		}
		if rest, ok := cutName(short.Value, ev.GetResource()); ok {
			flags |= flagName
			short.Value = rest
		}
		ev.Data = short
	}
	b, err := storeOptions.MarshalAppend([]byte{storedMark, flags}, ev)
	ev.Sequence, ev.Source, ev.LogId, ev.Organization, ev.Data = seq, source, logID, org, data
	if flags&flagAction != 0 {
		audit.Action = action
	}
	return b, err
}

// cutName returns value without its first field when that field is field 1
// of wire type bytes holding name, a non-empty name, encoded as nameField
// encodes it (so that putting it back gives the same bytes).
func cutName(value []byte, name string) ([]byte, bool) {
	if name == "" || len(value) < len(name)+2 || value[0] != nameTag {
		return nil, false
	}
	field := nameField(name)
	if !bytes.HasPrefix(value, field) {
		return nil, false
	}
	return value[len(field):], true
}

// nameTag is the tag of field 1 of wire type bytes.
const nameTag = 1<<3 | byte(protowire.BytesType)

// nameField returns the encoding of field 1 of wire type bytes holding
// name.
func nameField(name string) []byte {
	return protowire.AppendString(protowire.AppendTag(make([]byte, 0, len(name)+4), 1, protowire.BytesType), name)
}

// decodeStored decodes the event stored at sequence seq of the log of
// source whose identity is id: the compact form with what it left out given
// back, or an event stored before as it is.
func decodeStored(v []byte, seq uint64, source, id string) (*eventlogv1.Event, error) {
	ev := &eventlogv1.Event{}
	if len(v) == 0 || v[0] != storedMark {
		if err := proto.Unmarshal(v, ev); err != nil {
			return nil, err
		}
		return ev, nil
	}
	if len(v) < 2 || v[1]&^knownFlags != 0 {
		return nil, fmt.Errorf("eventlog: event %d has an unknown stored form", seq)
	}
	flags := v[1]
	if err := proto.Unmarshal(v[2:], ev); err != nil {
		return nil, err
	}
	ev.Sequence, ev.Source, ev.LogId = seq, source, id
	if flags&flagOrganization != 0 {
		ev.Organization = resourcename.OrganizationOf(ev.GetResource())
	}
	if flags&flagAction != 0 {
		if ev.Audit == nil {
			ev.Audit = &eventlogv1.AuditEnvelope{}
		}
		ev.Audit.Action = ev.GetType()
	}
	if flags&(flagTypeURL|flagName) != 0 && ev.Data == nil {
		ev.Data = &anypb.Any{}
	}
	if flags&flagTypeURL != 0 {
		ev.Data.TypeUrl = typeURLPrefix + ev.Data.TypeUrl
	}
	if flags&flagName != 0 {
		ev.Data.Value = append(nameField(ev.GetResource()), ev.Data.Value...)
	}
	return ev, nil
}
