package domain

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	auditv1 "steward.dev/gen/steward/audit/v1"
	"steward.dev/pkg/pagetoken"
	"steward.dev/pkg/store"
)

// Paging of ListAuditEvents.
const (
	// DefaultPageSize is the page size when the request asks for none.
	DefaultPageSize = 100
	// MaxPageSize is the largest page.
	MaxPageSize = 1000
)

// Orders of a search (order_by).
const (
	// OrderNewestFirst is the default: newest first.
	OrderNewestFirst = "time desc"
	// OrderOldestFirst lists oldest first.
	OrderOldestFirst = "time asc"
)

// plan is how a search walks the store: one index of one log, in one
// direction, within the filter's time range, checking the filter's other
// conditions on each event.
type plan struct {
	log    string
	prefix []byte // the index walked: entries are prefix + time + index
	filter Filter
	desc   bool
}

// planFor picks the index a search of log with filter f walks: the index
// of the most selective equality condition present (equalityFields'
// order: actor, target, action, tenant, source, outcome), else the time
// index. Every index is ordered by time then index, so the filter's time
// range bounds the walk on any of them.
func planFor(log string, f Filter, desc bool) plan {
	p := plan{log: log, filter: f, desc: desc, prefix: timePrefix(log)}
	for _, field := range equalityFields {
		for _, c := range f.Conditions {
			if c.Field == field && c.Value != "" {
				p.prefix = fieldPrefix(field, log, c.Value)
				return p
			}
		}
	}
	return p
}

// position is where a walk stands: an event's time (Unix nanoseconds) and
// index. Page tokens carry the last position a page examined.
type position struct {
	nanos, index int64
}

// bytes encodes pos for a page token.
func (pos position) bytes() []byte {
	b := timeBytes(nil, pos.nanos)
	return binary.BigEndian.AppendUint64(b, uint64(pos.index))
}

// decodePosition is the inverse of position.bytes.
func decodePosition(b []byte) (position, bool) {
	if len(b) != 16 {
		return position{}, false
	}
	return position{nanos: decodeTimeBytes(b[:8]), index: int64(binary.BigEndian.Uint64(b[8:]))}, true
}

// walkResult says where a walk stopped.
type walkResult struct {
	// last is the last entry examined; ok is false when none was.
	last position
	ok   bool
	// end is true when the walk reached the end of its range (neither fn
	// nor the budget stopped it).
	end bool
}

// walk examines at most budget entries of p after the position after (nil:
// from the start), in p's order, and calls fn with each event that matches
// p's filter, until fn returns false. It reads in tx.
func (p plan) walk(tx store.ReadTx, after *position, budget int, fn func(pos position, ev *auditv1.AuditEvent) (bool, error)) (walkResult, error) {
	var res walkResult
	n := len(p.prefix)
	lo := timeBytes(bytes.Clone(p.prefix), p.filter.From)
	hi := append(timeBytes(bytes.Clone(p.prefix), p.filter.To), 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF)
	var skip []byte // the entry a page token names: already examined
	start := lo
	if p.desc {
		start = hi
	}
	if after != nil {
		start = append(bytes.Clone(p.prefix), after.bytes()...)
		skip = start
	}
	stopped := false // by fn or the budget, before the range's end
	visit := func(k, _ []byte) (bool, error) {
		if len(k) != n+16 {
			return false, errors.New("domain: malformed index entry " + strconv.Quote(string(k)))
		}
		if skip != nil && bytes.Equal(k, skip) {
			return true, nil
		}
		switch {
		case (p.desc && bytes.Compare(k, lo) < 0) || (!p.desc && bytes.Compare(k, hi) > 0):
			return false, nil // past the range: the end
		case bytes.Compare(k, lo) < 0 || bytes.Compare(k, hi) > 0:
			return true, nil // before the range (a forged start)
		case budget == 0:
			stopped = true
			return false, nil
		}
		budget--
		pos := position{nanos: decodeTimeBytes(k[n : n+8]), index: int64(binary.BigEndian.Uint64(k[n+8:]))}
		res.last, res.ok = pos, true
		ev, err := getEvent(tx, p.log, pos.index)
		if err != nil {
			return false, err
		}
		if !p.filter.matches(ev) {
			return true, nil
		}
		more, err := fn(pos, ev)
		if !more {
			stopped = true
		}
		return more, err
	}
	var err error
	if p.desc {
		err = tx.ScanReverse(p.prefix, start, visit)
	} else {
		err = tx.Scan(p.prefix, start, visit)
	}
	if err != nil {
		return walkResult{}, err
	}
	res.end = !stopped
	return res, nil
}

// matches reports whether ev satisfies every equality condition of f (the
// time range is the walk's).
func (f Filter) matches(ev *auditv1.AuditEvent) bool {
	for _, c := range f.Conditions {
		if fieldValue(ev, c.Field) != c.Value {
			return false
		}
	}
	return true
}

// getEvent reads the event at index of log, with its name.
func getEvent(tx store.ReadTx, log string, index int64) (*auditv1.AuditEvent, error) {
	b, err := tx.Get(eventKey(log, index))
	if err != nil {
		return nil, err
	}
	ev := &auditv1.AuditEvent{}
	if err := proto.Unmarshal(b, ev); err != nil {
		return nil, err
	}
	ev.Name = EventName(log, index)
	return ev, nil
}

// parseOrder returns whether order_by o lists newest first.
func parseOrder(o string) (desc bool, err error) {
	switch strings.Join(strings.Fields(o), " ") {
	case "", OrderNewestFirst:
		return true, nil
	case OrderOldestFirst:
		return false, nil
	}
	return false, fieldError("order_by", "must be %q (the default) or %q", OrderNewestFirst, OrderOldestFirst)
}

// ListAuditEvents returns one page of the events of the organization
// req.Parent that match req.Filter (R29), newest first unless req.OrderBy
// is "time asc". The page walks one index (planFor), examining at most the
// Service's scan budget of entries: a page may hold fewer than
// req.PageSize events and still have a next_page_token. A malformed
// filter, order or page token is a *FieldError; another organization
// ErrNotFound.
func (s *Service) ListAuditEvents(ctx context.Context, actor Actor, req *auditv1.ListAuditEventsRequest) (*auditv1.ListAuditEventsResponse, error) {
	log := req.GetParent()
	if err := s.checkOrganization(actor, log); err != nil {
		return nil, err
	}
	f, err := ParseFilter(req.GetFilter())
	if err != nil {
		return nil, err
	}
	desc, err := parseOrder(req.GetOrderBy())
	if err != nil {
		return nil, err
	}
	size := int(req.GetPageSize())
	if size <= 0 {
		size = DefaultPageSize
	}
	size = min(size, MaxPageSize)
	fp := pagetoken.Fingerprint(log, req.GetFilter(), strconv.FormatBool(desc))
	var after *position
	if tok := req.GetPageToken(); tok != "" {
		b, err := pagetoken.Decode(tok, fp)
		pos, ok := decodePosition(b)
		if err != nil || !ok {
			return nil, fieldError("page_token", "is not a token of this search (same parent, filter and order_by)")
		}
		after = &pos
	}
	resp := &auditv1.ListAuditEventsResponse{}
	if f.Empty() {
		return resp, nil
	}
	p := planFor(log, f, desc)
	err = s.view(ctx, func(tx store.ReadTx) error {
		resp.AuditEvents, resp.NextPageToken = nil, ""
		var lastReturned position
		more := false
		res, err := p.walk(tx, after, s.scanBudget, func(pos position, ev *auditv1.AuditEvent) (bool, error) {
			if len(resp.AuditEvents) == size {
				more = true // a match beyond the page
				return false, nil
			}
			resp.AuditEvents = append(resp.AuditEvents, ev)
			lastReturned = pos
			return true, nil
		})
		switch {
		case err != nil:
			return err
		case more:
			resp.NextPageToken = pagetoken.Encode(lastReturned.bytes(), fp)
		case !res.end && res.ok:
			// The budget ran out: continue after what was examined.
			resp.NextPageToken = pagetoken.Encode(res.last.bytes(), fp)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// GetAuditEvent reads one audit event by name,
// "organizations/{o}/auditEvents/{index}". An event of another
// organization, or one that does not exist, is ErrNotFound.
func (s *Service) GetAuditEvent(ctx context.Context, actor Actor, name string) (*auditv1.AuditEvent, error) {
	log, index, err := parseEventName(name)
	if err != nil {
		return nil, err
	}
	if err := actor.Visible(log); err != nil {
		return nil, err
	}
	var ev *auditv1.AuditEvent
	err = s.view(ctx, func(tx store.ReadTx) error {
		var err error
		ev, err = getEvent(tx, log, index)
		if errors.Is(err, store.ErrNotFound) {
			h, herr := readHorizon(tx, log)
			if herr != nil {
				return herr
			}
			if index < h.before {
				return errorf(ErrNotFound, "%s was purged by the organization's retention (events before index %d are gone; their hashes stay in the Merkle tree)", name, h.before)
			}
			return errorf(ErrNotFound, "%s not found", name)
		}
		return err
	})
	return ev, err
}

// GetInstallationEvent reads the event at index of InstallationLog, which
// the organization-scoped API does not list (audit's notes of resyncs,
// installation-level changes): for the operator's tools and tests.
func (s *Service) GetInstallationEvent(ctx context.Context, index int64) (*auditv1.AuditEvent, error) {
	var ev *auditv1.AuditEvent
	err := s.view(ctx, func(tx store.ReadTx) error {
		var err error
		ev, err = getEvent(tx, InstallationLog, index)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, errorf(ErrNotFound, "%s not found", EventName(InstallationLog, index))
	}
	return ev, err
}

// parseEventName splits an audit event's name into its log (the
// organization) and index; a malformed one is ErrNotFound.
func parseEventName(name string) (string, int64, error) {
	log, idx, ok := strings.Cut(name, "/auditEvents/")
	if !ok || !organizationName.MatchString(log) {
		return "", 0, errorf(ErrNotFound, "%s not found", name)
	}
	index, err := strconv.ParseInt(idx, 10, 64)
	if err != nil || index < 0 || strconv.FormatInt(index, 10) != idx {
		return "", 0, errorf(ErrNotFound, "%s not found", name)
	}
	return log, index, nil
}

// exportChunk is how many events one read transaction of a walk over a
// whole search (Events) returns, and exportBudget how many entries it
// examines at most: short transactions, constant memory.
const (
	exportChunk  = 500
	exportBudget = 5000
)

// Events calls fn with every event of the organization parent matching
// filter, in short read transactions of at most exportChunk events each (an
// export's memory does not grow with the log). Without a filter, the events
// come in index order: the whole log as its Merkle tree holds it, which
// `steward-audit verify` checks offline against a checkpoint
// (ledger.VerifyExport). With one, they come oldest first (by time, then
// index) from the index planFor picks. fn must not keep the events past the
// next call. A malformed filter is a *FieldError, another organization
// ErrNotFound; fn's error stops the walk and is returned.
func (s *Service) Events(ctx context.Context, actor Actor, parent, filter string, fn func(ev *auditv1.AuditEvent) error) error {
	if err := s.checkOrganization(actor, parent); err != nil {
		return err
	}
	f, err := ParseFilter(filter)
	if err != nil {
		return err
	}
	if f.Empty() {
		return nil
	}
	var chunk func(tx store.ReadTx) (bool, error)
	batch := make([]*auditv1.AuditEvent, 0, exportChunk)
	if len(f.Conditions) == 0 && f.From == MatchAll.From && f.To == MatchAll.To {
		next := int64(0)
		chunk = func(tx store.ReadTx) (bool, error) {
			prefix := []byte(eventPrefix + parent + "/")
			err := tx.Scan(prefix, eventKey(parent, next), func(k, v []byte) (bool, error) {
				if len(batch) == exportChunk {
					return false, nil
				}
				ev := &auditv1.AuditEvent{}
				if err := proto.Unmarshal(v, ev); err != nil {
					return false, err
				}
				ev.Name = EventName(parent, ev.GetIndex())
				batch = append(batch, ev)
				next = ev.GetIndex() + 1
				return true, nil
			})
			return len(batch) < exportChunk, err
		}
	} else {
		p := planFor(parent, f, false)
		var after *position
		chunk = func(tx store.ReadTx) (bool, error) {
			res, err := p.walk(tx, after, exportBudget, func(_ position, ev *auditv1.AuditEvent) (bool, error) {
				batch = append(batch, ev)
				return len(batch) < exportChunk, nil
			})
			if err != nil {
				return false, err
			}
			last := res.last
			after = &last
			return res.end, nil
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var end bool
		err := s.view(ctx, func(tx store.ReadTx) error {
			batch = batch[:0]
			var err error
			end, err = chunk(tx)
			return err
		})
		if err != nil {
			return err
		}
		for _, ev := range batch {
			if err := fn(ev); err != nil {
				return err
			}
		}
		if end {
			return nil
		}
	}
}
