package domain

// The store layout of access: every key range of its store, in one place.
// The event log keeps its own under "eventlog/" (pkg/eventlog), including
// the cursor of the directory feed ("eventlog/cursor/access-directory").
const (
	// rolePrefix + organization + "/" + role ID -> accessv1.Role (custom).
	rolePrefix = "role/"
	// assignmentPrefix + assignment name -> accessv1.RoleAssignment.
	assignmentPrefix = "ra/"
	// byPrincipal + principal + "|" + assignment name -> "".
	byPrincipal = "x/principal/"
	// byScope + scope + "|" + assignment name -> "".
	byScope = "x/scope/"
	// byRole + role name + "|" + assignment name -> "".
	byRole = "x/role/"
	// byTriple + principal + "|" + role + "|" + scope -> assignment name:
	// a principal holds a role at a scope at most once.
	byTriple = "x/triple/"
	// usagePrefix + robot usage scope name -> accessv1.RobotUsageScope.
	usagePrefix = "usage/"
	// idempotencyPrefix + actor name + "/" + request_id -> records
	// idempotency (the caller's own request IDs).
	idempotencyPrefix = "i/"

	// The directory facts access follows (directory.go, apikeys.go), all
	// under "dir/", written with the feed's cursor.

	// dirPrincipalPrefix + principal name -> JSON dirPrincipal.
	dirPrincipalPrefix = "dir/p/"
	// dirScopePrefix + scope name -> JSON dirScope.
	dirScopePrefix = "dir/s/"
	// dirMemberPrefix + group + "|" + member -> "".
	dirMemberPrefix = "dir/m/"
	// dirMemberOfPrefix + member + "|" + group -> "".
	dirMemberOfPrefix = "dir/mo/"
	// dirRobotPrefix + robot name -> JSON dirRobot.
	dirRobotPrefix = "dir/r/"
	// dirServicePrefix + service name -> the service's type.
	dirServicePrefix = "dir/svc/"
	// dirSharedPrefix + service name -> sharedPending or sharedDone (the
	// state of the service's Shared folder).
	dirSharedPrefix = "dir/shared/"
	// dirAPIKeyPrefix + key name -> JSON dirAPIKey, while the key is live.
	dirAPIKeyPrefix = "dir/k/"
)
