package domain

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	licensingv1 "steward.dev/gen/steward/licensing/v1"
	"steward.dev/pkg/change"
	"steward.dev/pkg/pagetoken"
	"steward.dev/pkg/records"
	"steward.dev/pkg/resourcename"
	"steward.dev/pkg/store"
)

// sweeper is who the changes of the sweeper are recorded as made by.
var sweeper = Actor{Name: "services/licensing", DisplayName: "licensing"}

// expireBatch bounds the leases or executions one transaction expires.
const expireBatch = 256

// AcquireLease signs a client in (R23, R24): principal, an active member,
// needs a license of the client's product — its named seat, or else free
// capacity in a valid concurrent pool of the organization — and gets a
// lease that holds for the lease TTL unless renewed. A principal holds one
// live lease per product: acquiring again from the same machine renews it
// (a client reconnecting); from another machine is LICENSE_IN_USE.
// Idempotent with request_id. Who may act for principal is the caller's
// check.
func (s *Service) AcquireLease(ctx context.Context, actor Actor, req *licensingv1.AcquireLeaseRequest) (*licensingv1.Lease, error) {
	if err := s.checkParent(actor, req.GetParent(), "", req.GetPrincipal()); err != nil {
		return nil, err
	}
	if svc := req.GetService(); svc != "" && resourcename.OrganizationOf(svc) != req.GetParent() {
		return nil, fieldError("service", "must belong to %s", req.GetParent())
	}
	return create(ctx, s, actor, []string{req.GetPrincipal()}, req.GetRequestId(), req, &licensingv1.Lease{}, func(t *txn) (*licensingv1.Lease, error) {
		return t.acquire(req, s.leaseTTL)
	})
}

// acquire is AcquireLease in t.
func (t *txn) acquire(req *licensingv1.AcquireLeaseRequest, ttl time.Duration) (*licensingv1.Lease, error) {
	if _, err := t.expireDue(expireBatch); err != nil {
		return nil, err
	}
	principal, product := req.GetPrincipal(), req.GetClient()
	if err := t.checkMember(principal); err != nil {
		return nil, err
	}
	if l, err := t.heldLease(principal, product); err != nil {
		return nil, err
	} else if l != nil {
		if l.GetMachine() != req.GetMachine() {
			return nil, errorWith(ErrLicenseInUse, map[string]string{"lease": l.GetName(), "machine": l.GetMachine()},
				"the %s license of %s is in use on machine %q (%s): release that lease first", productWord(product), principal, l.GetMachine(), l.GetName())
		}
		// The same client reconnecting: its lease holds on.
		return l, t.renew(l, ttl)
	}
	pool, err := t.leasePool(principal, product)
	if err != nil {
		return nil, err
	}
	l := &licensingv1.Lease{
		Name:       req.GetParent() + "/leases/" + change.NewID(),
		Principal:  principal,
		Client:     product,
		Machine:    req.GetMachine(),
		Service:    req.GetService(),
		Pool:       pool.GetName(),
		CreateTime: t.Timestamp(),
		RenewTime:  t.Timestamp(),
		ExpireTime: timestamppb.New(t.Now.Add(ttl)),
	}
	if err := t.putLease(l); err != nil {
		return nil, err
	}
	if err := t.Put(timeKey(leaseExpiry, l.GetExpireTime().AsTime(), l.GetName()), nil); err != nil {
		return nil, err
	}
	if err := t.Put([]byte(heldKey(principal, product)), []byte(l.GetName())); err != nil {
		return nil, err
	}
	if err := t.countLease(l, 1); err != nil {
		return nil, err
	}
	where := ""
	if l.GetService() != "" {
		where = " for " + l.GetService()
	}
	return l, t.Emit(TypeLeaseAcquired, eventlogv1.Operation_OPERATION_CREATE, l.GetName(), l,
		fmt.Sprintf("%s signed in a %s client on machine %q%s with a license of %s.", principal, productWord(product), l.GetMachine(), where, pool.GetName()))
}

// heldKey is the leaseHeld key of principal's live lease of product.
func heldKey(principal string, product licensingv1.Product) string {
	return leaseHeld + principal + "|" + strconv.Itoa(int(product))
}

// heldLease returns principal's live lease of product, nil if none. A lease
// past its expiry is ended first (EXPIRED) and not returned.
func (t *txn) heldLease(principal string, product licensingv1.Product) (*licensingv1.Lease, error) {
	name, err := t.Get([]byte(heldKey(principal, product)))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	l := &licensingv1.Lease{}
	if err := get(t, leasePrefix+string(name), string(name), l); err != nil {
		return nil, err
	}
	if !t.Now.Before(l.GetExpireTime().AsTime()) {
		return nil, t.endLease(l, licensingv1.Lease_END_REASON_EXPIRED)
	}
	return l, nil
}

// leasePool returns the pool principal's client of product takes its
// license from: the pool of its named seat, or a valid concurrent pool with
// free capacity (the first by name). It says why there is none: the named
// pool's validity (POOL_EXPIRED, POOL_NOT_YET_VALID), every concurrent pool
// full (POOL_EXHAUSTED) or expired, or no license at all
// (LICENSE_REQUIRED).
func (t *txn) leasePool(principal string, product licensingv1.Product) (*licensingv1.LicensePool, error) {
	if name, err := t.Get([]byte(memberKey(principal, product))); err == nil {
		a := &licensingv1.LicenseAssignment{}
		if err := get(t, assignmentPrefix+string(name), string(name), a); err != nil {
			return nil, err
		}
		p := &licensingv1.LicensePool{}
		if err := get(t, poolPrefix+a.GetPool(), a.GetPool(), p); err != nil {
			return nil, err
		}
		return p, usable(p, t.Now)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	org := resourcename.OrganizationOf(principal)
	var found *licensingv1.LicensePool
	var why error
	err := t.Scan([]byte(poolPrefix+org+"/licensePools/"), nil, func(_, v []byte) (bool, error) {
		p := &licensingv1.LicensePool{}
		if err := proto.Unmarshal(v, p); err != nil {
			return false, err
		}
		if p.GetModel() != licensingv1.LicenseModel_LICENSE_MODEL_CONCURRENT || p.GetProduct() != product {
			return true, nil
		}
		if err := usable(p, t.Now); err != nil {
			if why == nil {
				why = err
			}
			return true, nil
		}
		leased, err := counter(t, leasedPrefix+p.GetName())
		if err != nil {
			return false, err
		}
		if leased >= p.GetQuantity() {
			why = errorWith(ErrPoolExhausted, map[string]string{"pool": p.GetName(), "quantity": fmt.Sprint(p.GetQuantity()), "leased": fmt.Sprint(leased)},
				"every one of the %d concurrent licenses of %s is in use", p.GetQuantity(), p.GetName())
			return true, nil
		}
		found = p
		return false, nil
	})
	switch {
	case err != nil:
		return nil, err
	case found != nil:
		return found, nil
	case why != nil:
		return nil, why
	}
	return nil, errorWith(ErrLicenseRequired, map[string]string{"product": productWord(product)},
		"%s holds no %s license and %s has no concurrent %s pool: assign one first", principal, productWord(product), org, productWord(product))
}

// putLease stores l.
func (t *txn) putLease(l *licensingv1.Lease) error {
	return store.PutProto(t, []byte(leasePrefix+l.GetName()), l)
}

// countLease changes by delta the live leases of l's pool and service and
// their usage trend (R26).
func (t *txn) countLease(l *licensingv1.Lease, delta int32) error {
	org := resourcename.OrganizationOf(l.GetName())
	n, err := addCounter(t, leasedPrefix+l.GetPool(), delta)
	if err != nil {
		return err
	}
	if err := t.level(org, poolSeries(l.GetPool()), n); err != nil {
		return err
	}
	if l.GetService() == "" {
		return nil
	}
	series := serviceSeries(l.GetService(), l.GetClient())
	n, err = addCounter(t, serviceLeased+strings.TrimPrefix(series, "service:"), delta)
	if err != nil {
		return err
	}
	return t.level(org, series, n)
}

// renew extends live lease l by ttl from now and emits its event.
func (t *txn) renew(l *licensingv1.Lease, ttl time.Duration) error {
	if err := t.Delete(timeKey(leaseExpiry, l.GetExpireTime().AsTime(), l.GetName())); err != nil {
		return err
	}
	l.RenewTime, l.ExpireTime = t.Timestamp(), timestamppb.New(t.Now.Add(ttl))
	if err := t.Put(timeKey(leaseExpiry, l.GetExpireTime().AsTime(), l.GetName()), nil); err != nil {
		return err
	}
	if err := t.putLease(l); err != nil {
		return err
	}
	return t.Emit(TypeLeaseRenewed, eventlogv1.Operation_OPERATION_UPDATE, l.GetName(), l,
		fmt.Sprintf("The lease of %s on machine %q was renewed until %s.", l.GetPrincipal(), l.GetMachine(), formatTime(l.GetExpireTime())))
}

// endReasonWords says why a lease ended, in audit messages and errors.
var endReasonWords = map[licensingv1.Lease_EndReason]string{
	licensingv1.Lease_END_REASON_RELEASED:                "its client released it",
	licensingv1.Lease_END_REASON_EXPIRED:                 "it was not renewed in time",
	licensingv1.Lease_END_REASON_FORCE_RELEASED:          "an administrator force-released it",
	licensingv1.Lease_END_REASON_LICENSE_REMOVED:         "its license was removed",
	licensingv1.Lease_END_REASON_PRINCIPAL_REMOVED:       "its principal was deleted or deactivated",
	licensingv1.Lease_END_REASON_ACCOUNT_SYSTEM_SWITCHED: "the organization switched its account system",
	licensingv1.Lease_END_REASON_POOL_EXPIRED:            "its license pool expired",
}

// endLease ends live lease l for reason: its license is free at once, and
// it stays (ended) for EndedLeaseRetention so a late renewal learns why.
func (t *txn) endLease(l *licensingv1.Lease, reason licensingv1.Lease_EndReason) error {
	for _, k := range [][]byte{timeKey(leaseExpiry, l.GetExpireTime().AsTime(), l.GetName()), []byte(heldKey(l.GetPrincipal(), l.GetClient()))} {
		if err := t.Delete(k); err != nil {
			return err
		}
	}
	if err := t.countLease(l, -1); err != nil {
		return err
	}
	l.EndReason, l.EndTime = reason, t.Timestamp()
	if err := t.putLease(l); err != nil {
		return err
	}
	if err := t.Put(timeKey(leaseEnded, t.Now, l.GetName()), nil); err != nil {
		return err
	}
	return t.Emit(TypeLeaseEnded, eventlogv1.Operation_OPERATION_DELETE, l.GetName(), l,
		fmt.Sprintf("The lease of %s on machine %q ended: %s.", l.GetPrincipal(), l.GetMachine(), endReasonWords[reason]))
}

// leaseEndedError is LEASE_ENDED for l, saying why.
func leaseEndedError(l *licensingv1.Lease) error {
	reason := strings.TrimPrefix(l.GetEndReason().String(), "END_REASON_")
	return errorWith(ErrLeaseEnded, map[string]string{"lease": l.GetName(), "reason": reason},
		"%s ended at %s: %s; sign in again (AcquireLease)", l.GetName(), formatTime(l.GetEndTime()), endReasonWords[l.GetEndReason()])
}

// GetLease reads a lease, live or recently ended.
func (s *Service) GetLease(ctx context.Context, actor Actor, name string) (*licensingv1.Lease, error) {
	if err := actor.Visible(name); err != nil {
		return nil, err
	}
	l := &licensingv1.Lease{}
	if err := s.view(ctx, func(tx store.ReadTx) error { return get(tx, leasePrefix+name, name, l) }); err != nil {
		return nil, err
	}
	return l, nil
}

// RenewLease extends a live lease by the lease TTL (R24). A lease that has
// ended, or whose expiry or pool validity has passed (it ends now), is
// LEASE_ENDED with the reason: the client must sign in again. Who may renew
// is the caller's check.
func (s *Service) RenewLease(ctx context.Context, actor Actor, name string) (*licensingv1.Lease, error) {
	if err := actor.Visible(name); err != nil {
		return nil, err
	}
	l := &licensingv1.Lease{}
	err := s.update(ctx, actor, func(t *txn) error {
		l.Reset()
		if err := get(t, leasePrefix+name, name, l); err != nil {
			return err
		}
		if l.GetEndReason() != licensingv1.Lease_END_REASON_UNSPECIFIED {
			return nil
		}
		if !t.Now.Before(l.GetExpireTime().AsTime()) {
			return t.endLease(l, licensingv1.Lease_END_REASON_EXPIRED)
		}
		p := &licensingv1.LicensePool{}
		if err := get(t, poolPrefix+l.GetPool(), l.GetPool(), p); err != nil {
			return err
		}
		if usable(p, t.Now) != nil {
			return t.endLease(l, licensingv1.Lease_END_REASON_POOL_EXPIRED)
		}
		return t.renew(l, s.leaseTTL)
	})
	switch {
	case err != nil:
		return nil, err
	case l.GetEndReason() != licensingv1.Lease_END_REASON_UNSPECIFIED:
		return nil, leaseEndedError(l) // the end, if it is new, is committed
	}
	return l, nil
}

// ReleaseLease ends a lease when its client closes (R24); releasing an
// ended lease changes nothing. Who may release is the caller's check.
func (s *Service) ReleaseLease(ctx context.Context, actor Actor, name string) error {
	_, err := s.endLeaseNamed(ctx, actor, name, licensingv1.Lease_END_REASON_RELEASED)
	return err
}

// ForceReleaseLease ends another's lease (R24); its client learns it at its
// next renewal. It returns the lease, ended (an ended lease unchanged).
func (s *Service) ForceReleaseLease(ctx context.Context, actor Actor, name string) (*licensingv1.Lease, error) {
	return s.endLeaseNamed(ctx, actor, name, licensingv1.Lease_END_REASON_FORCE_RELEASED)
}

// endLeaseNamed ends the lease called name for reason, unless it has ended.
func (s *Service) endLeaseNamed(ctx context.Context, actor Actor, name string, reason licensingv1.Lease_EndReason) (*licensingv1.Lease, error) {
	if err := actor.Visible(name); err != nil {
		return nil, err
	}
	l := &licensingv1.Lease{}
	err := s.update(ctx, actor, func(t *txn) error {
		l.Reset()
		if err := get(t, leasePrefix+name, name, l); err != nil {
			return err
		}
		if l.GetEndReason() != licensingv1.Lease_END_REASON_UNSPECIFIED {
			return nil
		}
		return t.endLease(l, reason)
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// ListLeases lists an organization's live leases by name, optionally of one
// pool or principal (R24).
func (s *Service) ListLeases(ctx context.Context, actor Actor, req *licensingv1.ListLeasesRequest) (*licensingv1.ListLeasesResponse, error) {
	if err := s.checkParent(actor, req.GetParent(), "", nonEmpty(req.GetPool(), req.GetPrincipal())...); err != nil {
		return nil, err
	}
	pool, principal := req.GetPool(), req.GetPrincipal()
	resp := &licensingv1.ListLeasesResponse{}
	err := s.view(ctx, func(tx store.ReadTx) error {
		var err error
		resp.Leases, resp.NextPageToken, err = records.Page(tx, []byte(leasePrefix+req.GetParent()+"/leases/"), true,
			req.GetPageToken(), req.GetPageSize(), pagetoken.Fingerprint("leases", req.GetParent(), pool, principal),
			func() *licensingv1.Lease { return &licensingv1.Lease{} },
			func(l *licensingv1.Lease) (bool, error) {
				return l.GetEndReason() == licensingv1.Lease_END_REASON_UNSPECIFIED &&
					(pool == "" || l.GetPool() == pool) && (principal == "" || l.GetPrincipal() == principal), nil
			})
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// endLeasesOf ends every live lease of principal (of product, unless it is
// PRODUCT_UNSPECIFIED) for reason.
func (t *txn) endLeasesOf(principal string, product licensingv1.Product, reason licensingv1.Lease_EndReason) error {
	for _, p := range []licensingv1.Product{licensingv1.Product_PRODUCT_ROBOT, licensingv1.Product_PRODUCT_EDITOR} {
		if product != licensingv1.Product_PRODUCT_UNSPECIFIED && p != product {
			continue
		}
		name, err := t.Get([]byte(heldKey(principal, p)))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		l := &licensingv1.Lease{}
		if err := get(t, leasePrefix+string(name), string(name), l); err != nil {
			return err
		}
		if err := t.endLease(l, reason); err != nil {
			return err
		}
	}
	return nil
}

// expireDue ends at most limit leases whose expiry has passed and returns
// how many it ended.
func (t *txn) expireDue(limit int) (int, error) {
	due, err := t.dueKeys(leaseExpiry, t.Now.Add(time.Nanosecond), limit)
	if err != nil {
		return 0, err
	}
	for _, name := range due {
		l := &licensingv1.Lease{}
		if err := get(t, leasePrefix+name, name, l); err != nil {
			return 0, err
		}
		if err := t.endLease(l, licensingv1.Lease_END_REASON_EXPIRED); err != nil {
			return 0, err
		}
	}
	return len(due), nil
}

// dropEnded deletes at most limit leases that ended before cutoff and
// returns how many.
func (t *txn) dropEnded(cutoff time.Time, limit int) (int, error) {
	names, err := t.dueKeys(leaseEnded, cutoff, limit)
	if err != nil {
		return 0, err
	}
	for _, name := range names {
		if err := t.Delete([]byte(leasePrefix + name)); err != nil {
			return 0, err
		}
	}
	return len(names), nil
}

// dueKeys deletes and returns the suffixes of at most limit of the
// timeKeys under prefix whose time is before until, oldest first: the
// records an index by time says are due.
func (t *txn) dueKeys(prefix string, until time.Time, limit int) ([]string, error) {
	var keys [][]byte
	err := t.Scan([]byte(prefix), nil, func(k, _ []byte) (bool, error) {
		if at, _ := keyTime(prefix, k); !at.Before(until) || len(keys) == limit {
			return false, nil
		}
		keys = append(keys, append([]byte(nil), k...))
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	suffixes := make([]string, len(keys))
	for i, k := range keys {
		_, suffixes[i] = keyTime(prefix, k)
		if err := t.Delete(k); err != nil {
			return nil, err
		}
	}
	return suffixes, nil
}
