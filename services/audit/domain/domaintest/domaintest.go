// Package domaintest generates the synthetic event log that audit's
// benchmarks and load tests record and search (R28, R29): one
// organization's directory events, spread over Actors actors and Targets
// targets in Tenants tenants, one in 7 denied, one millisecond apart.
package domaintest

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/store"
	"steward.dev/services/audit/domain"
)

// The synthetic log's shape.
const (
	// Org is the organization all the events belong to.
	Org = "organizations/o1"
	// Actors is how many actors act in turn: actor i%Actors acts in event i.
	Actors = 1000
	// Targets is how many resources are acted on, Tenants how many tenants
	// they are in.
	Targets, Tenants = 100, 10
	// Batch is how many events one transaction applies, as a consumer
	// catching up does (eventlog.DefaultMaxBatch).
	Batch = 256
)

// Actor returns the name of actor a (0 <= a < Actors).
func Actor(a int) string { return fmt.Sprintf("%s/users/u%d", Org, a) }

// Event returns event i (from 0) of the synthetic directory log whose
// first event happened at t0: sequence i+1, actor i%Actors, target
// i%Targets in tenant i%Tenants, denied when i%7 == 0.
func Event(i int, t0 time.Time) *eventlogv1.Event {
	outcome := eventlogv1.Outcome_OUTCOME_SUCCESS
	if i%7 == 0 {
		outcome = eventlogv1.Outcome_OUTCOME_DENIED
	}
	return &eventlogv1.Event{
		Sequence:     uint64(i + 1),
		Time:         timestamppb.New(t0.Add(time.Duration(i) * time.Millisecond)),
		Source:       "directory",
		Type:         "directory.user.updated",
		Resource:     fmt.Sprintf("%s/tenants/t%d/services/s/folders/f%d", Org, i%Tenants, i%Targets),
		Organization: Org,
		LogId:        "bench",
		Audit: &eventlogv1.AuditEnvelope{
			Actor: Actor(i % Actors), ActorDisplayName: "User", Action: "UpdateUser",
			Message: "User [u] was updated.", RequestId: strconv.Itoa(i), Outcome: outcome, SourceAddress: "10.0.0.1",
		},
	}
}

// Ingest records events first to first+n-1 in d, whose store is st,
// through the directory consumer's Apply function, Batch events per
// transaction.
func Ingest(ctx context.Context, d *domain.Service, st store.Store, first, n int, t0 time.Time) error {
	apply := d.ApplyEvent("directory")
	for i := first; i < first+n; i += Batch {
		end := min(i+Batch, first+n)
		err := st.Update(ctx, func(tx store.Tx) error {
			for j := i; j < end; j++ {
				if err := apply(tx, Event(j, t0)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
