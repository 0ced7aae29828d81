package driver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
)

// PollInterval is how long the visibility phase sleeps between two
// CheckPermission calls while a change is not visible yet, as
// deploy/e2e's TestAccess does. It bounds the resolution of the delays:
// a change is seen up to one interval (plus the sleep's overshoot) and
// one Check's round trip after access applied it.
const PollInterval = 500 * time.Microsecond

// visibilityTimeout bounds the wait for one change to become visible.
const visibilityTimeout = 10 * time.Second

// Visibility is the measurement of the visibility phase: how soon a
// group membership change that the directory has made is visible in
// CheckPermission on access, another process, which learns of it from
// the directory's event log. No consistency token is sent: the delay is
// the natural propagation.
type Visibility struct {
	// Group, Scope and Permission are the manifest's MembershipTarget's:
	// membership of Group grants Permission at Scope.
	Group      string `json:"group"`
	Scope      string `json:"scope"`
	Permission string `json:"permission"`
	// Users is how many users took turns being added and removed.
	Users int `json:"users"`
	// Changes counts the changes made and seen, half of them
	// AddGroupMember and half RemoveGroupMember, alternately.
	Changes int64 `json:"changes"`
	// Polls counts the CheckPermission calls made waiting for them.
	Polls int64 `json:"polls"`
	// PollInterval is PollInterval in microseconds.
	PollInterval float64 `json:"poll_interval_us"`
	// SinceAck is the delay from the directory's acknowledgement (the
	// change call's return) to the return of the first CheckPermission
	// whose decision reflects the change.
	SinceAck Percentiles `json:"since_ack"`
	// SinceCall is the same delay from the start of the change call, as
	// deploy/e2e's TestAccess measures it (issue 5's figure): the call,
	// a durable commit, included.
	SinceCall Percentiles `json:"since_call"`
}

// visibility runs the visibility phase: cfg.Changes membership changes of
// the manifest's target, alternately adding one of its users to the group
// and removing it again, so that the dataset ends as it started. Each
// change is made by the owner through the directory at cfg.DirectoryAddr;
// from its return, access is asked through check, as the other kinds ask
// it (the manifest's API key), every PollInterval until the decision
// flips.
func visibility(ctx context.Context, cfg Config, check accessv1.AccessServiceClient) (_ *Visibility, err error) {
	m, t := cfg.Manifest, cfg.Manifest.Membership
	checkCtx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+m.APIKey.Secret)
	plain, err := grpc.NewClient(cfg.DirectoryAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("driver: %w", err)
	}
	defer plain.Close()
	conn, err := grpc.NewClient(cfg.DirectoryAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(m.Owner.PerRPC(directoryv1.NewDirectoryServiceClient(plain), m.Organization)))
	if err != nil {
		return nil, fmt.Errorf("driver: %w", err)
	}
	defer conn.Close()
	dir := directoryv1.NewDirectoryServiceClient(conn)

	// member is the user added and not yet removed, if any: on a failure
	// it is removed, so that the dataset ends as it started.
	var member string
	defer func() {
		if member == "" {
			return
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, rerr := dir.RemoveGroupMember(rctx, &directoryv1.RemoveGroupMemberRequest{Group: t.Group, Member: member}); rerr != nil {
			err = errors.Join(err, fmt.Errorf("driver: %s is left in %s: %w", member, t.Group, rerr))
		}
	}()
	allowed := func(user string) (bool, error) {
		resp, err := check.CheckPermission(checkCtx, &accessv1.CheckPermissionRequest{Principal: user, Permission: t.Permission, Scope: t.Scope})
		return resp.GetAllowed(), err
	}

	v := &Visibility{Group: t.Group, Scope: t.Scope, Permission: t.Permission, Users: len(t.Users), PollInterval: float64(PollInterval) / 1e3}
	sinceAck, sinceCall := newHist(), newHist()
	for i := range cfg.Changes {
		user, add := t.Users[(i/2)%len(t.Users)], i%2 == 0
		if add {
			// Unmeasured: the user must not hold the permission yet.
			holds, err := allowed(user)
			if err != nil {
				return nil, fmt.Errorf("driver: visibility: %w", err)
			}
			if holds {
				return nil, fmt.Errorf("driver: visibility: %s already holds %s at %s (left in %s by an interrupted run?)", user, t.Permission, t.Scope, t.Group)
			}
		}
		start := time.Now()
		if add {
			_, err = dir.AddGroupMember(ctx, &directoryv1.AddGroupMemberRequest{Group: t.Group, Member: user})
		} else {
			_, err = dir.RemoveGroupMember(ctx, &directoryv1.RemoveGroupMemberRequest{Group: t.Group, Member: user})
		}
		if err != nil {
			return nil, fmt.Errorf("driver: visibility: change %d of %s in %s: %w", i, user, t.Group, err)
		}
		ack := time.Now()
		member = ""
		if add {
			member = user
		}
		for polls := 1; ; polls++ {
			holds, err := allowed(user)
			if err != nil {
				return nil, fmt.Errorf("driver: visibility: %w", err)
			}
			if holds == add {
				seen := time.Now()
				_ = sinceAck.RecordValue(seen.Sub(ack).Nanoseconds())
				_ = sinceCall.RecordValue(seen.Sub(start).Nanoseconds())
				v.Changes++
				v.Polls += int64(polls)
				break
			}
			if time.Since(ack) > visibilityTimeout {
				return nil, fmt.Errorf("driver: visibility: change %d of %s in %s not visible in Check after %v", i, user, t.Group, visibilityTimeout)
			}
			time.Sleep(PollInterval)
		}
	}
	v.SinceAck, v.SinceCall = percentiles(sinceAck), percentiles(sinceCall)
	return v, nil
}
