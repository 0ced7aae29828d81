package domain

import (
	"errors"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"steward.dev/pkg/pagetoken"
	"steward.dev/pkg/store"
)

// The store layout. Every key of the directory's own is listed here; the
// event log keeps its keys under "eventlog/".
const (
	// recordPrefix + resource name -> deterministic directoryv1 record.
	recordPrefix = "r/"
	// secretPrefix + user name -> JSON userSecrets (password hash, TOTP).
	secretPrefix = "s/"
	// emailIndex + organization + "/" + lowercased email -> user name.
	emailIndex = "x/email/"
	// subjectIndex + organization + "/" + external subject -> user name.
	subjectIndex = "x/sub/"
	// apiKeyIndex + hex SHA-256 of the secret -> API key name.
	apiKeyIndex = "x/apikey/"
	// departmentIndex + department name + "/" + user name -> "" (the
	// department's users).
	departmentIndex = "x/dept/"
	// groupMembers + group name + "/" + user name -> GroupMembership.
	groupMembers = "m/g/"
	// userGroups + user name + "/" + group name -> "" (reverse index).
	userGroups = "m/u/"
	// idempotencyPrefix + scope + "/" + request_id -> JSON idempotencyRecord.
	idempotencyPrefix = "i/"
)

// recordKey is the store key of the record named name.
func recordKey(name string) []byte { return []byte(recordPrefix + name) }

// get reads the record named name into m; ErrNotFound if there is none.
func get(tx store.ReadTx, name string, m proto.Message) error {
	err := store.GetProto(tx, recordKey(name), m)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(ErrNotFound, "%s not found", name)
	}
	return err
}

// exists reports whether a record named name exists.
func exists(tx store.ReadTx, name string) (bool, error) {
	_, err := tx.Get(recordKey(name))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// put sets m's etag and stores it under its "name" field.
func (t *txn) put(m proto.Message) error {
	setEtag(m)
	return store.PutProto(t.Tx, recordKey(getStringField(m, "name")), m)
}

// del removes the record named name.
func (t *txn) del(name string) error { return t.Delete(recordKey(name)) }

// organizationOf returns the "organizations/{o}" prefix of name, or "".
func organizationOf(name string) string {
	rest, ok := strings.CutPrefix(name, "organizations/")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, "/")
	if id == "" {
		return ""
	}
	return "organizations/" + id
}

// visible fails with ErrNotFound when name lies in another organization than
// the actor's. Services (no organization) see every organization.
func (a Actor) visible(name string) error {
	if a.Organization == "" && strings.HasPrefix(a.Name, "services/") {
		return nil
	}
	if a.Organization == "" || organizationOf(name) != a.Organization {
		return errorf(ErrNotFound, "%s not found", name)
	}
	return nil
}

// parentOf returns name without its last collection/ID pair.
func parentOf(name string) string {
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return ""
	}
	j := strings.LastIndexByte(name[:i], '/')
	if j < 0 {
		return ""
	}
	return name[:j]
}

// defaultPageSize and maxPageSize bound List pages (AIP-158).
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// listPage scans the records under prefix (a resource-name prefix such as
// "organizations/o1/users/") in key order, starting after pageToken, and
// returns up to pageSize of those keep accepts, plus the next page token. Only
// direct children are considered: names with a further "/" after prefix are
// skipped. fingerprint binds the token to the request's other parameters.
func listPage[T proto.Message](tx store.ReadTx, prefix, pageToken string, pageSize int32, fingerprint uint64, newT func() T, keep func(T) (bool, error)) ([]T, string, error) {
	after, err := pagetoken.Decode(pageToken, fingerprint)
	if err != nil {
		return nil, "", fieldError("page_token", "invalid page token (it must come from a previous page of the same request)")
	}
	size := int(pageSize)
	if size <= 0 {
		size = defaultPageSize
	}
	size = min(size, maxPageSize)
	var start []byte
	if after != nil {
		start = append(after, 0)
	}
	var out []T
	var next string
	var lastKey []byte
	err = tx.Scan([]byte(recordPrefix+prefix), start, func(k, v []byte) (bool, error) {
		if strings.Contains(string(k[len(recordPrefix)+len(prefix):]), "/") {
			return true, nil
		}
		if len(out) == size {
			next = pagetoken.Encode(lastKey, fingerprint)
			return false, nil
		}
		m := newT()
		if err := proto.Unmarshal(v, m); err != nil {
			return false, err
		}
		ok, err := keep(m)
		if err != nil || !ok {
			return err == nil, err
		}
		out = append(out, m)
		lastKey = append(lastKey[:0], k...)
		return true, nil
	})
	return out, next, err
}

// hasChildren reports whether any record lies below name.
func hasChildren(tx store.ReadTx, name string) (bool, error) {
	found := false
	err := tx.Scan([]byte(recordPrefix+name+"/"), nil, func(_, _ []byte) (bool, error) {
		found = true
		return false, nil
	})
	return found, err
}

// descendants returns the names of every record below name, deepest first,
// so deleting them in order never leaves an orphan.
func descendants(tx store.ReadTx, name string) ([]string, error) {
	var names []string
	err := tx.Scan([]byte(recordPrefix+name+"/"), nil, func(k, _ []byte) (bool, error) {
		names = append(names, string(k[len(recordPrefix):]))
		return true, nil
	})
	for i, j := 0, len(names)-1; i < j; i, j = i+1, j-1 {
		names[i], names[j] = names[j], names[i]
	}
	return names, err
}

// field returns m's field named name; it panics if there is none (a
// programming error, caught by every test that touches the record).
func field(m proto.Message, name string) protoreflect.FieldDescriptor {
	fd := m.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil {
		panic("domain: " + string(m.ProtoReflect().Descriptor().FullName()) + " has no field " + name)
	}
	return fd
}

func getStringField(m proto.Message, name string) string {
	return m.ProtoReflect().Get(field(m, name)).String()
}

func setStringField(m proto.Message, name, v string) {
	m.ProtoReflect().Set(field(m, name), protoreflect.ValueOfString(v))
}

func clearField(m proto.Message, name string) {
	m.ProtoReflect().Clear(field(m, name))
}

// applyMask copies into dst the fields of src named by paths (AIP-134). An
// empty paths list means every field in allowed; a path outside allowed is a
// FieldError on "update_mask".
func applyMask(dst, src proto.Message, paths []string, allowed ...string) error {
	if len(paths) == 0 {
		paths = allowed
	}
	for _, p := range paths {
		ok := false
		for _, a := range allowed {
			ok = ok || a == p
		}
		if !ok {
			return fieldError("update_mask", "%q cannot be updated; updatable fields: %s", p, strings.Join(allowed, ", "))
		}
	}
	for _, p := range paths {
		fd := field(dst, p)
		if src.ProtoReflect().Has(fd) {
			dst.ProtoReflect().Set(fd, src.ProtoReflect().Get(fd))
		} else {
			dst.ProtoReflect().Clear(fd)
		}
	}
	return nil
}

// maskHas reports whether the update touches path (an empty mask touches
// every allowed field).
func maskHas(paths []string, path string) bool {
	if len(paths) == 0 {
		return true
	}
	for _, p := range paths {
		if p == path {
			return true
		}
	}
	return false
}
