package domain

// Batch forms of CreateRoleAssignment and CheckMembershipChange (issue 13):
// bulk loading at the cost of one transaction, not one per item, with every
// item checked exactly as its single form checks it (R13, R17).

import (
	"context"

	accessv1 "steward.dev/gen/steward/access/v1"
	"steward.dev/pkg/records"
)

// MaxBatchAssignments bounds the assignments one BatchCreateRoleAssignments
// may ask for (items times their roles), so that one transaction, one
// response and one idempotency record stay a few megabytes at most.
const MaxBatchAssignments = 10000

// batchField is the request field holding a batch's items (AIP-233).
const batchField = "requests"

// BatchCreateRoleAssignments makes every CreateRoleAssignment request of
// req in one transaction, or none of them (AIP-233). Each item is checked
// as CreateRoleAssignment checks it (assignmentTarget before the
// transaction, assign in it: R13, R17's delegation limits and escalation
// prevention), in order, so an item may repeat an assignment an earlier
// item made and gets it back as it is. Items must name req's parent and
// carry no request_id; req's request_id makes the whole batch idempotent.
// The first refused item fails the batch with its error as a
// records.AtItem error ("requests[i]"). One event per assignment made.
func (s *Service) BatchCreateRoleAssignments(ctx context.Context, actor Actor, req *accessv1.BatchCreateRoleAssignmentsRequest) (*accessv1.BatchCreateRoleAssignmentsResponse, error) {
	org, items := req.GetParent(), req.GetRequests()
	if err := visibleToActor(actor, org); err != nil {
		return nil, err
	}
	total := 0
	for i, item := range items {
		if item.GetParent() != org {
			return nil, records.AtItem(batchField, i, fieldError("parent", "must be the batch's parent %s", org))
		}
		if item.GetRequestId() != "" {
			return nil, records.AtItem(batchField, i, fieldError("request_id", "must be empty: set request_id on the batch"))
		}
		total += len(item.GetRoles())
	}
	if total > MaxBatchAssignments {
		return nil, fieldError(batchField, "the batch asks for %d assignments; at most %d", total, MaxBatchAssignments)
	}
	if err := s.catchUpDirectory(ctx); err != nil {
		return nil, err
	}
	scopes := make([]scopeInfo, len(items))
	for i, item := range items {
		si, err := s.assignmentTarget(actor, item)
		if err != nil {
			return nil, records.AtItem(batchField, i, err)
		}
		scopes[i] = si
	}
	resp := &accessv1.BatchCreateRoleAssignmentsResponse{}
	err := s.assignOnce(ctx, actor, req.GetRequestId(), req, resp, &resp.Sequence, func(t *txn) error {
		out := make([]*accessv1.RoleAssignment, 0, total)
		for i, item := range items {
			var err error
			if out, err = t.assign(item, scopes[i], out); err != nil {
				return records.AtItem(batchField, i, err)
			}
		}
		resp.RoleAssignments = out
		return nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// BatchCheckMembershipChange answers each of req's items as
// CheckMembershipChange would, in order; an item CheckMembershipChange
// fails (a group of another organization, an API key not the actor's)
// fails the batch naming it ("items[i]").
func (s *Service) BatchCheckMembershipChange(ctx context.Context, actor Actor, req *accessv1.BatchCheckMembershipChangeRequest) (*accessv1.BatchCheckMembershipChangeResponse, error) {
	resp := &accessv1.BatchCheckMembershipChangeResponse{Results: make([]*accessv1.CheckMembershipChangeResponse, 0, len(req.GetItems()))}
	for i, item := range req.GetItems() {
		r, err := s.CheckMembershipChange(ctx, actor, item)
		if err != nil {
			return nil, records.AtItem("items", i, err)
		}
		resp.Results = append(resp.Results, r)
	}
	return resp, nil
}
