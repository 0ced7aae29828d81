package domain

import (
	"context"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	licensingv1 "steward.dev/gen/steward/licensing/v1"
	"steward.dev/pkg/resourcename"
	"steward.dev/pkg/store"
)

// GetLicenseUsage returns an organization's usage as of now (R26), not a
// day behind: per pool, its seats, those assigned, those leased by
// connected clients and those free (none in an expired pool); per service,
// the live leases of its clients of each product. A pool or service filter
// narrows its own list.
func (s *Service) GetLicenseUsage(ctx context.Context, actor Actor, req *licensingv1.GetLicenseUsageRequest) (*licensingv1.LicenseUsage, error) {
	org := resourcename.OrganizationOf(req.GetName())
	if err := actor.Visible(org); err != nil {
		return nil, err
	}
	for field, n := range map[string]string{"pool": req.GetPool(), "service": req.GetService()} {
		if n != "" && resourcename.OrganizationOf(n) != org {
			return nil, fieldError(field, "must belong to %s", org)
		}
	}
	now := s.clock()
	out := &licensingv1.LicenseUsage{Name: req.GetName(), AsOf: timestamppb.New(now)}
	err := s.view(ctx, func(tx store.ReadTx) error {
		err := tx.Scan([]byte(poolPrefix+org+"/licensePools/"), nil, func(_, v []byte) (bool, error) {
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
			leased, err := counter(tx, leasedPrefix+p.GetName())
			if err != nil {
				return false, err
			}
			u := &licensingv1.PoolUsage{
				Pool: p.GetName(), Product: p.GetProduct(), Edition: p.GetEdition(), Model: p.GetModel(),
				Quantity: p.GetQuantity(), Assigned: used, Leased: leased, Expired: usable(p, now) != nil,
			}
			taken := used
			if p.GetModel() == licensingv1.LicenseModel_LICENSE_MODEL_CONCURRENT {
				taken = leased
			}
			if !u.Expired {
				u.Free = max(p.GetQuantity()-taken, 0)
			}
			out.Pools = append(out.Pools, u)
			return true, nil
		})
		if err != nil {
			return err
		}
		prefix := serviceLeased + org + "/"
		return tx.Scan([]byte(prefix), nil, func(k, v []byte) (bool, error) {
			service, num, _ := strings.Cut(string(k[len(serviceLeased):]), "|")
			if req.GetService() != "" && service != req.GetService() {
				return true, nil
			}
			product, _ := strconv.Atoi(num)
			leased, err := counter(tx, string(k))
			if err != nil {
				return false, err
			}
			out.Services = append(out.Services, &licensingv1.ServiceUsage{Service: service, Product: licensingv1.Product(product), Leased: leased})
			return true, nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
