// Package domain holds audit's rules (R27-R29 of SPEC.md) in plain Go: it
// turns each event of the directory's, access's and licensing's logs into an
// audit event, appends it to its organization's Merkle log (the ledger) in
// the transaction that advances the consumer's cursor (exactly once, R28),
// stores it with the indexes that answer searches by actor, action, target,
// tenant, outcome, source and time without a scan, and serves those
// searches, the downloads (CSV and JSON lines), checkpoints, proofs and
// verification (R29). It knows nothing of gRPC: callers pass an Actor and
// get generated records or errors matching the sentinels of errors.go,
// which the server maps to API errors.
package domain

import (
	"cmp"
	"context"
	"time"

	"steward.dev/pkg/resourcename"
	"steward.dev/pkg/store"
	"steward.dev/services/audit/ledger"
)

// Options tunes a Service. The zero value is usable.
type Options struct {
	// Clock returns the current time; nil means time.Now. Audit's own
	// notes (a resync's lost events) carry it.
	Clock func() time.Time
	// MinRetention is the shortest retention an organization may set
	// (UpdateAuditSettings); 0 means DefaultMinRetention.
	MinRetention time.Duration
	// PurgeBatch is how many events one purge transaction deletes at most;
	// 0 means DefaultPurgeBatch.
	PurgeBatch int
	// ScanBudget bounds the index entries one page of a search examines;
	// a page that reaches it ends early with a next_page_token (AIP-158
	// allows short pages). 0 means DefaultScanBudget.
	ScanBudget int
}

// DefaultScanBudget is the default Options.ScanBudget: enough for a page
// of 1000 results whose other conditions match one index entry in ten.
const DefaultScanBudget = 10_000

// Service is audit's domain service. It is safe for concurrent use: every
// read is one store transaction (an export, one per chunk), every record
// is written by the consumer's transaction.
type Service struct {
	store        store.Store
	ledger       *ledger.Ledger
	clock        func() time.Time
	scanBudget   int
	minRetention time.Duration
	purgeBatch   int
}

// New returns a Service over the audit store s and the ledger l of its
// Merkle trees (over the same store), which records each event in the
// transaction that stores it.
func New(s store.Store, l *ledger.Ledger, opts Options) *Service {
	svc := &Service{store: s, ledger: l, clock: opts.Clock, scanBudget: opts.ScanBudget,
		minRetention: cmp.Or(opts.MinRetention, DefaultMinRetention), purgeBatch: cmp.Or(opts.PurgeBatch, DefaultPurgeBatch)}
	if svc.clock == nil {
		svc.clock = time.Now
	}
	if svc.scanBudget <= 0 {
		svc.scanBudget = DefaultScanBudget
	}
	return svc
}

// Actor is who asks for an operation.
type Actor struct {
	// Name is the principal's resource name, e.g.
	// "organizations/o1/users/u1" or "services/operator".
	Name string
	// Organization is the principal's organization; empty for Steward's
	// services and the operator, which act across organizations.
	Organization string
	// DisplayName, RequestID and SourceAddress are the principal's display
	// name, the request's ID and the client's network address: what audit
	// records of the downloads it serves (R27).
	DisplayName, RequestID, SourceAddress string
	// APIKey is the name of the API key a robot account or external app
	// called with, if it did.
	APIKey string
}

// Visible returns ErrNotFound when name belongs to another organization
// than the actor's (services see every organization). The authorization
// rule already refused it; this is the domain's own guard.
func (a Actor) Visible(name string) error {
	if a.Organization != "" && resourcename.OrganizationOf(name) != a.Organization {
		return errorf(ErrNotFound, "%s not found", name)
	}
	return nil
}

// view runs fn in one read-only transaction.
func (s *Service) view(ctx context.Context, fn func(tx store.ReadTx) error) error {
	return s.store.View(ctx, fn)
}
