package backend

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"google.golang.org/grpc"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store"
)

// Follow declares one log of another service that this service follows:
// the events it applies to its own store, exactly once, and how it recovers
// when it cannot follow (see eventlog.Consumer).
type Follow struct {
	// Source names the followed service, e.g. "directory". Required.
	Source string
	// Addr is the followed service's gRPC address, dialled with the
	// service's credential; ignored when Conn is set.
	Addr string
	// Conn, when set, is the connection to the followed service (tests).
	Conn grpc.ClientConnInterface
	// Consumer names the consumer, e.g. "access-directory": its cursor key
	// and its metrics label. Required.
	Consumer string
	// Store is where the events are applied with the cursor; nil means the
	// service's store.
	Store store.Store
	// Apply applies one event inside the transaction that advances the
	// cursor. Required.
	Apply func(tx store.Tx, ev *eventlogv1.Event) error
	// Resync rebuilds the service's copy from a snapshot of the source when
	// it cannot follow (retention passed it, or the source's log was
	// replaced), writing snapshot and position in one transaction. Nil means
	// the service must never fall behind: it then turns NOT_SERVING and says
	// why until an operator repairs it.
	Resync func(ctx context.Context) (eventlog.Position, error)
	// Durable registers the consumer with the source, whose retention then
	// keeps every event it has not applied.
	Durable bool
	// Once makes only one replica at a time follow the log when the
	// service's replicas share a store (GoOnce, R32): the elected one
	// applies the events to the store they all read, and the others count
	// the follower as ready. On a store of its own it changes nothing.
	Once bool
}

// Follow starts following f's log when the service runs (dialling the
// source lazily, so the source may start later) and keeps the service
// NOT_SERVING until every followed log has caught up with the head its
// consumer saw on connecting, and again while one is stuck. It returns the
// consumer, for WaitFor (consistency tokens) and Cursor. Call it from
// Config.Register.
func (b *Backend) Follow(f Follow) (*eventlog.Consumer, error) {
	switch {
	case f.Source == "" || f.Consumer == "" || f.Apply == nil:
		return nil, errors.New("backend: Follow needs Source, Consumer and Apply")
	case f.Conn == nil && f.Addr == "":
		return nil, fmt.Errorf("backend: %s follows %s but has no address for it (-%s-addr)", b.name, f.Source, f.Source)
	}
	conn := f.Conn
	if conn == nil {
		cc, err := b.Dial(f.Addr)
		if err != nil {
			return nil, fmt.Errorf("backend: dialling %s: %w", f.Source, err)
		}
		b.server.AddCleanup(cc.Close)
		conn = cc
	}
	st := f.Store
	if st == nil {
		st = b.store
	}
	c := &eventlog.Consumer{
		Name:    f.Consumer,
		Store:   st,
		Source:  eventlog.NewClientSource(eventlogv1.NewEventLogServiceClient(conn)),
		Apply:   f.Apply,
		Resync:  f.Resync,
		Durable: f.Durable,
		Logger:  b.logger,
	}
	c.OnStatus = func(s eventlog.Status) { b.followerStatus(f.Consumer, s) }
	b.followMu.Lock()
	if b.followers == nil {
		b.followers = map[string]eventlog.Status{}
	}
	if f.Once && b.Replicated() {
		b.followers[f.Consumer] = electedFollows
		b.server.SetReady(b.readyLocked())
		b.followMu.Unlock()
		b.GoOnce("follow-"+f.Consumer, func(ctx context.Context) error {
			err := c.Run(ctx)
			// Leadership lost (or the service stopping): another replica
			// follows now, whatever state this one's consumer stopped in.
			b.followerStatus(f.Consumer, electedFollows)
			return err
		})
		return c, nil
	}
	b.followers[f.Consumer] = eventlog.Status{Reason: "not started"}
	b.followMu.Unlock()
	b.server.SetReady(false)
	b.Go(c.Run)
	return c, nil
}

// electedFollows is the status of a Follow.Once follower on a replica that
// is not the elected one: ready, since the elected replica applies the log
// to the store this one reads.
var electedFollows = eventlog.Status{Ready: true, Reason: "followed by the elected replica"}

// followerStatus records a consumer's status and sets the service's
// readiness: ready when every consumer is.
func (b *Backend) followerStatus(consumer string, s eventlog.Status) {
	b.followMu.Lock()
	defer b.followMu.Unlock()
	before := b.readyLocked()
	b.followers[consumer] = s
	ready := b.readyLocked()
	if ready != before {
		if ready {
			b.logger.Info("backend: caught up with every followed log: ready", "service", b.name)
		} else {
			b.logger.Warn("backend: not ready", "service", b.name, "waiting_for", b.notReadyLocked())
		}
	}
	b.server.SetReady(ready)
}

// readyLocked reports whether every follower is ready; b.followMu must be
// held.
func (b *Backend) readyLocked() bool {
	for _, s := range b.followers {
		if !s.Ready {
			return false
		}
	}
	return true
}

// notReadyLocked says which followers are not ready and why; b.followMu
// must be held.
func (b *Backend) notReadyLocked() string {
	var parts []string
	for name, s := range b.followers {
		if !s.Ready {
			parts = append(parts, name+": "+s.Reason)
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}
