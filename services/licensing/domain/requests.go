package domain

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	licensingv1 "steward.dev/gen/steward/licensing/v1"
	"steward.dev/pkg/change"
	"steward.dev/pkg/pagetoken"
	"steward.dev/pkg/records"
	"steward.dev/pkg/resourcename"
	"steward.dev/pkg/store"
)

// allOrganizations is the parent that lists every organization's license
// requests (the operator's).
const allOrganizations = "organizations/-"

// CreateLicenseRequest records an organization's request for more seats, a
// renewal or a new pool (R21), pending until the operator decides.
// Idempotent with request_id.
func (s *Service) CreateLicenseRequest(ctx context.Context, actor Actor, req *licensingv1.CreateLicenseRequestRequest) (*licensingv1.LicenseRequest, error) {
	parent := req.GetParent()
	if err := actor.Visible(parent); err != nil {
		return nil, err
	}
	in := req.GetLicenseRequest()
	out := &licensingv1.LicenseRequest{}
	err := s.update(ctx, actor, func(t *txn) error {
		_, err := t.idempotent(req.GetRequestId(), req, out, func() error {
			if err := t.checkRequest(parent, in); err != nil {
				return err
			}
			r := &licensingv1.LicenseRequest{
				Name:       parent + "/licenseRequests/" + change.NewID(),
				Kind:       in.GetKind(),
				Pool:       in.GetPool(),
				Quantity:   in.GetQuantity(),
				ValidUntil: in.GetValidUntil(),
				Note:       in.GetNote(),
				State:      licensingv1.LicenseRequest_STATE_PENDING,
				Requester:  actor.Name,
				CreateTime: t.Timestamp(),
			}
			if in.GetKind() == licensingv1.LicenseRequest_KIND_NEW_POOL {
				r.Product, r.Edition, r.Model = in.GetProduct(), in.GetEdition(), in.GetModel()
			}
			if err := put(t, requestPrefix+r.GetName(), r); err != nil {
				return err
			}
			proto.Merge(out, r)
			return t.Emit(TypeRequestCreated, eventlogv1.Operation_OPERATION_CREATE, r.GetName(), r,
				fmt.Sprintf("License request %s was made.", r.GetName()))
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// checkRequest checks that in names what its kind needs (R21).
func (t *txn) checkRequest(parent string, in *licensingv1.LicenseRequest) error {
	const f = "license_request."
	switch in.GetKind() {
	case licensingv1.LicenseRequest_KIND_ADD_SEATS, licensingv1.LicenseRequest_KIND_RENEWAL:
		if in.GetPool() == "" {
			return fieldError(f+"pool", "is required for %s", in.GetKind())
		}
		if resourcename.OrganizationOf(in.GetPool()) != parent {
			return fieldError(f+"pool", "must be a pool of %s", parent)
		}
		p := &licensingv1.LicensePool{}
		if err := get(t, poolPrefix+in.GetPool(), in.GetPool(), p); err != nil {
			return err
		}
		if in.GetKind() == licensingv1.LicenseRequest_KIND_ADD_SEATS && in.GetQuantity() < 1 {
			return fieldError(f+"quantity", "must be at least 1")
		}
		if in.GetKind() == licensingv1.LicenseRequest_KIND_RENEWAL && !in.GetValidUntil().AsTime().After(p.GetValidUntil().AsTime()) {
			return fieldError(f+"valid_until", "must be after the pool's validity (%s)", formatTime(p.GetValidUntil()))
		}
	case licensingv1.LicenseRequest_KIND_NEW_POOL:
		switch {
		case in.GetProduct() == licensingv1.Product_PRODUCT_UNSPECIFIED:
			return fieldError(f+"product", "is required for a new pool")
		case in.GetEdition() == "":
			return fieldError(f+"edition", "is required for a new pool")
		case in.GetModel() == licensingv1.LicenseModel_LICENSE_MODEL_UNSPECIFIED:
			return fieldError(f+"model", "is required for a new pool")
		case in.GetQuantity() < 1:
			return fieldError(f+"quantity", "must be at least 1")
		case !in.GetValidUntil().AsTime().After(t.Now):
			return fieldError(f+"valid_until", "must be in the future")
		}
	default:
		return fieldError(f+"kind", "is required")
	}
	return nil
}

// ListLicenseRequests lists an organization's license requests, or with
// parent "organizations/-" every organization's (services only), by name,
// optionally only those in one state.
func (s *Service) ListLicenseRequests(ctx context.Context, actor Actor, req *licensingv1.ListLicenseRequestsRequest) (*licensingv1.ListLicenseRequestsResponse, error) {
	parent := req.GetParent()
	if err := actor.Visible(parent); err != nil {
		return nil, err
	}
	prefix := requestPrefix + parent + "/licenseRequests/"
	if parent == allOrganizations {
		prefix = requestPrefix
	}
	state := req.GetState()
	resp := &licensingv1.ListLicenseRequestsResponse{}
	err := s.view(ctx, func(tx store.ReadTx) error {
		var err error
		resp.LicenseRequests, resp.NextPageToken, err = records.Page(tx, []byte(prefix), false,
			req.GetPageToken(), req.GetPageSize(), pagetoken.Fingerprint("requests", parent, state.String()),
			func() *licensingv1.LicenseRequest { return &licensingv1.LicenseRequest{} },
			func(r *licensingv1.LicenseRequest) (bool, error) {
				return state == licensingv1.LicenseRequest_STATE_UNSPECIFIED || r.GetState() == state, nil
			})
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// FulfillLicenseRequest grants a pending request (R21): in one transaction
// the pool gains the seats or validity asked for, or the new pool is made,
// and the request records it.
func (s *Service) FulfillLicenseRequest(ctx context.Context, actor Actor, req *licensingv1.FulfillLicenseRequestRequest) (*licensingv1.LicenseRequest, error) {
	return s.decide(ctx, actor, req.GetName(), req.GetEtag(), req.GetDecisionNote(), func(t *txn, r *licensingv1.LicenseRequest) error {
		org := resourcename.OrganizationOf(r.GetName())
		switch r.GetKind() {
		case licensingv1.LicenseRequest_KIND_NEW_POOL:
			p, err := t.createPool(org+"/licensePools/"+change.NewID(), &licensingv1.LicensePool{
				Product: r.GetProduct(), Edition: r.GetEdition(), Model: r.GetModel(), Quantity: r.GetQuantity(), ValidUntil: r.GetValidUntil(),
			}, false)
			if err != nil {
				return err
			}
			r.Pool = p.GetName()
			return nil
		default:
			p := &licensingv1.LicensePool{}
			if err := get(t, poolPrefix+r.GetPool(), r.GetPool(), p); err != nil {
				return err
			}
			if r.GetKind() == licensingv1.LicenseRequest_KIND_ADD_SEATS {
				p.Quantity += r.GetQuantity()
			} else {
				p.ValidUntil = r.GetValidUntil()
			}
			return t.savePool(p, fmt.Sprintf("License pool %s was changed by license request %s: %d seats, valid until %s.",
				p.GetDisplayName(), r.GetName(), p.GetQuantity(), formatTime(p.GetValidUntil())))
		}
	})
}

// RejectLicenseRequest refuses a pending request (R21).
func (s *Service) RejectLicenseRequest(ctx context.Context, actor Actor, req *licensingv1.RejectLicenseRequestRequest) (*licensingv1.LicenseRequest, error) {
	return s.decide(ctx, actor, req.GetName(), req.GetEtag(), req.GetDecisionNote(), nil)
}

// decide fulfils (apply not nil: it changes the pools) or rejects the
// pending request called name.
func (s *Service) decide(ctx context.Context, actor Actor, name, etag, note string, apply func(t *txn, r *licensingv1.LicenseRequest) error) (*licensingv1.LicenseRequest, error) {
	if err := actor.Visible(name); err != nil {
		return nil, err
	}
	r := &licensingv1.LicenseRequest{}
	err := s.update(ctx, actor, func(t *txn) error {
		if err := get(t, requestPrefix+name, name, r); err != nil {
			return err
		}
		if err := checkEtag(r, etag); err != nil {
			return err
		}
		if r.GetState() != licensingv1.LicenseRequest_STATE_PENDING {
			return errorWith(ErrRequestNotPending, map[string]string{"state": r.GetState().String()}, "%s is %s, not pending", name, r.GetState())
		}
		typ, verb := TypeRequestRejected, "rejected"
		r.State = licensingv1.LicenseRequest_STATE_REJECTED
		if apply != nil {
			if err := apply(t, r); err != nil {
				return err
			}
			typ, verb = TypeRequestFulfilled, "fulfilled"
			r.State = licensingv1.LicenseRequest_STATE_FULFILLED
		}
		r.DecisionNote, r.DecideTime = note, t.Timestamp()
		if err := put(t, requestPrefix+name, r); err != nil {
			return err
		}
		return t.Emit(typ, eventlogv1.Operation_OPERATION_UPDATE, name, r, fmt.Sprintf("License request %s was %s.", name, verb))
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}
