package eventlog

import (
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
)

// EventType is a service's EventType enum (directoryv1.EventType, ...): each
// value carries its Event.type string in the steward.eventlog.v1.event_type
// option.
type EventType interface {
	~int32
	protoreflect.Enum
}

// TypeName returns the Event.type string of t ("directory.user.created"), ""
// for a value without one (the UNSPECIFIED value).
func TypeName(t protoreflect.Enum) string {
	v := t.Descriptor().Values().ByNumber(t.Number())
	if v == nil {
		return ""
	}
	name, _ := proto.GetExtension(v.Options(), eventlogv1.E_EventType).(string)
	return name
}

// typeTables caches, per enum, the values by their Event.type string.
var typeTables sync.Map // protoreflect.FullName -> map[string]protoreflect.EnumNumber

// ParseType returns the value of the EventType enum T whose Event.type string
// is name, and false (with T's zero value) when T has none: a consumer
// switches on the result and ignores types it does not follow.
func ParseType[T EventType](name string) (T, bool) {
	var zero T
	desc := zero.Descriptor()
	table, ok := typeTables.Load(desc.FullName())
	if !ok {
		m := make(map[string]protoreflect.EnumNumber, desc.Values().Len())
		for i := range desc.Values().Len() {
			v := desc.Values().Get(i)
			if n, _ := proto.GetExtension(v.Options(), eventlogv1.E_EventType).(string); n != "" {
				m[n] = v.Number()
			}
		}
		table, _ = typeTables.LoadOrStore(desc.FullName(), m)
	}
	n, ok := table.(map[string]protoreflect.EnumNumber)[name]
	if !ok {
		return zero, false
	}
	return T(n), true
}
