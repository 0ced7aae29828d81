package domain

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"

	auditv1 "steward.dev/gen/steward/audit/v1"
	"steward.dev/pkg/store"
	"steward.dev/services/audit/ledger"
)

// checkpointSuffix ends the name of an organization's checkpoint.
const checkpointSuffix = "/auditCheckpoint"

// GetAuditCheckpoint returns the latest signed checkpoint of the
// organization whose checkpoint is name, "organizations/{o}/auditCheckpoint"
// (R28), signing one first when the log grew since the last (so that a
// checkpoint fetched before an export covers every event of it). An
// organization without events gets the checkpoint of the empty log. A
// ledger whose stored tree contradicts its previous checkpoint is refused
// with an error wrapping ledger.ErrTampered.
func (s *Service) GetAuditCheckpoint(ctx context.Context, actor Actor, name string) (*auditv1.Checkpoint, error) {
	log, ok := strings.CutSuffix(name, checkpointSuffix)
	if !ok || !organizationName.MatchString(log) {
		return nil, errorf(ErrNotFound, "%s not found", name)
	}
	if err := actor.Visible(log); err != nil {
		return nil, err
	}
	cp, err := s.ledger.Checkpoint(ctx, log)
	if err != nil {
		return nil, err
	}
	return checkpointProto(cp), nil
}

// Checkpoint signs a checkpoint of every log that grew since its last one
// (the periodic checkpointer) and returns how many it signed. It goes on
// after a log it cannot sign (ledger.ErrTampered), returning the errors
// joined.
func (s *Service) Checkpoint(ctx context.Context) (int, error) {
	logs, err := s.ledger.Stale(ctx)
	if err != nil {
		return 0, err
	}
	var errs []error
	n := 0
	for _, log := range logs {
		if _, err := s.ledger.Checkpoint(ctx, log); err != nil {
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// checkpointProto returns cp as the API's Checkpoint.
func checkpointProto(cp ledger.Checkpoint) *auditv1.Checkpoint {
	return &auditv1.Checkpoint{Origin: cp.Origin, TreeSize: cp.Size, RootHash: cp.Root[:], SignedNote: string(cp.Note)}
}

// treeSize returns the tree size a proof is asked against: requested, or
// when 0 the latest checkpoint's (signed now if the log grew). A size
// beyond the latest checkpoint is ErrTreeSizeUnavailable with metadata
// "tree_size": a client can only check a root it holds a signature for.
func (s *Service) treeSize(ctx context.Context, log, field string, requested int64) (int64, error) {
	cp, err := s.ledger.Checkpoint(ctx, log)
	if err != nil {
		return 0, err
	}
	switch {
	case requested == 0:
		return cp.Size, nil
	case requested > cp.Size:
		return 0, errorWith(ErrTreeSizeUnavailable, map[string]string{"tree_size": strconv.FormatInt(requested, 10), "field": field},
			"%s %d is beyond the latest checkpoint of %s (size %d)", field, requested, log, cp.Size)
	}
	return requested, nil
}

// GetInclusionProof proves that the event named req.Name is in its
// organization's log of size req.TreeSize (0: the latest checkpoint's),
// RFC 9162 section 2.1.3: the hashes from the leaf to the root, with the
// leaf's hash (tlog.RecordHash of the event's leaf). An event that does
// not exist is ErrNotFound; a tree size beyond the latest checkpoint
// ErrTreeSizeUnavailable; one that does not hold the event a *FieldError
// on tree_size.
func (s *Service) GetInclusionProof(ctx context.Context, actor Actor, req *auditv1.GetInclusionProofRequest) (*auditv1.InclusionProof, error) {
	if _, err := s.GetAuditEvent(ctx, actor, req.GetName()); err != nil {
		return nil, err
	}
	log, index, _ := parseEventName(req.GetName())
	n, err := s.treeSize(ctx, log, "tree_size", req.GetTreeSize())
	if err != nil {
		return nil, err
	}
	if index >= n {
		if req.GetTreeSize() == 0 {
			// Recorded after the checkpoint was signed a moment ago.
			return nil, errorWith(ErrTreeSizeUnavailable, map[string]string{"tree_size": strconv.FormatInt(index+1, 10), "field": "tree_size"},
				"%s is not covered by the latest checkpoint yet (size %d)", req.GetName(), n)
		}
		return nil, fieldError("tree_size", "must be greater than the event's index %d", index)
	}
	proof, leaf, err := s.ledger.ProveInclusion(ctx, log, index, n)
	if err != nil {
		return nil, err
	}
	return &auditv1.InclusionProof{Index: index, TreeSize: n, Hashes: hashes(proof), LeafHash: leaf[:]}, nil
}

// GetConsistencyProof proves that the organization's log of size
// req.FirstTreeSize is a prefix of its log of size req.SecondTreeSize (0:
// the latest checkpoint's), RFC 9162 section 2.1.4. A second size beyond
// the latest checkpoint is ErrTreeSizeUnavailable; a first size above the
// second a *FieldError on first_tree_size.
func (s *Service) GetConsistencyProof(ctx context.Context, actor Actor, req *auditv1.GetConsistencyProofRequest) (*auditv1.ConsistencyProof, error) {
	log := req.GetParent()
	if err := s.checkOrganization(actor, log); err != nil {
		return nil, err
	}
	m, err := s.treeSize(ctx, log, "second_tree_size", req.GetSecondTreeSize())
	if err != nil {
		return nil, err
	}
	n := req.GetFirstTreeSize()
	switch {
	case n < 1:
		return nil, fieldError("first_tree_size", "must be at least 1")
	case n > m:
		if req.GetSecondTreeSize() == 0 {
			return nil, errorWith(ErrTreeSizeUnavailable, map[string]string{"tree_size": strconv.FormatInt(n, 10), "field": "first_tree_size"},
				"first_tree_size %d is beyond the latest checkpoint of %s (size %d)", n, log, m)
		}
		return nil, fieldError("first_tree_size", "must not be greater than second_tree_size %d", m)
	}
	proof, err := s.ledger.ProveConsistency(ctx, log, n, m)
	if err != nil {
		return nil, err
	}
	return &auditv1.ConsistencyProof{FirstTreeSize: n, SecondTreeSize: m, Hashes: hashes(proof)}, nil
}

// hashes returns the hashes of a proof as byte slices.
func hashes[P ~[]tlog.Hash](proof P) [][]byte {
	out := make([][]byte, len(proof))
	for i := range proof {
		out[i] = proof[i][:]
	}
	return out
}

// VerifyAuditLog re-reads every stored event of the organization
// req.Parent, recomputes its Merkle tree from them and checks it against
// its latest signed checkpoint and the stored hashes (R28: the record
// cannot be altered unnoticed), reporting the first index that fails.
// Events purged by retention are checked by their stored hashes, and the
// purge horizon against the purge event that recorded it (checkHorizon).
// Tampering is the result's to report; the error is for failing to read.
func (s *Service) VerifyAuditLog(ctx context.Context, actor Actor, req *auditv1.VerifyAuditLogRequest) (*auditv1.VerifyAuditLogResponse, error) {
	log := req.GetParent()
	if err := s.checkOrganization(actor, log); err != nil {
		return nil, err
	}
	var h horizon
	res, err := s.ledger.Verify(ctx, log, purgedLeaf(log, &h))
	if err != nil {
		return nil, err
	}
	if res.OK && h.before > 0 {
		// The horizon must be the one the signed history recorded: events
		// deleted outside a purge are tampering too.
		err := s.view(ctx, func(tx store.ReadTx) error {
			now, err := readHorizon(tx, log)
			if err != nil || now != h {
				return err // a purge ran since: its own event records the new horizon
			}
			if why := checkHorizon(tx, log, h); why != "" {
				res.OK = false
				res.FirstFailed, res.Reason = 0, why
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	out := &auditv1.VerifyAuditLogResponse{Ok: res.OK, EventsChecked: res.Checked, FirstFailedIndex: res.FirstFailed, Failure: res.Reason, PurgedBefore: res.Purged}
	if res.Checkpoint.Note != nil {
		out.Checkpoint = checkpointProto(res.Checkpoint)
	}
	if res.OK {
		out.FirstFailedIndex = -1
	}
	return out, nil
}

// checkOrganization returns ErrNotFound unless org is an organization's
// name the actor may see.
func (s *Service) checkOrganization(actor Actor, org string) error {
	if err := actor.Visible(org); err != nil {
		return err
	}
	if !organizationName.MatchString(org) {
		return errorf(ErrNotFound, "%s not found", org)
	}
	return nil
}

// ExportLeafHashes writes the leaf hashes of the organization req.Parent's
// log of size req.TreeSize (0: the latest checkpoint's; beyond it
// ErrTreeSizeUnavailable), 32 bytes each in index order, to emit in pieces
// of about ExportChunkSize bytes: what `steward-audit verify -hashes` reads to name
// the first edited event of an export, and to verify an export that begins
// after events purged by retention. The hashes of purged events are kept,
// so the file always covers the whole tree.
func (s *Service) ExportLeafHashes(ctx context.Context, actor Actor, req *auditv1.ExportLeafHashesRequest, emit func(chunk []byte) error) error {
	log := req.GetParent()
	if err := s.checkOrganization(actor, log); err != nil {
		return err
	}
	n, err := s.treeSize(ctx, log, "tree_size", req.GetTreeSize())
	if err != nil {
		return err
	}
	w := newChunkWriter(emit)
	if err := s.ledger.WriteLeafHashes(ctx, log, n, w); err != nil {
		return err
	}
	return w.flush()
}
