package domain

import (
	"context"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	licensingv1 "steward.dev/gen/steward/licensing/v1"
	"steward.dev/pkg/resourcename"
	"steward.dev/pkg/store"
)

// GetLicenseUsage returns an organization's usage as of now (R26): per
// pool, its seats, those assigned and those free (none in an expired
// pool), optionally of one pool. Leases are not served yet, so no seat is
// leased and no service has usage.
func (s *Service) GetLicenseUsage(ctx context.Context, actor Actor, req *licensingv1.GetLicenseUsageRequest) (*licensingv1.LicenseUsage, error) {
	org := resourcename.OrganizationOf(req.GetName())
	if err := actor.Visible(org); err != nil {
		return nil, err
	}
	if req.GetPool() != "" && resourcename.OrganizationOf(req.GetPool()) != org {
		return nil, fieldError("pool", "must belong to %s", org)
	}
	now := s.clock()
	out := &licensingv1.LicenseUsage{Name: req.GetName(), AsOf: timestamppb.New(now)}
	err := s.view(ctx, func(tx store.ReadTx) error {
		return tx.Scan([]byte(poolPrefix+org+"/licensePools/"), nil, func(_, v []byte) (bool, error) {
			p := &licensingv1.LicensePool{}
			if err := proto.Unmarshal(v, p); err != nil {
				return false, err
			}
			if req.GetPool() != "" && p.GetName() != req.GetPool() {
				return true, nil
			}
			used, err := seats(tx, p.GetName())
			if err != nil {
				return false, err
			}
			u := &licensingv1.PoolUsage{
				Pool: p.GetName(), Product: p.GetProduct(), Edition: p.GetEdition(), Model: p.GetModel(),
				Quantity: p.GetQuantity(), Assigned: used, Expired: usable(p, now) != nil,
			}
			if !u.Expired {
				u.Free = max(p.GetQuantity()-used, 0)
			}
			out.Pools = append(out.Pools, u)
			return true, nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
