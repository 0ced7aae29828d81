package authz

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// ScopeOf returns the value of the string field of msg at path, a dot
// separated list of field names such as "parent" or "user.name". Unset
// fields, including unset parent messages, yield "".
func ScopeOf(msg proto.Message, path string) (string, error) {
	m := msg.ProtoReflect()
	if err := checkScopeField(m.Descriptor(), path); err != nil {
		return "", err
	}
	names := strings.Split(path, ".")
	for _, name := range names[:len(names)-1] {
		m = m.Get(m.Descriptor().Fields().ByName(protoreflect.Name(name))).Message()
	}
	return m.Get(m.Descriptor().Fields().ByName(protoreflect.Name(names[len(names)-1]))).String(), nil
}

// checkScopeField reports an error unless path names a singular string
// field of md, reached through singular message fields.
func checkScopeField(md protoreflect.MessageDescriptor, path string) error {
	names := strings.Split(path, ".")
	for i, name := range names {
		fd := md.Fields().ByName(protoreflect.Name(name))
		last := i == len(names)-1
		switch {
		case fd == nil:
			return fmt.Errorf("authz: scope field %q: %s has no field %q", path, md.FullName(), name)
		case fd.Cardinality() == protoreflect.Repeated:
			return fmt.Errorf("authz: scope field %q: %s is repeated", path, fd.FullName())
		case last && fd.Kind() != protoreflect.StringKind:
			return fmt.Errorf("authz: scope field %q: %s is not a string", path, fd.FullName())
		case !last && fd.Kind() != protoreflect.MessageKind:
			return fmt.Errorf("authz: scope field %q: %s is not a message", path, fd.FullName())
		case !last:
			md = fd.Message()
		}
	}
	return nil
}
