package backend

import (
	"slices"

	accessv1 "steward.dev/gen/steward/access/v1"
	auditv1 "steward.dev/gen/steward/audit/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	licensingv1 "steward.dev/gen/steward/licensing/v1"
	"steward.dev/pkg/authz"
)

// Names of the suite's services, as they authenticate to each other
// ("services/<name>").
const (
	Directory = "directory"
	Access    = "access"
	Licensing = "licensing"
	Audit     = "audit"
	Gateway   = "gateway"
	// Operator is the installation's operator: not a process but a
	// person's credential, made by the launcher like the services', for the
	// few installation-level calls (rotating the token signing keys,
	// creating and changing license pools, deciding license requests). It
	// is a member of no organization.
	Operator = "operator"
)

// ServiceNames are the identities of the suite, each with its own
// credential: the five processes and the operator.
var ServiceNames = []string{Directory, Access, Licensing, Audit, Gateway, Operator}

// Methods services call on each other.
var (
	readLog = []string{
		eventlogv1.EventLogService_Watch_FullMethodName,
		eventlogv1.EventLogService_ListEvents_FullMethodName,
		eventlogv1.EventLogService_AcknowledgeEvents_FullMethodName,
	}
	checkPermissions = []string{
		accessv1.AccessService_CheckPermission_FullMethodName,
		accessv1.AccessService_BatchCheckPermission_FullMethodName,
	}
	verifyCredential = directoryv1.DirectoryService_VerifyCredential_FullMethodName
	// exportSnapshot is what a follower of the directory resyncs from.
	exportSnapshot = directoryv1.DirectoryService_ExportSnapshot_FullMethodName
)

// SuitePolicy is what each of Steward's services may call of the others
// (issue 9 item 10). A method not granted here is PermissionDenied to a
// service, whatever its rule; a granted method with permissions is allowed
// to a service on its own account, and held to the end user's permissions
// when the service acts for one (x-steward-actor):
//
//   - directory -> access: CheckPermission and BatchCheckPermission (its own
//     permission rules), ExplainPermissions (which Administrator roles a
//     user holds, R4), CheckMembershipChange and BatchCheckMembershipChange
//     (may the acting user grant a group's roles, R17);
//   - access -> directory: VerifyCredential (bearer credentials), the
//     directory's event log (access follows it) and its snapshot (to resync);
//   - licensing -> directory: VerifyCredential, the event log (user
//     lifecycle) and the snapshot; licensing -> access: CheckPermission,
//     BatchCheckPermission;
//   - audit -> directory: VerifyCredential; audit -> access:
//     CheckPermission, BatchCheckPermission; audit -> directory, access,
//     licensing: their event logs (the audit trail);
//   - gateway: nothing. Its credential only vouches for the client address
//     it forwards (authn.MDProxyAuthorization);
//   - operator -> directory: RotateSigningKeys; operator -> licensing: the
//     pools and license requests of every organization (CreateLicensePool,
//     UpdateLicensePool, FulfillLicenseRequest, RejectLicenseRequest,
//     ListLicenseRequests, GetLicensePool, ListLicensePools): only the
//     operator changes what an organization holds (R21); operator -> audit:
//     GetIngestionStatus (how far audit is behind each log, and how often
//     it lost events, R28).
//
// Following a log includes acknowledging it (durable consumers).
var SuitePolicy = authz.NewServicePolicy(
	authz.Grant{Caller: Directory, Callee: Access, Methods: slices.Concat(checkPermissions, []string{
		accessv1.AccessService_ExplainPermissions_FullMethodName,
		accessv1.AccessService_CheckMembershipChange_FullMethodName,
		accessv1.AccessService_BatchCheckMembershipChange_FullMethodName,
	})},

	authz.Grant{Caller: Access, Callee: Directory, Methods: slices.Concat([]string{verifyCredential, exportSnapshot}, readLog)},

	authz.Grant{Caller: Licensing, Callee: Directory, Methods: slices.Concat([]string{verifyCredential, exportSnapshot}, readLog)},
	authz.Grant{Caller: Licensing, Callee: Access, Methods: checkPermissions},

	authz.Grant{Caller: Audit, Callee: Directory, Methods: slices.Concat([]string{verifyCredential}, readLog)},
	authz.Grant{Caller: Audit, Callee: Access, Methods: slices.Concat(checkPermissions, readLog)},
	authz.Grant{Caller: Audit, Callee: Licensing, Methods: readLog},

	authz.Grant{Caller: Operator, Callee: Directory, Methods: []string{directoryv1.DirectoryService_RotateSigningKeys_FullMethodName}},
	authz.Grant{Caller: Operator, Callee: Licensing, Methods: []string{
		licensingv1.LicensingService_CreateLicensePool_FullMethodName,
		licensingv1.LicensingService_UpdateLicensePool_FullMethodName,
		licensingv1.LicensingService_FulfillLicenseRequest_FullMethodName,
		licensingv1.LicensingService_RejectLicenseRequest_FullMethodName,
		licensingv1.LicensingService_ListLicenseRequests_FullMethodName,
		licensingv1.LicensingService_GetLicensePool_FullMethodName,
		licensingv1.LicensingService_ListLicensePools_FullMethodName,
	}},
	authz.Grant{Caller: Operator, Callee: Audit, Methods: []string{auditv1.AuditService_GetIngestionStatus_FullMethodName}},
)
