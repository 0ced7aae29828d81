package domain

// The store layout of access: every key range of its store, in one place.
// The event log keeps its own under "eventlog/" (pkg/eventlog), including
// the cursor of the directory feed ("eventlog/cursor/access-directory").
const (
	// rolePrefix + organization + "/" + role ID -> accessv1.Role (custom).
	rolePrefix = "role/"
	// assignmentPrefix + assignment name -> accessv1.RoleAssignment without
	// its name, which the key holds (putAssignment, decodeAssignment;
	// records stored before issue 13 hold it too).
	assignmentPrefix = "ra/"
	// The assignment indexes hold an assignment's reference (assignmentRef):
	// its ID, the rest of its name being the organization the index key
	// names already (issue 13: full names in every key made the indexes
	// a third of the store).

	// byPrincipal + principal + "|" + scope + "|" + role -> reference: a
	// principal's assignments (a scan of principal + "|"), and the one of a
	// role at a scope (a principal holds a role at a scope at most once).
	byPrincipal = "x/p/"
	// byScope + scope + "|" + reference -> "": the assignments at a scope
	// (scope + "|") and below it (scope + "/").
	byScope = "x/s/"
	// byRole + custom role name + "|" + reference -> "": the assignments of
	// a custom role. Built-in roles ("roles/...") are never changed or
	// deleted, so nothing asks for theirs and they are not indexed.
	byRole = "x/r/"
	// layoutKey -> the layout of the assignment indexes, 8 bytes big-endian
	// (indexLayout); absent in stores written before issue 13, whose
	// indexes (x/principal/, x/scope/, x/role/, x/triple/) are rebuilt at
	// open (layout.go).
	layoutKey = "meta/index_layout"
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

	// The history's base snapshot (history_base.go), under "history/".

	// historyMetaKey -> JSON historyBase: the base's positions, time and
	// size.
	historyMetaKey = "history/meta"
	// historyChunkPrefix + 4-byte big-endian index -> a chunk of the base's
	// data (at most 1 MiB).
	historyChunkPrefix = "history/c/"
	// historyResetKey -> why the base must restart from the current state
	// (a resync wrote it, in its transaction).
	historyResetKey = "history/reset"
)

// UnorderedKeyRanges are the key ranges of the store written in no
// particular order, which a store keeps apart in pages split half full
// (bboltstore.Options.Unordered): the indexes by principal and by scope, and
// the members of each group (issue 13: split at 0.9, their pages were 40 %
// full).
var UnorderedKeyRanges = []string{byPrincipal, byScope, dirMemberPrefix}
