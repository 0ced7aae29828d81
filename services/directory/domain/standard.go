package domain

// The steps of the standard methods (AIP-131 to AIP-135) that the
// directory's records share. getRecord, createRecord, updateRecord and
// deleteRecord run a whole method: visibility, the transaction, the etag,
// storage and the event; listRecords the transaction and sequence of a
// List. What is particular to a resource (its required fields, references,
// refusals, side records, filters) stays at its call site, in the hooks
// they take.

import (
	"context"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"steward.dev/pkg/change"
	"steward.dev/pkg/records"
	"steward.dev/pkg/store"
)

// getRecord reads the record named name into m, after checking the actor may
// see it.
func getRecord[T proto.Message](ctx context.Context, s *Service, actor Actor, name string, m T) (T, error) {
	var zero T
	if err := actor.visible(name); err != nil {
		return zero, err
	}
	if _, err := s.view(ctx, func(tx store.ReadTx) error { return get(tx, name, m) }); err != nil {
		return zero, err
	}
	return m, nil
}

// listRecords runs fill, which reads a page of a List into resp, in one read
// transaction, and sets resp's sequence field to the event-log sequence that
// transaction reflects: a consumer takes the page as a snapshot and watches
// the log from there.
func listRecords[R proto.Message](ctx context.Context, s *Service, resp R, fill func(tx store.ReadTx) error) (R, error) {
	var zero R
	seq, err := s.view(ctx, fill)
	if err != nil {
		return zero, err
	}
	m := resp.ProtoReflect()
	fd := m.Descriptor().Fields().ByName("sequence")
	if fd == nil || fd.Kind() != protoreflect.Uint64Kind {
		panic("domain: " + string(m.Descriptor().FullName()) + " has no uint64 field sequence")
	}
	m.Set(fd, protoreflect.ValueOfUint64(seq))
	return resp, nil
}

// mustExist fails with ErrNotFound unless a record named name exists (the
// parent of a create).
func mustExist(tx store.ReadTx, name string) error {
	ok, err := exists(tx, name)
	if err != nil {
		return err
	}
	if !ok {
		return errorf(ErrNotFound, "%s not found", name)
	}
	return nil
}

// mustNotExist fails with ErrAlreadyExists when a record named name exists.
func mustNotExist(tx store.ReadTx, name string) error {
	ok, err := exists(tx, name)
	if err != nil {
		return err
	}
	if ok {
		return errorf(ErrAlreadyExists, "%s already exists", name)
	}
	return nil
}

// idOrNew returns id, or a new random ID when the client chose none.
func idOrNew(id string) string {
	if id == "" {
		return change.NewID()
	}
	return id
}

// insert stores the new record rec, refusing a taken name, and emits its
// created event of type typ.
func (t *txn) insert(rec proto.Message, typ, message string) error {
	if err := mustNotExist(t, getStringField(rec, "name")); err != nil {
		return err
	}
	if err := t.put(rec); err != nil {
		return err
	}
	return t.created(typ, rec, message)
}

// remove deletes the record rec and emits its deleted event of type typ.
func (t *txn) remove(rec proto.Message, typ, message string) error {
	if err := t.del(getStringField(rec, "name")); err != nil {
		return err
	}
	return t.deleted(typ, rec, message)
}

// recordCreate is a create of one record for createRecord.
type recordCreate[T proto.Message] struct {
	// req is the create request, requestID its request_id (AIP-155).
	req       proto.Message
	requestID string
	// parent must exist. The new record is named parent + collection + id
	// (collection as "/tenants/"), with a new ID when id is empty.
	parent, collection, id string
	// check, if not nil, applies the resource's rules once the parent is
	// found, and may refuse the create.
	check func(t *txn) error
	// build returns the new record, named name.
	build func(t *txn, name string) T
	// after, if not nil, runs once the record and its event are stored, in
	// the same transaction: the records a new one comes with (a service's
	// Shared folder), each with its own event.
	after func(t *txn, rec T) error
	// typ is the type of the created event; message returns its audit text.
	typ     string
	message func(rec T) string
}

// createRecord runs the create c: the actor must see the parent; then, in
// one transaction made retryable by the request_id, the parent must exist,
// c.check may refuse, the name must be free, and the record built by
// c.build is stored with its created event. resp, an empty record, receives
// the record (or the one of the first attempt, on a retry).
func createRecord[T proto.Message](ctx context.Context, s *Service, actor Actor, resp T, c recordCreate[T]) (T, error) {
	var zero T
	if err := actor.visible(c.parent); err != nil {
		return zero, err
	}
	_, err := s.update(ctx, actor, func(t *txn) error {
		_, err := t.idempotent(c.requestID, c.req, resp, func() error {
			if err := mustExist(t, c.parent); err != nil {
				return err
			}
			if c.check != nil {
				if err := c.check(t); err != nil {
					return err
				}
			}
			rec := c.build(t, c.parent+c.collection+idOrNew(c.id))
			if err := t.insert(rec, c.typ, c.message(rec)); err != nil {
				return err
			}
			if c.after != nil {
				if err := c.after(t, rec); err != nil {
					return err
				}
			}
			// resp may hold an earlier attempt's record when the store
			// retries the transaction.
			proto.Reset(resp)
			proto.Merge(resp, rec)
			return nil
		})
		return err
	})
	if err != nil {
		return zero, err
	}
	return resp, nil
}

// recordUpdate is an update of one record for updateRecord.
type recordUpdate[T proto.Message] struct {
	// name names the record; etag, when not empty, must be its current
	// etag (AIP-154).
	name, etag string
	// edit makes next, a copy of the current record cur, the updated
	// record: it applies the update mask (AIP-134) and the resource's rules,
	// and may refuse the update.
	edit func(t *txn, cur, next T) error
	// typ is the type of the updated event; message returns its audit text.
	typ     string
	message func(next T) string
}

// updateRecord runs the update u in one transaction: the actor must see the
// record, which must exist and match the etag; u.edit makes the updated
// record, which is stored with a new update_time and etag and its updated
// event. An update that changes nothing writes nothing, emits no event and
// returns the record as it is. cur is an empty record to read into.
func updateRecord[T proto.Message](ctx context.Context, s *Service, actor Actor, cur T, u recordUpdate[T]) (T, error) {
	var zero T
	if err := actor.visible(u.name); err != nil {
		return zero, err
	}
	var out T
	_, err := s.update(ctx, actor, func(t *txn) error {
		if err := get(t, u.name, cur); err != nil {
			return err
		}
		if err := checkEtag(cur, u.etag); err != nil {
			return err
		}
		next := proto.Clone(cur).(T)
		if err := u.edit(t, cur, next); err != nil {
			return err
		}
		if proto.Equal(cur, next) {
			out = cur
			return nil
		}
		records.SetTime(next, "update_time", t.Now)
		if err := t.put(next); err != nil {
			return err
		}
		out = next
		return t.updated(u.typ, next, u.message(next))
	})
	if err != nil {
		return zero, err
	}
	return out, nil
}

// deleteRecord runs a delete in one transaction: the actor must see the
// record named name, which must exist and match etag (when not empty);
// remove then applies the resource's rules, deletes the record and what
// depends on it and emits the events. cur is an empty record to read into.
func deleteRecord[T proto.Message](ctx context.Context, s *Service, actor Actor, name, etag string, cur T, remove func(t *txn, cur T) error) error {
	if err := actor.visible(name); err != nil {
		return err
	}
	_, err := s.update(ctx, actor, func(t *txn) error {
		if err := get(t, name, cur); err != nil {
			return err
		}
		if err := checkEtag(cur, etag); err != nil {
			return err
		}
		return remove(t, cur)
	})
	return err
}
