package domain

// The store layout of licensing: every key range of its store, in one
// place. Records are stored under a prefix followed by their resource name,
// so an organization's records of a kind are one key range. The event log
// keeps its own under "eventlog/" (pkg/eventlog), including the cursor of
// the directory feed ("eventlog/cursor/licensing-directory").
const (
	// poolPrefix + pool name -> licensingv1.LicensePool.
	poolPrefix = "pool/"
	// seatsPrefix + pool name -> the number of the pool's seats assigned,
	// 8 bytes big-endian. Every assignment and unassignment changes it in
	// its own transaction, so a pool never hands out more than it holds.
	seatsPrefix = "seats/"
	// requestPrefix + license request name -> licensingv1.LicenseRequest.
	requestPrefix = "req/"
	// assignmentPrefix + assignment name -> licensingv1.LicenseAssignment.
	assignmentPrefix = "asg/"
	// byMember + member + "|" + product number -> assignment name: a member
	// holds at most one license per product.
	byMember = "x/member/"
	// byPool + pool + "|" + assignment name -> "".
	byPool = "x/pool/"
	// idempotencyPrefix + actor name + "/" + request_id -> records
	// idempotency (the caller's own request IDs).
	idempotencyPrefix = "i/"

	// The directory facts licensing follows (directory.go), written with
	// the feed's cursor.

	// dirOrgPrefix + organization name -> "": organizations signed up (and
	// given their trial pools).
	dirOrgPrefix = "dir/org/"
	// dirMemberPrefix + member name -> memberActive or memberInactive: the
	// users and robot accounts that may hold licenses.
	dirMemberPrefix = "dir/member/"
)

// States of a member under dirMemberPrefix.
const (
	memberActive   = "active"
	memberInactive = "inactive"
)
