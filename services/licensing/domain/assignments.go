package domain

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	licensingv1 "steward.dev/gen/steward/licensing/v1"
	"steward.dev/pkg/change"
	"steward.dev/pkg/pagetoken"
	"steward.dev/pkg/records"
	"steward.dev/pkg/resourcename"
	"steward.dev/pkg/store"
)

// AssignLicense gives a member a named seat of a pool, or moves the
// member's license of the pool's product there (R22). The pool must be
// named and valid (POOL_EXPIRED, POOL_NOT_YET_VALID) and have a free seat
// (POOL_EXHAUSTED); the member must be an active user or robot account of
// the organization. Idempotent with request_id.
func (s *Service) AssignLicense(ctx context.Context, actor Actor, req *licensingv1.AssignLicenseRequest) (*licensingv1.LicenseAssignment, error) {
	in := req.GetLicenseAssignment()
	if err := s.checkParent(actor, req.GetParent(), "license_assignment.", in.GetPool(), in.GetMember()); err != nil {
		return nil, err
	}
	return create(ctx, s, actor, []string{in.GetMember()}, req.GetRequestId(), req, &licensingv1.LicenseAssignment{}, func(t *txn) (*licensingv1.LicenseAssignment, error) {
		p, err := t.assignablePool(in.GetPool())
		if err != nil {
			return nil, err
		}
		if err := t.checkMember(in.GetMember()); err != nil {
			return nil, err
		}
		return t.assign(p, in.GetMember(), in.GetConcurrentExecutionDisabled(), 1)
	})
}

// BatchAssignLicenses gives every member a seat of one Professional pool
// (R22), all or nothing: a pool of another edition is
// BATCH_REQUIRES_PROFESSIONAL; members that cannot have one make
// BATCH_REFUSED listing each; too few free seats is POOL_EXHAUSTED.
// Idempotent with request_id.
func (s *Service) BatchAssignLicenses(ctx context.Context, actor Actor, req *licensingv1.BatchAssignLicensesRequest) (*licensingv1.BatchAssignLicensesResponse, error) {
	if err := s.checkParent(actor, req.GetParent(), "", req.GetPool()); err != nil {
		return nil, err
	}
	for i, m := range req.GetMembers() {
		if resourcename.OrganizationOf(m) != req.GetParent() {
			return nil, fieldError(fmt.Sprintf("members[%d]", i), "must be a member of %s", req.GetParent())
		}
	}
	out := &licensingv1.BatchAssignLicensesResponse{}
	err := s.withMembers(ctx, req.GetMembers(), func() error {
		return s.update(ctx, actor, func(t *txn) error {
			_, err := t.idempotent(req.GetRequestId(), req, out, func() error {
				p, err := t.assignablePool(req.GetPool())
				if err != nil {
					return err
				}
				if p.GetEdition() != EditionProfessional {
					return errorWith(ErrBatchRequiresProfessional, map[string]string{"pool": p.GetName(), "edition": p.GetEdition()},
						"batch assignment takes Professional pools only; %s is %s: assign its licenses one at a time", p.GetName(), p.GetEdition())
				}
				var refused []Violation
				for _, m := range req.GetMembers() {
					if err := t.checkMember(m); err != nil {
						refused = append(refused, violationOf(m, err))
						continue
					}
					if held, err := t.heldIn(m, p); err != nil {
						return err
					} else if held != "" {
						refused = append(refused, Violation{Subject: m, Reason: "LICENSE_ALREADY_ASSIGNED", Description: m + " already holds " + held})
					}
				}
				if len(refused) > 0 {
					return &reasonError{sentinel: ErrBatchRefused, violations: refused,
						msg: fmt.Sprintf("%d of %d members cannot be given a license of %s; nothing was assigned", len(refused), len(req.GetMembers()), p.GetName())}
				}
				n := int32(len(req.GetMembers()))
				for _, m := range req.GetMembers() {
					a, err := t.assign(p, m, false, n)
					if err != nil {
						return err
					}
					out.LicenseAssignments = append(out.LicenseAssignments, a)
					n--
				}
				return nil
			})
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// violationOf returns the batch violation of member for err.
func violationOf(member string, err error) Violation {
	reason := "INVALID_ARGUMENT"
	switch {
	case errors.Is(err, ErrNotFound):
		reason = "NOT_FOUND"
	case errors.Is(err, ErrMemberInactive):
		reason = "MEMBER_INACTIVE"
	}
	return Violation{Subject: member, Reason: reason, Description: err.Error()}
}

// checkParent refuses names outside parent (InvalidArgument on the field
// prefix+"pool" / prefix+"member") and a parent the actor does not see.
func (s *Service) checkParent(actor Actor, parent, prefix string, names ...string) error {
	if err := actor.Visible(parent); err != nil {
		return err
	}
	for _, n := range names {
		if resourcename.OrganizationOf(n) != parent {
			field := prefix + "member"
			if strings.Contains(n, "/licensePools/") {
				field = prefix + "pool"
			}
			return fieldError(field, "must belong to %s", parent)
		}
	}
	return nil
}

// withMembers runs op; when it fails because a member is unknown and the
// directory feed is wired, it waits (at most ConsistencyWait) for the feed
// to apply the directory's head and runs op again: read-your-writes for a
// member the directory has just created.
func (s *Service) withMembers(ctx context.Context, members []string, op func() error) error {
	err := op()
	if s.feed == nil || s.directoryHead == nil || !s.unknownMember(ctx, members) {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, ConsistencyWait)
	defer cancel()
	head, herr := s.directoryHead(wctx)
	if herr != nil || s.feed.WaitFor(wctx, head) != nil {
		return err
	}
	return op()
}

// unknownMember reports whether one of members is not (yet) known.
func (s *Service) unknownMember(ctx context.Context, members []string) bool {
	unknown := false
	_ = s.view(ctx, func(tx store.ReadTx) error {
		for _, m := range members {
			if _, err := tx.Get([]byte(dirMemberPrefix + m)); err != nil {
				unknown = true
				return nil
			}
		}
		return nil
	})
	return unknown
}

// assignablePool returns the pool called name if it is named and valid now.
func (t *txn) assignablePool(name string) (*licensingv1.LicensePool, error) {
	p := &licensingv1.LicensePool{}
	if err := get(t, poolPrefix+name, name, p); err != nil {
		return nil, err
	}
	if p.GetModel() != licensingv1.LicenseModel_LICENSE_MODEL_NAMED {
		return nil, fieldError("pool", "%s is a concurrent pool: its seats are leased while clients are connected, never assigned", name)
	}
	if err := usable(p, t.Now); err != nil {
		return nil, err
	}
	return p, nil
}

// checkMember returns nil when member is an active user or robot account.
func (t *txn) checkMember(member string) error {
	state, err := t.Get([]byte(dirMemberPrefix + member))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errorf(ErrNotFound, "%s not found", member)
	case err != nil:
		return err
	case string(state) != memberActive:
		return errorWith(ErrMemberInactive, map[string]string{"member": member}, "%s is deactivated and cannot be given a license", member)
	}
	return nil
}

// memberKey returns the byMember key of member's license of product.
func memberKey(member string, product licensingv1.Product) string {
	return byMember + member + "|" + strconv.Itoa(int(product))
}

// heldIn returns the name of member's assignment in pool p, "" if none.
func (t *txn) heldIn(member string, p *licensingv1.LicensePool) (string, error) {
	name, err := t.Get([]byte(memberKey(member, p.GetProduct())))
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	a := &licensingv1.LicenseAssignment{}
	if err := get(t, assignmentPrefix+string(name), string(name), a); err != nil {
		return "", err
	}
	if a.GetPool() != p.GetName() {
		return "", nil
	}
	return a.GetName(), nil
}

// assign gives member a seat of p, moving its license of p's product from
// another pool if it holds one (R22). need is how many seats the operation
// still takes from p, this one included: fewer free seats is
// POOL_EXHAUSTED. The seat count and the assignment change in t, so no
// concurrency hands out more seats than p holds.
func (t *txn) assign(p *licensingv1.LicensePool, member string, noConcurrent bool, need int32) (*licensingv1.LicenseAssignment, error) {
	mkey := memberKey(member, p.GetProduct())
	a := &licensingv1.LicenseAssignment{}
	var old string
	if name, err := t.Get([]byte(mkey)); err == nil {
		if err := get(t, assignmentPrefix+string(name), string(name), a); err != nil {
			return nil, err
		}
		if a.GetPool() == p.GetName() {
			return nil, errorWith(ErrAlreadyAssigned, map[string]string{"license_assignment": a.GetName()}, "%s already holds %s", member, a.GetName())
		}
		old = a.GetPool()
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	used, err := seats(t, p.GetName())
	if err != nil {
		return nil, err
	}
	if free := p.GetQuantity() - used; free < need {
		md := map[string]string{"pool": p.GetName(), "quantity": fmt.Sprint(p.GetQuantity()), "assigned": fmt.Sprint(used)}
		if need > 1 {
			md["requested"] = fmt.Sprint(need)
		}
		return nil, errorWith(ErrPoolExhausted, md, "%s has %d of %d seats free, %d needed", p.GetName(), max(free, 0), p.GetQuantity(), need)
	}
	if err := addSeats(t, p.GetName(), 1); err != nil {
		return nil, err
	}
	if old != "" {
		if err := addSeats(t, old, -1); err != nil {
			return nil, err
		}
		if err := t.Delete([]byte(byPool + old + "|" + a.GetName())); err != nil {
			return nil, err
		}
		// The member's client leases from the new pool when it signs in again.
		if err := t.endLeasesOf(member, p.GetProduct(), licensingv1.Lease_END_REASON_LICENSE_REMOVED); err != nil {
			return nil, err
		}
		a.Pool, a.UpdateTime = p.GetName(), t.Timestamp()
		if err := t.putAssignment(a); err != nil {
			return nil, err
		}
		return a, t.Emit(TypeAssignmentUpdated, eventlogv1.Operation_OPERATION_UPDATE, a.GetName(), a,
			fmt.Sprintf("The %s license of %s moved from %s to %s.", productWord(p.GetProduct()), member, old, p.GetName()))
	}
	a = &licensingv1.LicenseAssignment{
		Name:                        resourcename.OrganizationOf(p.GetName()) + "/licenseAssignments/" + change.NewID(),
		Pool:                        p.GetName(),
		Member:                      member,
		Product:                     p.GetProduct(),
		ConcurrentExecutionDisabled: noConcurrent,
		CreateTime:                  t.Timestamp(),
		UpdateTime:                  t.Timestamp(),
	}
	if err := t.putAssignment(a); err != nil {
		return nil, err
	}
	if err := t.Put([]byte(mkey), []byte(a.GetName())); err != nil {
		return nil, err
	}
	return a, t.Emit(TypeLicenseAssigned, eventlogv1.Operation_OPERATION_CREATE, a.GetName(), a,
		fmt.Sprintf("%s was given a %s license of %s.", member, productWord(p.GetProduct()), p.GetName()))
}

// putAssignment stores a and its pool index.
func (t *txn) putAssignment(a *licensingv1.LicenseAssignment) error {
	if err := put(t, assignmentPrefix+a.GetName(), a); err != nil {
		return err
	}
	return t.Put([]byte(byPool+a.GetPool()+"|"+a.GetName()), nil)
}

// productWord is a product as a word in audit messages ("robot").
func productWord(p licensingv1.Product) string {
	return strings.ToLower(strings.TrimPrefix(p.String(), "PRODUCT_"))
}

// UnassignLicense removes a member's license (R22): its seat is free at
// once.
func (s *Service) UnassignLicense(ctx context.Context, actor Actor, req *licensingv1.UnassignLicenseRequest) error {
	name := req.GetName()
	if err := actor.Visible(name); err != nil {
		return err
	}
	return s.update(ctx, actor, func(t *txn) error {
		a := &licensingv1.LicenseAssignment{}
		if err := get(t, assignmentPrefix+name, name, a); err != nil {
			return err
		}
		if err := checkEtag(a, req.GetEtag()); err != nil {
			return err
		}
		return t.unassign(a, licensingv1.Lease_END_REASON_LICENSE_REMOVED, fmt.Sprintf("The %s license of %s (%s) was removed.", productWord(a.GetProduct()), a.GetMember(), a.GetPool()))
	})
}

// unassign deletes a, frees its seat and emits its event with message. The
// member's lease of the license ends for reason (R24).
func (t *txn) unassign(a *licensingv1.LicenseAssignment, reason licensingv1.Lease_EndReason, message string) error {
	if err := t.endLeasesOf(a.GetMember(), a.GetProduct(), reason); err != nil {
		return err
	}
	for _, k := range []string{assignmentPrefix + a.GetName(), byPool + a.GetPool() + "|" + a.GetName(), memberKey(a.GetMember(), a.GetProduct())} {
		if err := t.Delete([]byte(k)); err != nil {
			return err
		}
	}
	if err := addSeats(t, a.GetPool(), -1); err != nil {
		return err
	}
	return t.Emit(TypeLicenseUnassigned, eventlogv1.Operation_OPERATION_DELETE, a.GetName(), a, message)
}

// UpdateLicenseAssignment changes a license's settings: whether its member
// may run unattended jobs concurrently (R25).
func (s *Service) UpdateLicenseAssignment(ctx context.Context, actor Actor, req *licensingv1.UpdateLicenseAssignmentRequest) (*licensingv1.LicenseAssignment, error) {
	in := req.GetLicenseAssignment()
	name := in.GetName()
	if err := actor.Visible(name); err != nil {
		return nil, err
	}
	a := &licensingv1.LicenseAssignment{}
	err := s.update(ctx, actor, func(t *txn) error {
		a.Reset()
		if err := get(t, assignmentPrefix+name, name, a); err != nil {
			return err
		}
		if err := checkEtag(a, in.GetEtag()); err != nil {
			return err
		}
		if err := records.ApplyMask(a, in, req.GetUpdateMask().GetPaths(), "concurrent_execution_disabled"); err != nil {
			return err
		}
		a.UpdateTime = t.Timestamp()
		if err := t.putAssignment(a); err != nil {
			return err
		}
		setting := "may run jobs concurrently"
		if a.GetConcurrentExecutionDisabled() {
			setting = "runs one job at a time"
		}
		return t.Emit(TypeAssignmentUpdated, eventlogv1.Operation_OPERATION_UPDATE, a.GetName(), a,
			fmt.Sprintf("%s now %s under its %s license.", a.GetMember(), setting, productWord(a.GetProduct())))
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// ListLicenseAssignments lists an organization's named seats by name,
// optionally of one pool or one member (R22).
func (s *Service) ListLicenseAssignments(ctx context.Context, actor Actor, req *licensingv1.ListLicenseAssignmentsRequest) (*licensingv1.ListLicenseAssignmentsResponse, error) {
	if err := s.checkParent(actor, req.GetParent(), "", nonEmpty(req.GetPool(), req.GetMember())...); err != nil {
		return nil, err
	}
	pool, member := req.GetPool(), req.GetMember()
	resp := &licensingv1.ListLicenseAssignmentsResponse{}
	err := s.view(ctx, func(tx store.ReadTx) error {
		var err error
		resp.LicenseAssignments, resp.NextPageToken, err = records.Page(tx, []byte(assignmentPrefix+req.GetParent()+"/licenseAssignments/"), true,
			req.GetPageToken(), req.GetPageSize(), pagetoken.Fingerprint("assignments", req.GetParent(), pool, member),
			func() *licensingv1.LicenseAssignment { return &licensingv1.LicenseAssignment{} },
			func(a *licensingv1.LicenseAssignment) (bool, error) {
				return (pool == "" || a.GetPool() == pool) && (member == "" || a.GetMember() == member), nil
			})
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// nonEmpty returns the non-empty strings of ss.
func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
