package domain

import (
	"errors"

	"google.golang.org/protobuf/proto"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/records"
)

// Event types of the directory's event log. Consumers (access, licensing,
// audit) switch on them; the event's data is the record after the change
// (before it, for deletions), as a google.protobuf.Any.
const (
	TypeOrganizationCreated   = "directory.organization.created"
	TypeAccountSystemSwitched = "directory.account_system.switched"
	TypeTenantCreated         = "directory.tenant.created"
	TypeTenantUpdated         = "directory.tenant.updated"
	TypeTenantDeleted         = "directory.tenant.deleted"
	TypeServiceCreated        = "directory.service.created"
	TypeServiceUpdated        = "directory.service.updated"
	TypeServiceDeleted        = "directory.service.deleted"
	TypeFolderCreated         = "directory.folder.created"
	TypeFolderUpdated         = "directory.folder.updated"
	TypeFolderDeleted         = "directory.folder.deleted"
	TypeProjectCreated        = "directory.project.created"
	TypeProjectUpdated        = "directory.project.updated"
	TypeProjectDeleted        = "directory.project.deleted"
	TypeDepartmentCreated     = "directory.department.created"
	TypeDepartmentUpdated     = "directory.department.updated"
	TypeDepartmentDeleted     = "directory.department.deleted"
	TypeUserCreated           = "directory.user.created"
	TypeUserUpdated           = "directory.user.updated"
	TypeUserDeleted           = "directory.user.deleted"
	TypeUserActivated         = "directory.user.activated"
	TypeUserDeactivated       = "directory.user.deactivated"
	TypeUserProvisioned       = "directory.user.provisioned"
	TypeUserGroupsAssigned    = "directory.user.groups_assigned"
	TypeUserSignedIn          = "directory.user.signed_in"
	TypeSignInFailed          = "directory.sign_in.failed"
	TypeGroupCreated          = "directory.group.created"
	TypeGroupUpdated          = "directory.group.updated"
	TypeGroupDeleted          = "directory.group.deleted"
	TypeGroupMemberAdded      = "directory.group_member.added"
	TypeGroupMemberRemoved    = "directory.group_member.removed"
	TypeRobotCreated          = "directory.robot.created"
	TypeRobotUpdated          = "directory.robot.updated"
	TypeRobotDeleted          = "directory.robot.deleted"
	TypeRobotAccountCreated   = "directory.robot_account.created"
	TypeRobotAccountUpdated   = "directory.robot_account.updated"
	TypeRobotAccountDeleted   = "directory.robot_account.deleted"
	TypeExternalAppCreated    = "directory.external_app.created"
	TypeExternalAppUpdated    = "directory.external_app.updated"
	TypeExternalAppDeleted    = "directory.external_app.deleted"
	TypeAPIKeyCreated         = "directory.api_key.created"
	TypeAPIKeyUpdated         = "directory.api_key.updated"
	TypeAPIKeyRevoked         = "directory.api_key.revoked"
	TypeAPIKeyDeleted         = "directory.api_key.deleted"
	TypeTOTPEnrolled          = "directory.user.totp_enrolled"
)

// emit appends an event about resource to the log, in t. data is the record
// (after a create or update, before a delete); message is the audit text a
// person reads, e.g. "User alice was created.".
func (t *txn) emit(typ string, op eventlogv1.Operation, resource string, data proto.Message, message string) error {
	return t.emitEvent(typ, op, resource, data, message, eventlogv1.Outcome_OUTCOME_SUCCESS)
}

// emitOutcome appends an event that records an attempt rather than a
// change, e.g. a refused sign-in (outcome DENIED).
func (t *txn) emitOutcome(typ, resource, message string, outcome eventlogv1.Outcome) error {
	return t.emitEvent(typ, eventlogv1.Operation_OPERATION_UNSPECIFIED, resource, nil, message, outcome)
}

func (t *txn) emitEvent(typ string, op eventlogv1.Operation, resource string, data proto.Message, message string, outcome eventlogv1.Outcome) error {
	ev, err := eventlog.NewEvent(typ, op, resource, data, &eventlogv1.AuditEnvelope{
		Actor:            t.actor.Name,
		ActorDisplayName: t.actor.DisplayName,
		Message:          message,
		RequestId:        t.actor.RequestID,
		Outcome:          outcome,
		SourceAddress:    t.actor.SourceAddress,
	})
	if err != nil {
		return err
	}
	seq, err := t.s.log.Append(t.Tx, ev)
	if err != nil {
		return err
	}
	t.lastSeq = seq
	return nil
}

// created, updated and deleted are emit for the three operations.
func (t *txn) created(typ string, m proto.Message, message string) error {
	return t.emit(typ, eventlogv1.Operation_OPERATION_CREATE, getStringField(m, "name"), m, message)
}

func (t *txn) updated(typ string, m proto.Message, message string) error {
	return t.emit(typ, eventlogv1.Operation_OPERATION_UPDATE, getStringField(m, "name"), m, message)
}

func (t *txn) deleted(typ string, m proto.Message, message string) error {
	return t.emit(typ, eventlogv1.Operation_OPERATION_DELETE, getStringField(m, "name"), m, message)
}

// idempotent makes a create retryable (records.Idempotent), keyed by the
// actor's organization (or name) and requestID; without a requestID it just
// runs do.
func (t *txn) idempotent(requestID string, req, resp proto.Message, do func() error) (bool, error) {
	if requestID == "" {
		return false, do()
	}
	scope := t.actor.Organization
	if scope == "" {
		scope = t.actor.Name
	}
	replayed, err := records.Idempotent(t.Tx, []byte(idempotencyPrefix+scope+"/"+requestID), req, resp, do)
	if errors.Is(err, records.ErrRequestIDReused) {
		return false, errorf(ErrRequestIDReused, "request_id %s was used for a different request", requestID)
	}
	return replayed, err
}
