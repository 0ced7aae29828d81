package domain

// The store layout of the directory: every key range of its store, in one
// place. The event log keeps its own under "eventlog/" (pkg/eventlog), and
// the token signing keys theirs under "token/keys/" (package token).
const (
	// recordPrefix + resource name -> deterministic directoryv1 record.
	recordPrefix = "r/"
	// secretPrefix + user name -> JSON userSecrets (password hash, TOTP).
	secretPrefix = "s/"
	// emailIndex + organization + "/" + lowercased email -> user name.
	emailIndex = "x/email/"
	// subjectIndex + organization + "/" + external subject -> user name.
	subjectIndex = "x/sub/"
	// apiKeyIndex + hex SHA-256 of the secret -> API key name.
	apiKeyIndex = "x/apikey/"
	// departmentIndex + department name + "/" + user name -> "" (the
	// department's users).
	departmentIndex = "x/dept/"
	// groupMembers + group name + "/" + user name -> GroupMembership.
	groupMembers = "m/g/"
	// userGroups + user name + "/" + group name -> "" (reverse index).
	userGroups = "m/u/"
	// idempotencyPrefix + caller ("anonymous" for public calls) + "/" +
	// request_id -> JSON idempotencyRecord.
	idempotencyPrefix = "i/"
	// migrationPrefix + migration -> "": the data migrations that ran
	// (MigrateSharedFolders).
	migrationPrefix = "migrations/"
	// sessionGenPrefix + user name -> the user's session generation, 8 bytes
	// big-endian (sessions.go). Kept after the user is deleted.
	sessionGenPrefix = "g/"
	// apiKeyCreatorIndex + creator + "|" + key name -> "": the live keys by
	// creator (revoked with their creator).
	apiKeyCreatorIndex = "x/keycreator/"
	// apiKeyCreatorsMigrated -> "": the store was migrated by
	// migrateAPIKeyCreators.
	apiKeyCreatorsMigrated = "x/migrated/apikey-creators"
)
