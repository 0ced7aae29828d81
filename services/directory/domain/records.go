package domain

import (
	"errors"
	"strings"

	"google.golang.org/protobuf/proto"

	"steward.dev/pkg/records"
	"steward.dev/pkg/resourcename"
	"steward.dev/pkg/store"
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

// visible fails with ErrNotFound when name lies in another organization than
// the actor's. Services (no organization) see every organization.
func (a Actor) visible(name string) error {
	if a.Organization == "" && strings.HasPrefix(a.Name, "services/") {
		return nil
	}
	if a.Organization == "" || resourcename.OrganizationOf(name) != a.Organization {
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

// listPage pages over the records of direct children under prefix (a
// resource-name prefix such as "organizations/o1/users/"); see
// records.Page.
func listPage[T proto.Message](tx store.ReadTx, prefix, pageToken string, pageSize int32, fingerprint uint64, newT func() T, keep func(T) (bool, error)) ([]T, string, error) {
	return records.Page(tx, []byte(recordPrefix+prefix), true, pageToken, pageSize, fingerprint, newT, keep)
}

// anyKeyUnder reports whether some key starts with prefix.
func anyKeyUnder(tx store.ReadTx, prefix string) (bool, error) {
	found := false
	err := tx.Scan([]byte(prefix), nil, func(_, _ []byte) (bool, error) {
		found = true
		return false, nil
	})
	return found, err
}

// keysUnder returns, in key order, the rest of every key that starts with
// prefix: the members of a group under groupMembers + group + "/", the
// groups of a user under userGroups + user + "/".
func keysUnder(tx store.ReadTx, prefix string) ([]string, error) {
	var rest []string
	err := tx.Scan([]byte(prefix), nil, func(k, _ []byte) (bool, error) {
		rest = append(rest, string(k[len(prefix):]))
		return true, nil
	})
	return rest, err
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

func getStringField(m proto.Message, name string) string { return records.String(m, name) }

// applyMask is records.ApplyMask.
func applyMask(dst, src proto.Message, paths []string, allowed ...string) error {
	return records.ApplyMask(dst, src, paths, allowed...)
}

// maskHas is records.MaskHas.
func maskHas(paths []string, path string) bool { return records.MaskHas(paths, path) }
