package domain

import (
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	licensingv1 "steward.dev/gen/steward/licensing/v1"
	"steward.dev/pkg/change"
	"steward.dev/pkg/pagetoken"
	"steward.dev/pkg/records"
	"steward.dev/pkg/store"
)

// GetLicensePool reads a pool (R21).
func (s *Service) GetLicensePool(ctx context.Context, actor Actor, req *licensingv1.GetLicensePoolRequest) (*licensingv1.LicensePool, error) {
	if err := actor.Visible(req.GetName()); err != nil {
		return nil, err
	}
	p := &licensingv1.LicensePool{}
	err := s.view(ctx, func(tx store.ReadTx) error { return get(tx, poolPrefix+req.GetName(), req.GetName(), p) })
	if err != nil {
		return nil, err
	}
	return p, nil
}

// ListLicensePools lists an organization's pools by name (R21).
func (s *Service) ListLicensePools(ctx context.Context, actor Actor, req *licensingv1.ListLicensePoolsRequest) (*licensingv1.ListLicensePoolsResponse, error) {
	if err := actor.Visible(req.GetParent()); err != nil {
		return nil, err
	}
	resp := &licensingv1.ListLicensePoolsResponse{}
	err := s.view(ctx, func(tx store.ReadTx) error {
		var err error
		resp.LicensePools, resp.NextPageToken, err = records.Page(tx, []byte(poolPrefix+req.GetParent()+"/licensePools/"), true,
			req.GetPageToken(), req.GetPageSize(), pagetoken.Fingerprint("pools", req.GetParent()),
			func() *licensingv1.LicensePool { return &licensingv1.LicensePool{} },
			func(*licensingv1.LicensePool) (bool, error) { return true, nil })
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// CreateLicensePool creates a pool (R21): the operator's call. Idempotent
// with request_id.
func (s *Service) CreateLicensePool(ctx context.Context, actor Actor, req *licensingv1.CreateLicensePoolRequest) (*licensingv1.LicensePool, error) {
	if err := actor.Visible(req.GetParent()); err != nil {
		return nil, err
	}
	in := req.GetLicensePool()
	id := req.GetLicensePoolId()
	if id == "" {
		id = change.NewID()
	}
	out := &licensingv1.LicensePool{}
	err := s.update(ctx, actor, func(t *txn) error {
		_, err := t.idempotent(req.GetRequestId(), req, out, func() error {
			p, err := t.createPool(req.GetParent()+"/licensePools/"+id, in, false)
			if err != nil {
				return err
			}
			proto.Merge(out, p)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// createPool stores a new pool called name from in (product, edition,
// model, quantity, display name, validity) and emits its event.
func (t *txn) createPool(name string, in *licensingv1.LicensePool, trial bool) (*licensingv1.LicensePool, error) {
	if _, err := t.Get([]byte(poolPrefix + name)); err == nil {
		return nil, errorf(ErrAlreadyExists, "%s already exists", name)
	}
	p := &licensingv1.LicensePool{
		Name:        name,
		DisplayName: in.GetDisplayName(),
		Product:     in.GetProduct(),
		Edition:     in.GetEdition(),
		Model:       in.GetModel(),
		Quantity:    in.GetQuantity(),
		ValidFrom:   in.GetValidFrom(),
		ValidUntil:  in.GetValidUntil(),
		Trial:       trial,
		CreateTime:  t.Timestamp(),
		UpdateTime:  t.Timestamp(),
	}
	if p.ValidFrom == nil {
		p.ValidFrom = t.Timestamp()
	}
	if p.DisplayName == "" {
		p.DisplayName = defaultPoolName(p)
	}
	if err := checkValidity(p, "license_pool"); err != nil {
		return nil, err
	}
	if err := put(t, poolPrefix+name, p); err != nil {
		return nil, err
	}
	return p, t.Emit(TypePoolCreated, eventlogv1.Operation_OPERATION_CREATE, name, p,
		fmt.Sprintf("License pool %s (%d seats) was created.", p.GetDisplayName(), p.GetQuantity()))
}

// defaultPoolName names a pool after its edition, product and model, e.g.
// "Professional robot (named)".
func defaultPoolName(p *licensingv1.LicensePool) string {
	edition := p.GetEdition()
	if edition != "" {
		edition = strings.ToUpper(edition[:1]) + edition[1:]
	}
	product := strings.ToLower(strings.TrimPrefix(p.GetProduct().String(), "PRODUCT_"))
	model := strings.ToLower(strings.TrimPrefix(p.GetModel().String(), "LICENSE_MODEL_"))
	return fmt.Sprintf("%s %s (%s)", edition, product, model)
}

// checkValidity refuses a pool whose validity ends before it begins; field
// names the message in the request.
func checkValidity(p *licensingv1.LicensePool, field string) error {
	if !p.GetValidUntil().AsTime().After(p.GetValidFrom().AsTime()) {
		return fieldError(field+".valid_until", "must be after valid_from (%s)", p.GetValidFrom().AsTime().Format(time.RFC3339))
	}
	return nil
}

// UpdateLicensePool changes a pool's display name, quantity or validity
// (R21): the operator's call. The quantity never drops below the seats
// assigned.
func (s *Service) UpdateLicensePool(ctx context.Context, actor Actor, req *licensingv1.UpdateLicensePoolRequest) (*licensingv1.LicensePool, error) {
	in := req.GetLicensePool()
	name := in.GetName()
	if err := actor.Visible(name); err != nil {
		return nil, err
	}
	p := &licensingv1.LicensePool{}
	err := s.update(ctx, actor, func(t *txn) error {
		if err := get(t, poolPrefix+name, name, p); err != nil {
			return err
		}
		if err := checkEtag(p, in.GetEtag()); err != nil {
			return err
		}
		if err := records.ApplyMask(p, in, req.GetUpdateMask().GetPaths(), "display_name", "quantity", "valid_from", "valid_until"); err != nil {
			return err
		}
		if p.GetDisplayName() == "" {
			p.DisplayName = defaultPoolName(p)
		}
		if p.GetValidFrom() == nil {
			p.ValidFrom = p.GetCreateTime()
		}
		if p.GetValidUntil() == nil {
			return fieldError("license_pool.valid_until", "is required")
		}
		if err := checkValidity(p, "license_pool"); err != nil {
			return err
		}
		return t.savePool(p, fmt.Sprintf("License pool %s was changed: %d seats, valid until %s.",
			p.GetDisplayName(), p.GetQuantity(), p.GetValidUntil().AsTime().Format(time.RFC3339)))
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// savePool stores a changed pool, refusing a quantity below its seats
// assigned, and emits its event with message.
func (t *txn) savePool(p *licensingv1.LicensePool, message string) error {
	used, err := seats(t, p.GetName())
	if err != nil {
		return err
	}
	leased, err := counter(t, leasedPrefix+p.GetName())
	if err != nil {
		return err
	}
	if p.GetModel() == licensingv1.LicenseModel_LICENSE_MODEL_CONCURRENT && p.GetQuantity() < leased {
		return errorWith(ErrQuantityBelowAssigned, map[string]string{"pool": p.GetName(), "leased": fmt.Sprint(leased)},
			"%s has %d licenses leased to connected clients; lower its quantity to %d once they are released", p.GetName(), leased, p.GetQuantity())
	}
	if p.GetQuantity() < used {
		return errorWith(ErrQuantityBelowAssigned, map[string]string{"pool": p.GetName(), "assigned": fmt.Sprint(used)},
			"%s has %d seats assigned; remove licenses before lowering its quantity to %d", p.GetName(), used, p.GetQuantity())
	}
	p.UpdateTime = t.Timestamp()
	if err := put(t, poolPrefix+p.GetName(), p); err != nil {
		return err
	}
	return t.Emit(TypePoolUpdated, eventlogv1.Operation_OPERATION_UPDATE, p.GetName(), p, message)
}

// usable returns nil when p hands out seats at now, or ErrPoolExpired /
// ErrPoolNotYetValid saying why not (R21).
func usable(p *licensingv1.LicensePool, now time.Time) error {
	switch {
	case !now.Before(p.GetValidUntil().AsTime()):
		return errorWith(ErrPoolExpired, map[string]string{"pool": p.GetName(), "valid_until": formatTime(p.GetValidUntil())},
			"%s expired at %s: it hands out no new licenses", p.GetName(), formatTime(p.GetValidUntil()))
	case now.Before(p.GetValidFrom().AsTime()):
		return errorWith(ErrPoolNotYetValid, map[string]string{"pool": p.GetName(), "valid_from": formatTime(p.GetValidFrom())},
			"%s is valid from %s", p.GetName(), formatTime(p.GetValidFrom()))
	}
	return nil
}

// formatTime formats a timestamp as RFC 3339.
func formatTime(ts *timestamppb.Timestamp) string { return ts.AsTime().UTC().Format(time.RFC3339) }
