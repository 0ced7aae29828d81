package eventlog

// How the log stores an event (issue 13): without what it can give back
// exactly when the event is read, so that an event costs its content and
// not the log's bookkeeping, or its own fields, repeated.
//
//	0x00, flags,
//	[flagMessage: the audit message's template, length-prefixed (a varint)],
//	[flagActorField: where the record held the actor: offset, field number (varints)],
//	then the deterministic encoding of the event without
//	- its sequence: the key's;
//	- its source and log ID: the log's own;
//	- its organization when it is its resource's (flagOrganization);
//	- its audit action when it is its type (flagAction), as NewEvent makes it;
//	- "type.googleapis.com/" at the start of its data's type URL (flagTypeURL),
//	  or the whole type URL when Steward's naming gives it from the event's
//	  type (flagDataType: "access.role_assignment.created" carries a
//	  "steward.access.v1.RoleAssignment");
//	- its data's first field when that is field 1 holding the resource
//	  (flagName): the AIP-122 name of the record the event carries;
//	- the first other field of its data's record holding the actor
//	  (flagActorField): the creator of a record its creator made;
//	- its audit message when the template stands for it (flagMessage).
//
// A message's template is the message with every occurrence of a string
// the event holds elsewhere (refStrings: its resource, its actor, the
// strings of its data's record, "Role X was assigned to Y at Z.") replaced
// by 0xFF and the string's index; a message is UTF-8, where 0xFF never
// occurs.
//
// Events stored before have no such header and are read as they are: a
// protobuf encoding never starts with a zero byte (field number 0 is
// invalid), and a stored event never is empty (its sequence is set).

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

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
	flagMessage
	flagActorField
	flagDataType

	knownFlags = flagOrganization | flagAction | flagTypeURL | flagName | flagMessage | flagActorField | flagDataType
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
	action, message := audit.GetAction(), audit.GetMessage()
	if action != "" && action == ev.GetType() {
		flags |= flagAction
		audit.Action = ""
	}
	header := []byte{storedMark, 0}
	if tmpl, ok := messageTemplate(message, refStrings(ev)); ok {
		flags |= flagMessage
		header = protowire.AppendBytes(header, tmpl)
		audit.Message = ""
	}
	data := ev.Data
	if data != nil {
		short := &anypb.Any{TypeUrl: data.GetTypeUrl(), Value: data.GetValue()}
		if u, ok := strings.CutPrefix(short.TypeUrl, typeURLPrefix); ok {
			if u == dataTypeOf(ev.GetType()) {
				flags |= flagDataType
				u = ""
			} else {
				flags |= flagTypeURL
			}
			short.TypeUrl = u
		}
		if rest, ok := cutName(short.Value, ev.GetResource()); ok {
			flags |= flagName
			short.Value = rest
		}
		if rest, off, num, ok := cutActor(short.Value, audit.GetActor()); ok {
			flags |= flagActorField
			short.Value = rest
			header = protowire.AppendVarint(protowire.AppendVarint(header, uint64(off)), uint64(num))
		}
		ev.Data = short
	}
	header[1] = flags
	b, err := storeOptions.MarshalAppend(header, ev)
	ev.Sequence, ev.Source, ev.LogId, ev.Organization, ev.Data = seq, source, logID, org, data
	if audit != nil {
		audit.Action, audit.Message = action, message
	}
	return b, err
}

// cutName returns value without its first field when that field is field 1
// of wire type bytes holding name, a non-empty name, encoded as stringField
// encodes it (so that putting it back gives the same bytes).
func cutName(value []byte, name string) ([]byte, bool) {
	if name == "" || len(value) < len(name)+2 || value[0] != nameTag {
		return nil, false
	}
	n := stringFieldSize(1, name)
	if len(value) < n || !isStringField(value[:n], 1, name) {
		return nil, false
	}
	return value[n:], true
}

// stringFieldSize returns the size of stringField(num, s).
func stringFieldSize(num protowire.Number, s string) int {
	return protowire.SizeTag(num) + protowire.SizeBytes(len(s))
}

// isStringField reports whether b is stringField(num, s).
func isStringField(b []byte, num protowire.Number, s string) bool {
	var buf [2 * binary.MaxVarintLen64]byte
	head := protowire.AppendVarint(protowire.AppendTag(buf[:0], num, protowire.BytesType), uint64(len(s)))
	return len(b) == len(head)+len(s) && bytes.Equal(b[:len(head)], head) && string(b[len(head):]) == s
}

// cutActor returns value without its first top-level field of wire type
// bytes holding actor, a non-empty actor, encoded as stringField encodes it,
// with the offset and number of that field.
func cutActor(value []byte, actor string) (rest []byte, off int, num protowire.Number, ok bool) {
	if actor == "" {
		return nil, 0, 0, false
	}
	for off < len(value) {
		n, typ, k := protowire.ConsumeTag(value[off:])
		if k < 0 {
			return nil, 0, 0, false
		}
		m := protowire.ConsumeFieldValue(n, typ, value[off+k:])
		if m < 0 {
			return nil, 0, 0, false
		}
		if typ == protowire.BytesType && isStringField(value[off:off+k+m], n, actor) {
			rest = append(append(make([]byte, 0, len(value)-k-m), value[:off]...), value[off+k+m:]...)
			return rest, off, n, true
		}
		off += k + m
	}
	return nil, 0, 0, false
}

// stringField returns the encoding of field num of wire type bytes holding
// s.
func stringField(num protowire.Number, s string) []byte {
	return protowire.AppendString(protowire.AppendTag(make([]byte, 0, len(s)+8), num, protowire.BytesType), s)
}

// dataTypeOf returns the full name of the message an event of type typ
// carries by Steward's naming, "steward.<service>.v1.<Resource>":
// "access.role_assignment.created" -> "steward.access.v1.RoleAssignment";
// "" for a type not named "<service>.<resource>.<verb>".
func dataTypeOf(typ string) string {
	svc, rest, ok := strings.Cut(typ, ".")
	if !ok {
		return ""
	}
	resource, _, ok := strings.Cut(rest, ".")
	if !ok || svc == "" || resource == "" {
		return ""
	}
	var b strings.Builder
	b.Grow(len("steward.") + len(svc) + len(".v1.") + len(resource))
	b.WriteString("steward.")
	b.WriteString(svc)
	b.WriteString(".v1.")
	for upper, i := true, 0; i < len(resource); i++ {
		switch c := resource[i]; {
		case c == '_':
			upper = true
		case upper && 'a' <= c && c <= 'z':
			b.WriteByte(c - 'a' + 'A')
			upper = false
		default:
			b.WriteByte(c)
			upper = false
		}
	}
	return b.String()
}

// nameTag is the tag of field 1 of wire type bytes.
const nameTag = 1<<3 | byte(protowire.BytesType)

// Message templates.
const (
	// refMark starts a reference in a template; it is followed by the
	// index of the string in refStrings.
	refMark = 0xFF
	// minRef is the length of the shortest string a template refers to:
	// a reference costs two bytes.
	minRef = 4
	// maxRefs bounds the strings a template may refer to (an index is a
	// byte, and refMark is not one).
	maxRefs = refMark
)

// refStrings returns the strings of ev a template of its message may refer
// to, by index: its resource, its actor, then the fields of wire type bytes
// of its data's record (at its top level, in order). It reads only what the
// stored form keeps or gives back exactly, so the event's encoder and its
// reader see the same strings.
func refStrings(ev *eventlogv1.Event) []string {
	refs := make([]string, 0, 8)
	refs = append(refs, ev.GetResource(), ev.GetAudit().GetActor())
	value := ev.GetData().GetValue()
	if len(value) == 0 {
		return refs
	}
	record := string(value) // one copy, which the record's strings share
	for off := 0; off < len(value) && len(refs) < maxRefs; {
		b := value[off:]
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			break
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			break
		}
		if typ == protowire.BytesType {
			_, k := protowire.ConsumeVarint(b[n:])
			refs = append(refs, record[off+n+k:off+n+m])
		}
		off += n + m
	}
	return refs
}

// messageTemplate returns the template of msg over refs: msg with each
// occurrence of a ref of minRef bytes or more replaced by refMark and its
// index, from the left, the longest where several start at one place;
// false when none occurs or msg is not UTF-8.
func messageTemplate(msg string, refs []string) ([]byte, bool) {
	if len(msg) < minRef || !utf8.ValidString(msg) {
		return nil, false
	}
	// next[j] is where refs[j] occurs next from i, -1 when it does not.
	var buf [16]int
	next := buf[:0]
	for range refs {
		next = append(next, -1)
	}
	find := func(j, i int) {
		next[j] = -1
		if len(refs[j]) >= minRef {
			if k := strings.Index(msg[i:], refs[j]); k >= 0 {
				next[j] = i + k
			}
		}
	}
	for j := range refs {
		find(j, 0)
	}
	var out []byte
	lit := 0 // where the text not copied yet starts
	for {
		best := -1
		for j, at := range next {
			if at >= 0 && (best < 0 || at < next[best] || at == next[best] && len(refs[j]) > len(refs[best])) {
				best = j
			}
		}
		if best < 0 {
			break
		}
		if out == nil {
			out = make([]byte, 0, len(msg))
		}
		at := next[best]
		out = append(append(out, msg[lit:at]...), refMark, byte(best))
		lit = at + len(refs[best])
		for j, at := range next {
			if at >= 0 && at < lit {
				find(j, lit)
			}
		}
	}
	if out == nil {
		return nil, false
	}
	return append(out, msg[lit:]...), true
}

// expandTemplate returns the message tmpl stands for over refs.
func expandTemplate(tmpl []byte, refs []string) (string, error) {
	n := 0
	for i := 0; i < len(tmpl); i++ {
		if tmpl[i] != refMark {
			n++
			continue
		}
		if i+1 == len(tmpl) || int(tmpl[i+1]) >= len(refs) {
			return "", errors.New("eventlog: a message template refers to a string the event does not hold")
		}
		n += len(refs[tmpl[i+1]])
		i++
	}
	var b strings.Builder
	b.Grow(n)
	for i := 0; i < len(tmpl); i++ {
		if tmpl[i] != refMark {
			b.WriteByte(tmpl[i])
			continue
		}
		b.WriteString(refs[tmpl[i+1]])
		i++
	}
	return b.String(), nil
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
	flags, rest := v[1], v[2:]
	var tmpl []byte
	if flags&flagMessage != 0 {
		var n int
		if tmpl, n = protowire.ConsumeBytes(rest); n < 0 {
			return nil, fmt.Errorf("eventlog: event %d: malformed message template", seq)
		}
		rest = rest[n:]
	}
	var actorOff, actorNum uint64
	if flags&flagActorField != 0 {
		var n, m int
		actorOff, n = protowire.ConsumeVarint(rest)
		if n >= 0 {
			actorNum, m = protowire.ConsumeVarint(rest[n:])
		}
		if n < 0 || m < 0 || actorNum < 1 || actorNum > uint64(protowire.MaxValidNumber) {
			return nil, fmt.Errorf("eventlog: event %d: malformed actor field", seq)
		}
		rest = rest[n+m:]
	}
	if err := proto.Unmarshal(rest, ev); err != nil {
		return nil, err
	}
	ev.Sequence, ev.Source, ev.LogId = seq, source, id
	if flags&flagOrganization != 0 {
		ev.Organization = resourcename.OrganizationOf(ev.GetResource())
	}
	if flags&(flagAction|flagMessage) != 0 && ev.Audit == nil {
		ev.Audit = &eventlogv1.AuditEnvelope{}
	}
	if flags&flagAction != 0 {
		ev.Audit.Action = ev.GetType()
	}
	if flags&(flagTypeURL|flagDataType|flagName|flagActorField) != 0 && ev.Data == nil {
		ev.Data = &anypb.Any{}
	}
	switch {
	case flags&flagTypeURL != 0:
		ev.Data.TypeUrl = typeURLPrefix + ev.Data.TypeUrl
	case flags&flagDataType != 0:
		ev.Data.TypeUrl = typeURLPrefix + dataTypeOf(ev.GetType())
	}
	if flags&flagActorField != 0 {
		value := ev.Data.Value
		if actorOff > uint64(len(value)) {
			return nil, fmt.Errorf("eventlog: event %d: malformed actor field", seq)
		}
		field := stringField(protowire.Number(actorNum), ev.GetAudit().GetActor())
		restored := make([]byte, 0, len(value)+len(field))
		restored = append(append(append(restored, value[:actorOff]...), field...), value[actorOff:]...)
		ev.Data.Value = restored
	}
	if flags&flagName != 0 {
		name := ev.GetResource()
		value := make([]byte, 0, len(name)+protowire.SizeVarint(uint64(len(name)))+1+len(ev.Data.Value))
		value = protowire.AppendString(append(value, nameTag), name)
		ev.Data.Value = append(value, ev.Data.Value...)
	}
	if flags&flagMessage != 0 {
		msg, err := expandTemplate(tmpl, refStrings(ev))
		if err != nil {
			return nil, err
		}
		ev.Audit.Message = msg
	}
	return ev, nil
}
