package domain

import (
	licensingv1 "steward.dev/gen/steward/licensing/v1"
	"steward.dev/pkg/eventlog"
)

// Event types of licensing's event log, as the strings of
// licensingv1.EventType (proto/steward/licensing/v1/events.proto, the
// contract consumers use). The event's data is the record after the change
// (before it, for deletions).
var (
	TypePoolCreated       = eventlog.TypeName(licensingv1.EventType_EVENT_TYPE_LICENSE_POOL_CREATED)
	TypePoolUpdated       = eventlog.TypeName(licensingv1.EventType_EVENT_TYPE_LICENSE_POOL_UPDATED)
	TypeRequestCreated    = eventlog.TypeName(licensingv1.EventType_EVENT_TYPE_LICENSE_REQUEST_CREATED)
	TypeRequestFulfilled  = eventlog.TypeName(licensingv1.EventType_EVENT_TYPE_LICENSE_REQUEST_FULFILLED)
	TypeRequestRejected   = eventlog.TypeName(licensingv1.EventType_EVENT_TYPE_LICENSE_REQUEST_REJECTED)
	TypeLicenseAssigned   = eventlog.TypeName(licensingv1.EventType_EVENT_TYPE_LICENSE_ASSIGNED)
	TypeAssignmentUpdated = eventlog.TypeName(licensingv1.EventType_EVENT_TYPE_LICENSE_ASSIGNMENT_UPDATED)
	TypeLicenseUnassigned = eventlog.TypeName(licensingv1.EventType_EVENT_TYPE_LICENSE_UNASSIGNED)
	TypeLeaseAcquired     = eventlog.TypeName(licensingv1.EventType_EVENT_TYPE_LEASE_ACQUIRED)
	TypeLeaseRenewed      = eventlog.TypeName(licensingv1.EventType_EVENT_TYPE_LEASE_RENEWED)
	TypeLeaseEnded        = eventlog.TypeName(licensingv1.EventType_EVENT_TYPE_LEASE_ENDED)
	TypeExecutionAcquired = eventlog.TypeName(licensingv1.EventType_EVENT_TYPE_EXECUTION_ACQUIRED)
	TypeExecutionReleased = eventlog.TypeName(licensingv1.EventType_EVENT_TYPE_EXECUTION_RELEASED)
)
