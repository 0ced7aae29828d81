package dataset

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
)

// Writer creates the two kinds a dataset holds by the tens of thousands:
// group memberships and role assignments. Load hands it chunks from
// several goroutines at once; an implementation may create a chunk item
// by item or in one batch call. It returns the first error.
type Writer interface {
	// AddMemberships puts each membership's user in its group.
	AddMemberships(ctx context.Context, ms []Membership) error
	// CreateAssignments makes each role assignment.
	CreateAssignments(ctx context.Context, as []Assignment) error
}

// PerCall is the Writer over the per-item RPCs: AddGroupMember and
// CreateRoleAssignment, one call each.
type PerCall struct {
	// Directory and Access are the suite's clients, authenticated as a
	// principal that may make every change.
	Directory directoryv1.DirectoryServiceClient
	Access    accessv1.AccessServiceClient
}

var _ Writer = PerCall{}

// AddMemberships calls AddGroupMember once per membership.
func (w PerCall) AddMemberships(ctx context.Context, ms []Membership) error {
	for _, m := range ms {
		if _, err := w.Directory.AddGroupMember(ctx, &directoryv1.AddGroupMemberRequest{Group: m.Group, Member: m.User}); err != nil {
			return fmt.Errorf("adding %s to %s: %w", m.User, m.Group, err)
		}
	}
	return nil
}

// CreateAssignments calls CreateRoleAssignment once per assignment,
// retrying while access is behind the directory (NOT_YET_CONSISTENT),
// as it can be right after a burst of directory changes.
func (w PerCall) CreateAssignments(ctx context.Context, as []Assignment) error {
	org := "organizations/" + OrganizationID
	for _, a := range as {
		err := retryNotConsistent(ctx, func() error {
			_, err := w.Access.CreateRoleAssignment(ctx, &accessv1.CreateRoleAssignmentRequest{
				Parent: org, Principal: a.Principal, Roles: []string{a.Role}, Scope: a.Scope})
			return err
		})
		if err != nil {
			return fmt.Errorf("assigning %s to %s at %s: %w", a.Role, a.Principal, a.Scope, err)
		}
	}
	return nil
}

// Batch is the Writer over the batch RPCs (issue 13): one
// BatchAddGroupMembers or BatchCreateRoleAssignments per chunk of at most
// 1,000 items, each one transaction with the same checks as the per-item
// calls.
type Batch struct {
	// Directory and Access are the suite's clients, authenticated as a
	// principal that may make every change.
	Directory directoryv1.DirectoryServiceClient
	Access    accessv1.AccessServiceClient
}

var _ Writer = Batch{}

// AddMemberships adds the chunk with one BatchAddGroupMembers, retried
// while access is behind the directory (notConsistent).
func (w Batch) AddMemberships(ctx context.Context, ms []Membership) error {
	req := &directoryv1.BatchAddGroupMembersRequest{Parent: "organizations/" + OrganizationID}
	for _, m := range ms {
		req.Requests = append(req.Requests, &directoryv1.AddGroupMemberRequest{Group: m.Group, Member: m.User})
	}
	err := retryNotConsistent(ctx, func() error {
		_, err := w.Directory.BatchAddGroupMembers(ctx, req)
		return err
	})
	if err != nil {
		return fmt.Errorf("adding %d memberships: %w", len(ms), err)
	}
	return nil
}

// CreateAssignments makes the chunk with one BatchCreateRoleAssignments,
// retried while access is behind the directory (notConsistent).
func (w Batch) CreateAssignments(ctx context.Context, as []Assignment) error {
	org := "organizations/" + OrganizationID
	req := &accessv1.BatchCreateRoleAssignmentsRequest{Parent: org}
	for _, a := range as {
		req.Requests = append(req.Requests, &accessv1.CreateRoleAssignmentRequest{Parent: org, Principal: a.Principal, Roles: []string{a.Role}, Scope: a.Scope})
	}
	err := retryNotConsistent(ctx, func() error {
		_, err := w.Access.BatchCreateRoleAssignments(ctx, req)
		return err
	})
	if err != nil {
		return fmt.Errorf("creating %d assignments: %w", len(as), err)
	}
	return nil
}

// notConsistentTries bounds how often a call is tried while access catches
// up with the directory; each try already waits up to a second server-side.
const notConsistentTries = 30

// retryNotConsistent runs call until it does not fail with the reason
// NOT_YET_CONSISTENT, at most notConsistentTries times.
func retryNotConsistent(ctx context.Context, call func() error) error {
	var err error
	for range notConsistentTries {
		if err = call(); !notConsistent(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return err
}

// notConsistent reports whether err says access has not yet caught up:
// FAILED_PRECONDITION NOT_YET_CONSISTENT from access, or UNAVAILABLE from
// the directory when access, asked about a membership change, had not
// applied the directory's latest changes within its wait (right after a
// burst of users).
func notConsistent(err error) bool {
	st, ok := status.FromError(err)
	if ok && st.Code() == codes.Unavailable {
		return true
	}
	if !ok || st.Code() != codes.FailedPrecondition {
		return false
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() == "NOT_YET_CONSISTENT" {
			return true
		}
	}
	return false
}
