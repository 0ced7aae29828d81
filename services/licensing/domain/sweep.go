package domain

import (
	"context"
)

// Swept counts what one Sweep did.
type Swept struct {
	// LeasesExpired is the leases ended because they were not renewed.
	LeasesExpired int
	// ExecutionsExpired is the execution locks released at their expiry.
	ExecutionsExpired int
	// LeasesDropped is the ended leases deleted after EndedLeaseRetention.
	LeasesDropped int
	// HoursDropped is the usage-trend hours deleted after the retention.
	HoursDropped int
}

// Sweep reclaims what time has ended (R24-R26): leases not renewed in time
// (each with its event, its license free again), execution locks past
// their TTL, ended leases older than EndedLeaseRetention and usage-trend
// hours older than the retention. It works in transactions of at most a
// few hundred records, until nothing is due.
func (s *Service) Sweep(ctx context.Context) (Swept, error) {
	var total Swept
	for {
		var n Swept
		err := s.update(ctx, sweeper, func(t *txn) error {
			n = Swept{}
			var err error
			if n.LeasesExpired, err = t.expireDue(expireBatch); err != nil {
				return err
			}
			if n.ExecutionsExpired, err = t.expireExecutions(expireBatch); err != nil {
				return err
			}
			if n.LeasesDropped, err = t.dropEnded(t.Now.Add(-EndedLeaseRetention), expireBatch); err != nil {
				return err
			}
			n.HoursDropped, err = t.dropOldHours(t.Now.Add(-s.retention), expireBatch)
			return err
		})
		if err != nil {
			return total, err
		}
		total.LeasesExpired += n.LeasesExpired
		total.ExecutionsExpired += n.ExecutionsExpired
		total.LeasesDropped += n.LeasesDropped
		total.HoursDropped += n.HoursDropped
		if n == (Swept{}) {
			return total, nil
		}
		if n.LeasesExpired < expireBatch && n.ExecutionsExpired < expireBatch && n.LeasesDropped < expireBatch && n.HoursDropped < expireBatch {
			return total, nil
		}
	}
}
