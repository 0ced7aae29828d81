package domain

// Resync from a snapshot of the directory: when access cannot follow the
// directory's log (retention passed its cursor, or the directory came back
// with another log), it rebuilds its copy of the directory facts from the
// directory's snapshot, in one transaction with its new cursor, as if it had
// applied the events it missed: what is gone is deleted (with the events
// its assignments' removal causes), what is new is created (with its
// built-in assignments), what exists is updated.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store"
)

// resyncOrder is the order in which snapshot records are applied, so that a
// record's parents and members exist before it: scopes top-down, principals,
// robots, memberships, then API keys.
var resyncOrder = map[string]int{
	"steward.directory.v1.Organization":    0,
	"steward.directory.v1.Tenant":          1,
	"steward.directory.v1.Service":         2,
	"steward.directory.v1.Folder":          3,
	"steward.directory.v1.Project":         4,
	"steward.directory.v1.User":            5,
	"steward.directory.v1.Group":           6,
	"steward.directory.v1.RobotAccount":    7,
	"steward.directory.v1.ExternalApp":     8,
	"steward.directory.v1.Robot":           9,
	"steward.directory.v1.GroupMembership": 10,
	"steward.directory.v1.ApiKey":          11,
}

// snapshotEvent is the event that brings one snapshot record into the
// facts: its created event when the fact is new, its updated one when it
// exists, with the record as data. Records access does not follow give nil.
func snapshotEvent(m proto.Message, exists bool) (*eventlogv1.Event, error) {
	pick := func(created, updated directoryv1.EventType) directoryv1.EventType {
		if exists {
			return updated
		}
		return created
	}
	var typ directoryv1.EventType
	var name string
	switch r := m.(type) {
	case *directoryv1.Organization:
		typ, name = directoryv1.EventType_EVENT_TYPE_ORGANIZATION_CREATED, r.GetName()
	case *directoryv1.Tenant:
		typ, name = pick(directoryv1.EventType_EVENT_TYPE_TENANT_CREATED, directoryv1.EventType_EVENT_TYPE_TENANT_UPDATED), r.GetName()
	case *directoryv1.Service:
		typ, name = pick(directoryv1.EventType_EVENT_TYPE_SERVICE_CREATED, directoryv1.EventType_EVENT_TYPE_SERVICE_UPDATED), r.GetName()
	case *directoryv1.Folder:
		typ, name = pick(directoryv1.EventType_EVENT_TYPE_FOLDER_CREATED, directoryv1.EventType_EVENT_TYPE_FOLDER_UPDATED), r.GetName()
	case *directoryv1.Project:
		typ, name = pick(directoryv1.EventType_EVENT_TYPE_PROJECT_CREATED, directoryv1.EventType_EVENT_TYPE_PROJECT_UPDATED), r.GetName()
	case *directoryv1.User:
		typ, name = pick(directoryv1.EventType_EVENT_TYPE_USER_CREATED, directoryv1.EventType_EVENT_TYPE_USER_UPDATED), r.GetName()
	case *directoryv1.Group:
		typ, name = pick(directoryv1.EventType_EVENT_TYPE_GROUP_CREATED, directoryv1.EventType_EVENT_TYPE_GROUP_UPDATED), r.GetName()
	case *directoryv1.RobotAccount:
		typ, name = pick(directoryv1.EventType_EVENT_TYPE_ROBOT_ACCOUNT_CREATED, directoryv1.EventType_EVENT_TYPE_ROBOT_ACCOUNT_UPDATED), r.GetName()
	case *directoryv1.ExternalApp:
		typ, name = pick(directoryv1.EventType_EVENT_TYPE_EXTERNAL_APP_CREATED, directoryv1.EventType_EVENT_TYPE_EXTERNAL_APP_UPDATED), r.GetName()
	case *directoryv1.Robot:
		typ, name = pick(directoryv1.EventType_EVENT_TYPE_ROBOT_CREATED, directoryv1.EventType_EVENT_TYPE_ROBOT_UPDATED), r.GetName()
	case *directoryv1.GroupMembership:
		if exists {
			return nil, nil
		}
		typ, name = directoryv1.EventType_EVENT_TYPE_GROUP_MEMBER_ADDED, r.GetGroup()
	case *directoryv1.ApiKey:
		typ, name = pick(directoryv1.EventType_EVENT_TYPE_API_KEY_CREATED, directoryv1.EventType_EVENT_TYPE_API_KEY_UPDATED), r.GetName()
	default:
		return nil, nil
	}
	data, err := anypb.New(m)
	if err != nil {
		return nil, err
	}
	return &eventlogv1.Event{Type: eventlog.TypeName(typ), Resource: name, Data: data}, nil
}

// factKey returns the key of the stored fact a snapshot record stands for,
// "" for records access does not follow.
func factKey(m proto.Message) string {
	switch r := m.(type) {
	case *directoryv1.Organization, *directoryv1.Tenant, *directoryv1.Service, *directoryv1.Folder, *directoryv1.Project:
		return dirScopePrefix + recordName(r)
	case *directoryv1.User, *directoryv1.Group, *directoryv1.RobotAccount, *directoryv1.ExternalApp:
		return dirPrincipalPrefix + recordName(r)
	case *directoryv1.Robot:
		return dirRobotPrefix + r.GetName()
	case *directoryv1.GroupMembership:
		return dirMemberPrefix + r.GetGroup() + "|" + r.GetMember()
	case *directoryv1.ApiKey:
		return dirAPIKeyPrefix + r.GetName()
	}
	return ""
}

// recordName returns a record's resource name.
func recordName(m proto.Message) string {
	return m.ProtoReflect().Get(m.ProtoReflect().Descriptor().Fields().ByName("name")).String()
}

// ResyncDirectory rebuilds access's copy of the directory facts from a
// snapshot of the directory at pos (records as ExportSnapshot streams
// them), and stores pos as consumer's cursor, in one transaction of the
// feed's store: facts absent from the snapshot are deleted, new ones
// created (with the built-in assignments their creation calls for), the
// others updated, each through the same rules as the event it stands for.
// It asks the history for a new base (historyResetKey).
func (s *Service) ResyncDirectory(ctx context.Context, consumer string, pos eventlog.Position, records []proto.Message) error {
	sorted := append([]proto.Message(nil), records...)
	sort.SliceStable(sorted, func(i, j int) bool {
		oi, oj := resyncOrder[string(sorted[i].ProtoReflect().Descriptor().FullName())], resyncOrder[string(sorted[j].ProtoReflect().Descriptor().FullName())]
		if oi != oj {
			return oi < oj
		}
		return factKey(sorted[i]) < factKey(sorted[j]) // parents before children
	})
	keep := make(map[string]bool, len(sorted))
	for _, m := range sorted {
		if k := factKey(m); k != "" {
			keep[k] = true
		}
	}
	return s.FeedStore().Update(ctx, func(tx store.Tx) error {
		t := s.begin(tx, directoryActor)
		if err := t.dropFactsNotIn(keep); err != nil {
			return err
		}
		for _, m := range sorted {
			k := factKey(m)
			if k == "" {
				continue
			}
			_, err := t.Get([]byte(k))
			exists := err == nil
			if err != nil && !isNotFound(err) {
				return err
			}
			ev, err := snapshotEvent(m, exists)
			if err != nil {
				return err
			}
			if ev == nil {
				continue
			}
			if err := t.applyDirectoryEvent(ev); err != nil {
				return fmt.Errorf("domain: resync: %s %s: %w", ev.GetType(), ev.GetResource(), err)
			}
		}
		if err := eventlog.PutPosition(tx, consumer, pos); err != nil {
			return err
		}
		// The directory's log does not say what the resync changed: the
		// history's base restarts from the state it leaves (history_roll.go).
		if err := tx.Put([]byte(historyResetKey), []byte("directory resync")); err != nil {
			return err
		}
		t.OnCommit(s.history.wake)
		t.noteCommit()
		return nil
	})
}

// dropFactsNotIn deletes, as their deleted events would, the stored facts
// whose keys keep does not hold: API keys, memberships, robots, principals
// and scopes.
func (t *txn) dropFactsNotIn(keep map[string]bool) error {
	gone := func(prefix string) ([]string, error) {
		keys, err := keysUnder(t, prefix)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, k := range keys {
			if !keep[k] {
				out = append(out, strings.TrimPrefix(k, prefix))
			}
		}
		return out, nil
	}
	deleted := func(typ directoryv1.EventType, resource string, data proto.Message) error {
		ev := &eventlogv1.Event{Type: eventlog.TypeName(typ), Resource: resource}
		if data != nil {
			a, err := anypb.New(data)
			if err != nil {
				return err
			}
			ev.Data = a
		}
		return t.applyDirectoryEvent(ev)
	}
	keys, err := gone(dirAPIKeyPrefix)
	if err != nil {
		return err
	}
	for _, name := range keys {
		if err := deleted(directoryv1.EventType_EVENT_TYPE_API_KEY_DELETED, name, &directoryv1.ApiKey{Name: name}); err != nil {
			return err
		}
	}
	if keys, err = gone(dirMemberPrefix); err != nil {
		return err
	}
	for _, k := range keys {
		group, member, _ := strings.Cut(k, "|")
		if err := t.deleteMembership(group, member); err != nil {
			return err
		}
	}
	if keys, err = gone(dirRobotPrefix); err != nil {
		return err
	}
	for _, name := range keys {
		if err := t.deleteRobot(name); err != nil {
			return err
		}
	}
	if keys, err = gone(dirPrincipalPrefix); err != nil {
		return err
	}
	for _, name := range keys {
		typ := directoryv1.EventType_EVENT_TYPE_USER_DELETED
		switch {
		case strings.Contains(name, "/groups/"):
			typ = directoryv1.EventType_EVENT_TYPE_GROUP_DELETED
		case strings.Contains(name, "/robotAccounts/"):
			typ = directoryv1.EventType_EVENT_TYPE_ROBOT_ACCOUNT_DELETED
		case strings.Contains(name, "/externalApps/"):
			typ = directoryv1.EventType_EVENT_TYPE_EXTERNAL_APP_DELETED
		}
		if err := deleted(typ, name, nil); err != nil {
			return err
		}
	}
	if keys, err = gone(dirScopePrefix); err != nil {
		return err
	}
	for _, name := range keys {
		// Deleting a scope deletes its subtree: a child listed after its
		// parent is gone already.
		if _, err := t.Get([]byte(dirScopePrefix + name)); isNotFound(err) {
			continue
		}
		if err := t.deleteScope(name); err != nil {
			return err
		}
	}
	return nil
}

// isNotFound reports whether err is the store's ErrNotFound.
func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
