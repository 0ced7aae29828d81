package domain

// The store layout of audit: every key range of its store, in one place.
//
// Each organization's audit trail is one log, named after the organization
// ("organizations/o1"); events without an organization go to the log
// InstallationLog. A log's events are numbered from 0 by the Merkle ledger
// (services/audit/ledger), which keeps its hashes, checkpoints and signing
// key under "ledger/". The consumers of the followed logs keep their cursors
// under "eventlog/cursor/audit-<source>" (pkg/eventlog), written in the
// transaction that records the events.
//
// Integers in keys are 8 bytes big-endian, so byte order is numeric order;
// times are Unix nanoseconds with the sign bit flipped (timeBytes), so that
// byte order is time order on both sides of 1970.
const (
	// eventPrefix + log + "/" + index -> the event's leaf: the deterministic
	// encoding of its auditv1.AuditEvent without name, exactly the bytes the
	// ledger hashed. Written once, never changed (R28).
	eventPrefix = "ev/"
	// timeIndex + log + "|" + time + index -> "": every event of a log by
	// time, then index.
	timeIndex = "x/time/"
	// fieldIndex + field + "/" + log + "|" + value + "\x00\x00" + time +
	// index -> "": the events whose field (actor, action, target, tenant,
	// outcome, source) has value, by time then index. Values are escaped
	// (indexValue) so that no value's entries fall under another's prefix;
	// empty values are not indexed.
	fieldIndex = "x/"
	// resyncPrefix + source -> how often audit resynced from the source,
	// 8 bytes: the events it could not record (R28) are counted in the
	// InstallationLog event each resync appends.
	resyncPrefix = "resync/"
	// settingsPrefix + log -> the organization's AuditSettings as
	// UpdateAuditSettings stored them (retention, update time, etag).
	settingsPrefix = "settings/"
	// purgePrefix + log -> the purge horizon (horizon): the index before
	// which events were purged, the index of the purge event that recorded
	// it, and when, 8 bytes each. Purged events lose their eventPrefix and
	// index entries; their hashes stay in the ledger.
	purgePrefix = "purge/"
	// ledgerPrefix is the ledger's key range (services/audit/ledger): tree
	// hashes, tree sizes, checkpoints and the checkpoint signing key.
	ledgerPrefix = "ledger/"
)

// InstallationLog is the log of events that belong to no organization
// (installation-level changes, and audit's own notes of events it lost): it
// is recorded and checkpointed like any other, but not listable through
// the organization-scoped API.
const InstallationLog = "installation"
