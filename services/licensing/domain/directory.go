package domain

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	licensingv1 "steward.dev/gen/steward/licensing/v1"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/resourcename"
	"steward.dev/pkg/store"
)

// directoryActor is who changes made for the directory's events are
// recorded as made by.
var directoryActor = Actor{Name: "services/directory", DisplayName: "directory"}

// ApplyDirectoryEvent applies one event of the directory's log in tx, the
// transaction that advances licensing's cursor (backend.Follow): a new
// organization gets its trial pools (R21); users and robot accounts become
// members that may hold licenses; a deleted member loses its licenses
// (R22; an account-system switch deletes every user but the owner, each
// with its own event, R8). Other events change nothing.
func (s *Service) ApplyDirectoryEvent(tx store.Tx, ev *eventlogv1.Event) error {
	actor := directoryActor
	actor.RequestID = ev.GetAudit().GetRequestId()
	t := s.begin(tx, actor)
	typ, _ := eventlog.ParseType[directoryv1.EventType](ev.GetType())
	switch typ {
	case directoryv1.EventType_EVENT_TYPE_ORGANIZATION_CREATED:
		o := &directoryv1.Organization{}
		if err := decodeEvent(ev, o); err != nil {
			return err
		}
		return t.signUp(o.GetName(), s.trial)

	case directoryv1.EventType_EVENT_TYPE_USER_CREATED, directoryv1.EventType_EVENT_TYPE_USER_UPDATED,
		directoryv1.EventType_EVENT_TYPE_USER_ACTIVATED, directoryv1.EventType_EVENT_TYPE_USER_DEACTIVATED,
		directoryv1.EventType_EVENT_TYPE_USER_PROVISIONED, directoryv1.EventType_EVENT_TYPE_USER_GROUPS_ASSIGNED:
		u := &directoryv1.User{}
		if err := decodeEvent(ev, u); err != nil {
			return err
		}
		if u.GetState() == directoryv1.User_STATE_ACTIVE {
			return t.Put([]byte(dirMemberPrefix+u.GetName()), []byte(memberActive))
		}
		// A deactivated user's clients are signed out at their next
		// renewal, and its jobs lose their locks (R24, R25).
		if err := t.endLeasesOf(u.GetName(), licensingv1.Product_PRODUCT_UNSPECIFIED, licensingv1.Lease_END_REASON_PRINCIPAL_REMOVED); err != nil {
			return err
		}
		if err := t.endExecutionsOf(u.GetName(), "the user was deactivated"); err != nil {
			return err
		}
		return t.Put([]byte(dirMemberPrefix+u.GetName()), []byte(memberInactive))

	case directoryv1.EventType_EVENT_TYPE_ROBOT_ACCOUNT_CREATED:
		ra := &directoryv1.RobotAccount{}
		if err := decodeEvent(ev, ra); err != nil {
			return err
		}
		return t.Put([]byte(dirMemberPrefix+ra.GetName()), []byte(memberActive))

	case directoryv1.EventType_EVENT_TYPE_USER_DELETED, directoryv1.EventType_EVENT_TYPE_ROBOT_ACCOUNT_DELETED:
		if ev.GetResource() == "" {
			return fmt.Errorf("domain: directory event %d (%s) names no resource", ev.GetSequence(), typ)
		}
		return t.removeMember(ev.GetResource())

	case directoryv1.EventType_EVENT_TYPE_ACCOUNT_SYSTEM_SWITCHED:
		if ev.GetResource() == "" {
			return fmt.Errorf("domain: directory event %d (%s) names no resource", ev.GetSequence(), typ)
		}
		return t.releaseOrganization(resourcename.OrganizationOf(ev.GetResource()))
	}
	return nil
}

// releaseOrganization releases every license and lease of org, each with
// its event: the organization switched its account system (R8, 000: every
// license is released). The members the switch deleted lost theirs with
// their deletion events, just before.
func (t *txn) releaseOrganization(org string) error {
	var leases []*licensingv1.Lease
	err := t.Scan([]byte(leasePrefix+org+"/leases/"), nil, func(_, v []byte) (bool, error) {
		l := &licensingv1.Lease{}
		if err := proto.Unmarshal(v, l); err != nil {
			return false, err
		}
		if l.GetEndReason() == licensingv1.Lease_END_REASON_UNSPECIFIED {
			leases = append(leases, l)
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, l := range leases {
		if err := t.endLease(l, licensingv1.Lease_END_REASON_ACCOUNT_SYSTEM_SWITCHED); err != nil {
			return err
		}
	}
	var assignments []*licensingv1.LicenseAssignment
	err = t.Scan([]byte(assignmentPrefix+org+"/licenseAssignments/"), nil, func(_, v []byte) (bool, error) {
		a := &licensingv1.LicenseAssignment{}
		if err := proto.Unmarshal(v, a); err != nil {
			return false, err
		}
		assignments = append(assignments, a)
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, a := range assignments {
		if err := t.unassign(a, licensingv1.Lease_END_REASON_ACCOUNT_SYSTEM_SWITCHED,
			fmt.Sprintf("The %s license of %s (%s) was released: the organization switched its account system.", productWord(a.GetProduct()), a.GetMember(), a.GetPool())); err != nil {
			return err
		}
	}
	return nil
}

// signUp records organization org and gives it its trial pools (R21), once.
func (t *txn) signUp(org string, trial Trial) error {
	if _, err := t.Get([]byte(dirOrgPrefix + org)); err == nil {
		return nil
	}
	if err := t.Put([]byte(dirOrgPrefix+org), nil); err != nil {
		return err
	}
	until := timestamppb.New(t.Now.Add(trial.Validity))
	for _, p := range []struct {
		product licensingv1.Product
		seats   int32
		id      string
	}{
		{licensingv1.Product_PRODUCT_ROBOT, trial.RobotSeats, "trial-robot"},
		{licensingv1.Product_PRODUCT_EDITOR, trial.EditorSeats, "trial-editor"},
	} {
		if p.seats <= 0 {
			continue
		}
		in := &licensingv1.LicensePool{
			Product: p.product, Edition: trial.Edition, Model: licensingv1.LicenseModel_LICENSE_MODEL_NAMED,
			Quantity: p.seats, ValidUntil: until,
		}
		in.DisplayName = "Trial " + defaultPoolName(in)
		if _, err := t.createPool(org+"/licensePools/"+p.id, in, true); err != nil {
			return err
		}
	}
	return nil
}

// removeMember forgets member, ends its leases and executions and removes
// each of its licenses, with an event each.
func (t *txn) removeMember(member string) error {
	if err := t.Delete([]byte(dirMemberPrefix + member)); err != nil {
		return err
	}
	if err := t.endLeasesOf(member, licensingv1.Product_PRODUCT_UNSPECIFIED, licensingv1.Lease_END_REASON_PRINCIPAL_REMOVED); err != nil {
		return err
	}
	if err := t.endExecutionsOf(member, "the account was deleted"); err != nil {
		return err
	}
	for _, product := range []licensingv1.Product{licensingv1.Product_PRODUCT_ROBOT, licensingv1.Product_PRODUCT_EDITOR} {
		name, err := t.Get([]byte(memberKey(member, product)))
		if errors.Is(err, store.ErrNotFound) {
			continue // no license of product
		}
		if err != nil {
			return err
		}
		a := &licensingv1.LicenseAssignment{}
		if err := get(t, assignmentPrefix+string(name), string(name), a); err != nil {
			return err
		}
		if err := t.unassign(a, licensingv1.Lease_END_REASON_PRINCIPAL_REMOVED, fmt.Sprintf("The %s license of %s (%s) was released: the account was deleted.", productWord(product), member, a.GetPool())); err != nil {
			return err
		}
	}
	return nil
}

// decodeEvent unpacks ev's data into m.
func decodeEvent(ev *eventlogv1.Event, m proto.Message) error {
	if ev.GetData() == nil {
		return fmt.Errorf("domain: directory event %d (%s) has no data", ev.GetSequence(), ev.GetType())
	}
	if err := ev.GetData().UnmarshalTo(m); err != nil {
		return fmt.Errorf("domain: directory event %d (%s): %w", ev.GetSequence(), ev.GetType(), err)
	}
	return nil
}
