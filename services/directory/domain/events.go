package domain

import (
	"errors"

	"google.golang.org/protobuf/proto"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/records"
)

// Event types of the directory's event log, as the strings of
// directoryv1.EventType (proto/steward/directory/v1/events.proto, the
// contract consumers use). The event's data is the record after the change
// (before it, for deletions), as a google.protobuf.Any.
var (
	TypeOrganizationCreated   = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_ORGANIZATION_CREATED)
	TypeAccountSystemSwitched = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_ACCOUNT_SYSTEM_SWITCHED)
	TypeTenantCreated         = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_TENANT_CREATED)
	TypeTenantUpdated         = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_TENANT_UPDATED)
	TypeTenantDeleted         = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_TENANT_DELETED)
	TypeServiceCreated        = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_SERVICE_CREATED)
	TypeServiceUpdated        = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_SERVICE_UPDATED)
	TypeServiceDeleted        = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_SERVICE_DELETED)
	TypeFolderCreated         = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_FOLDER_CREATED)
	TypeFolderUpdated         = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_FOLDER_UPDATED)
	TypeFolderDeleted         = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_FOLDER_DELETED)
	TypeProjectCreated        = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_PROJECT_CREATED)
	TypeProjectUpdated        = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_PROJECT_UPDATED)
	TypeProjectDeleted        = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_PROJECT_DELETED)
	TypeDepartmentCreated     = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_DEPARTMENT_CREATED)
	TypeDepartmentUpdated     = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_DEPARTMENT_UPDATED)
	TypeDepartmentDeleted     = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_DEPARTMENT_DELETED)
	TypeUserCreated           = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_USER_CREATED)
	TypeUserUpdated           = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_USER_UPDATED)
	TypeUserDeleted           = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_USER_DELETED)
	TypeUserActivated         = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_USER_ACTIVATED)
	TypeUserDeactivated       = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_USER_DEACTIVATED)
	TypeUserProvisioned       = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_USER_PROVISIONED)
	TypeUserGroupsAssigned    = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_USER_GROUPS_ASSIGNED)
	TypeUserSignedIn          = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_USER_SIGNED_IN)
	TypeSignInFailed          = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_SIGN_IN_FAILED)
	TypeGroupCreated          = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_GROUP_CREATED)
	TypeGroupUpdated          = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_GROUP_UPDATED)
	TypeGroupDeleted          = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_GROUP_DELETED)
	TypeGroupMemberAdded      = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_GROUP_MEMBER_ADDED)
	TypeGroupMemberRemoved    = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_GROUP_MEMBER_REMOVED)
	TypeRobotCreated          = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_ROBOT_CREATED)
	TypeRobotUpdated          = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_ROBOT_UPDATED)
	TypeRobotDeleted          = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_ROBOT_DELETED)
	TypeRobotAccountCreated   = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_ROBOT_ACCOUNT_CREATED)
	TypeRobotAccountUpdated   = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_ROBOT_ACCOUNT_UPDATED)
	TypeRobotAccountDeleted   = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_ROBOT_ACCOUNT_DELETED)
	TypeExternalAppCreated    = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_EXTERNAL_APP_CREATED)
	TypeExternalAppUpdated    = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_EXTERNAL_APP_UPDATED)
	TypeExternalAppDeleted    = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_EXTERNAL_APP_DELETED)
	TypeAPIKeyCreated         = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_API_KEY_CREATED)
	TypeAPIKeyUpdated         = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_API_KEY_UPDATED)
	TypeAPIKeyRevoked         = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_API_KEY_REVOKED)
	TypeAPIKeyDeleted         = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_API_KEY_DELETED)
	TypeTOTPEnrolled          = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_TOTP_ENROLLED)
	TypeSigningKeysRotated    = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_SIGNING_KEYS_ROTATED)
)

// created, updated and deleted are emit for the three operations.
func (t *txn) created(typ string, m proto.Message, message string) error {
	return t.Emit(typ, eventlogv1.Operation_OPERATION_CREATE, getStringField(m, "name"), m, message)
}

func (t *txn) updated(typ string, m proto.Message, message string) error {
	return t.Emit(typ, eventlogv1.Operation_OPERATION_UPDATE, getStringField(m, "name"), m, message)
}

func (t *txn) deleted(typ string, m proto.Message, message string) error {
	return t.Emit(typ, eventlogv1.Operation_OPERATION_DELETE, getStringField(m, "name"), m, message)
}

// idempotent makes a create retryable (records.Idempotent), keyed by the
// actor's name and requestID; without a requestID it just runs do. Each
// caller has their own request IDs: one replaying another's gets neither
// the other's response (an API key's secret, say) nor ErrRequestIDReused.
// Anonymous calls (SignUp) share one scope, where the request itself,
// password aside, must match.
func (t *txn) idempotent(requestID string, req, resp proto.Message, do func() error) (bool, error) {
	replayed, err := t.Idempotent(idempotencyPrefix, requestID, req, resp, do)
	if errors.Is(err, records.ErrRequestIDReused) {
		return false, errorf(ErrRequestIDReused, "request_id %s was used for a different request", requestID)
	}
	return replayed, err
}
