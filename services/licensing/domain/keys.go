package domain

// The store layout of licensing: every key range of its store, in one
// place. The lease-token signing key is the single key "leasetoken/key"
// (services/licensing/leasetoken). Records are stored under a prefix followed by their resource name,
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
	// leasePrefix + lease name -> licensingv1.Lease, live or ended; ended
	// leases stay for EndedLeaseRetention (R24).
	leasePrefix = "lease/"
	// leaseExpiry + expire time (8 bytes, Unix ns, big-endian) + lease name
	// -> "": live leases by expiry, for the sweeper.
	leaseExpiry = "x/lexp/"
	// leaseEnded + end time (8 bytes) + lease name -> "": ended leases by
	// end time, for dropping them.
	leaseEnded = "x/lend/"
	// leaseHeld + principal + "|" + product number -> lease name: the
	// principal's one live lease of a product.
	leaseHeld = "x/lheld/"
	// leasedPrefix + pool name -> the pool's live leases, 8 bytes
	// big-endian; changed in the transaction that acquires or ends one, so
	// a concurrent pool never leases more than it holds.
	leasedPrefix = "leased/"
	// serviceLeased + service name + "|" + product number -> live leases
	// of clients connected to the service (R26), 8 bytes.
	serviceLeased = "svcleased/"
	// executionPrefix + execution name -> licensingv1.Execution (R25);
	// deleted when released or expired.
	executionPrefix = "exec/"
	// executionOfUser + user + "|" + execution name -> "".
	executionOfUser = "x/xuser/"
	// executionExpiry + expire time (8 bytes) + execution name -> "".
	executionExpiry = "x/xexp/"
	// trendSeries + organization + "|" + series -> "": the usage series
	// an organization has (a series is "pool:" + pool name or "service:" +
	// service name + "|" + product number).
	trendSeries = "trend/s/"
	// trendLevel + organization + "|" + series -> the series' level now
	// and since when (trend.go); absent while 0.
	trendLevel = "trend/l/"
	// trendHour + organization + "|" + series + "|" + hour start (8 bytes)
	// -> that hour's peak and seat-time (trend.go).
	trendHour = "trend/h/"
	// trendAge + hour start (8 bytes) + trendHour key -> "": hours by age,
	// for dropping those older than the retention.
	trendAge = "x/trend/"
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
