package domain

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "steward.dev/gen/steward/audit/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/records"
	"steward.dev/pkg/store"
	"steward.dev/services/audit/ledger"
)

// Retention's defaults and bounds.
const (
	// DefaultMinRetention is the shortest retention an organization may
	// set when Options.MinRetention is 0: an administrator cannot make the
	// trail forget yesterday.
	DefaultMinRetention = 30 * 24 * time.Hour
	// MaxRetention is the longest retention that is not "for ever".
	MaxRetention = 100 * 365 * 24 * time.Hour
	// DefaultPurgeBatch is how many events one purge transaction deletes
	// when Options.PurgeBatch is 0.
	DefaultPurgeBatch = 8192
)

// Audit's own events in an organization's log.
const (
	// TypeSettingsUpdated is the type of the event UpdateAuditSettings
	// records.
	TypeSettingsUpdated = "audit.settings.updated"
	// TypePurged is the type of the event each purge transaction records,
	// whose purged_before is the new purge horizon.
	TypePurged = "audit.retention.purged"
)

// settingsSuffix ends the name of an organization's audit settings.
const settingsSuffix = "/auditSettings"

// horizon is where an organization's purge stands ("purge/" + log): the
// events before index before are gone, as the purge event at index event
// (whose purged_before is before) recorded at nanos.
type horizon struct {
	before, event, nanos int64
}

// readHorizon returns log's purge horizon (zero if never purged).
func readHorizon(tx store.ReadTx, log string) (horizon, error) {
	b, err := tx.Get([]byte(purgePrefix + log))
	if errors.Is(err, store.ErrNotFound) {
		return horizon{}, nil
	}
	if err != nil {
		return horizon{}, err
	}
	if len(b) != 24 {
		return horizon{}, errors.New("domain: corrupt purge horizon of " + log)
	}
	return horizon{
		before: int64(binary.BigEndian.Uint64(b)),
		event:  int64(binary.BigEndian.Uint64(b[8:])),
		nanos:  int64(binary.BigEndian.Uint64(b[16:])),
	}, nil
}

// putHorizon stores log's purge horizon.
func putHorizon(tx store.Tx, log string, h horizon) error {
	b := binary.BigEndian.AppendUint64(nil, uint64(h.before))
	b = binary.BigEndian.AppendUint64(b, uint64(h.event))
	b = binary.BigEndian.AppendUint64(b, uint64(h.nanos))
	return tx.Put([]byte(purgePrefix+log), b)
}

// readSettings returns log's stored settings (name, retention, update
// time, etag), or its defaults (keep for ever) when never set.
func readSettings(tx store.ReadTx, log string) (*auditv1.AuditSettings, error) {
	st := &auditv1.AuditSettings{Name: log + settingsSuffix}
	b, err := tx.Get([]byte(settingsPrefix + log))
	if errors.Is(err, store.ErrNotFound) {
		records.SetEtag(st)
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	if err := proto.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("domain: corrupt audit settings of %s: %w", log, err)
	}
	return st, nil
}

// settingsView returns the settings as the API shows them: the stored ones
// with the purge's output-only fields.
func settingsView(tx store.ReadTx, log string) (*auditv1.AuditSettings, error) {
	st, err := readSettings(tx, log)
	if err != nil {
		return nil, err
	}
	h, err := readHorizon(tx, log)
	if err != nil {
		return nil, err
	}
	st.PurgedBefore = h.before
	if h.nanos != 0 {
		st.LastPurgeTime = timestamppb.New(time.Unix(0, h.nanos))
	}
	return st, nil
}

// settingsLog returns the organization whose audit settings are name,
// "organizations/{o}/auditSettings", visible to actor.
func settingsLog(actor Actor, name string) (string, error) {
	log, ok := strings.CutSuffix(name, settingsSuffix)
	if !ok || !organizationName.MatchString(log) {
		return "", errorf(ErrNotFound, "%s not found", name)
	}
	return log, actor.Visible(log)
}

// GetAuditSettings returns the organization's audit settings, name
// "organizations/{o}/auditSettings": its retention (unset: for ever) and
// where its purge stands.
func (s *Service) GetAuditSettings(ctx context.Context, actor Actor, name string) (*auditv1.AuditSettings, error) {
	log, err := settingsLog(actor, name)
	if err != nil {
		return nil, err
	}
	var st *auditv1.AuditSettings
	err = s.view(ctx, func(tx store.ReadTx) error {
		st, err = settingsView(tx, log)
		return err
	})
	return st, err
}

// describeRetention words a retention for people.
func describeRetention(d *durationpb.Duration) string {
	if d.AsDuration() <= 0 {
		return "forever"
	}
	v := d.AsDuration()
	if v%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", v/(24*time.Hour))
	}
	return v.String()
}

// UpdateAuditSettings changes the organization's retention (the only
// updatable field; an empty update_mask means it): 0 or unset keeps events
// for ever, anything else must lie between the installation's minimum
// (Options.MinRetention) and MaxRetention, else a *FieldError on
// audit_settings.retention. An etag that is not the current one is
// ErrEtagMismatch. The change is recorded in the organization's own log
// (TypeSettingsUpdated) in the transaction that stores it; the next purge
// applies it.
func (s *Service) UpdateAuditSettings(ctx context.Context, actor Actor, req *auditv1.UpdateAuditSettingsRequest) (*auditv1.AuditSettings, error) {
	in := req.GetAuditSettings()
	log, err := settingsLog(actor, in.GetName())
	if err != nil {
		return nil, err
	}
	if r := in.GetRetention(); r != nil {
		if err := r.CheckValid(); err != nil {
			return nil, fieldError("audit_settings.retention", "is not a valid duration: %v", err)
		}
		switch d := r.AsDuration(); {
		case d < 0:
			return nil, fieldError("audit_settings.retention", "must not be negative")
		case d > 0 && d < s.minRetention:
			return nil, fieldError("audit_settings.retention", "must be 0 (keep for ever) or at least %s (the installation's minimum retention)", s.minRetention)
		case d > MaxRetention:
			return nil, fieldError("audit_settings.retention", "must be at most %s (100 years), or 0 to keep events for ever", MaxRetention)
		}
	}
	var out *auditv1.AuditSettings
	err = s.store.Update(ctx, func(tx store.Tx) error {
		st, err := readSettings(tx, log)
		if err != nil {
			return err
		}
		if in.GetEtag() != "" && in.GetEtag() != st.GetEtag() {
			return errorf(ErrEtagMismatch, "the audit settings of %s changed since they were read (etag %q, current %q)", log, in.GetEtag(), st.GetEtag())
		}
		before := describeRetention(st.GetRetention())
		if err := records.ApplyMask(st, in, req.GetUpdateMask().GetPaths(), "retention"); err != nil {
			return err
		}
		if st.GetRetention().AsDuration() == 0 {
			st.Retention = nil
		}
		now := s.clock()
		st.UpdateTime = timestamppb.New(now)
		st.Etag = ""
		records.SetEtag(st)
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(st)
		if err != nil {
			return err
		}
		if err := tx.Put([]byte(settingsPrefix+log), b); err != nil {
			return err
		}
		if _, err := s.record(tx, log, &auditv1.AuditEvent{
			Time:             timestamppb.New(now),
			Source:           auditSource,
			Type:             TypeSettingsUpdated,
			Actor:            actor.Name,
			ActorDisplayName: actor.DisplayName,
			Action:           "UpdateAuditSettings",
			Target:           st.GetName(),
			Outcome:          eventlogv1.Outcome_OUTCOME_SUCCESS,
			RequestId:        actor.RequestID,
			SourceAddress:    actor.SourceAddress,
			Message:          fmt.Sprintf("Audit retention set to %s (was: %s).", describeRetention(st.GetRetention()), before),
			Organization:     log,
		}); err != nil {
			return err
		}
		out, err = settingsView(tx, log)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Purged is what one organization's purge did.
type Purged struct {
	// Log is the organization.
	Log string
	// Events is how many events were deleted.
	Events int64
	// Before is the purge horizon after it: events before this index are
	// gone.
	Before int64
}

// Purge applies every organization's retention (R28, retention): for each
// whose retention is set, it deletes, oldest first, the events recorded
// before now minus the retention, with their index entries, stopping at
// the first event that is not that old (an event is never deleted before
// its retention passed). The Merkle tree's hashes stay: every checkpoint
// signed before or after, every consistency proof, every inclusion proof
// of a kept event and the leaf hashes (ExportLeafHashes) remain
// verifiable. Each purge transaction deletes at most Options.PurgeBatch
// events and records, in the same transaction, an event in the
// organization's log (TypePurged) whose purged_before is the new horizon:
// the horizon is part of the signed history, and VerifyAuditLog checks the
// stored one against it. Records of earlier purges wait for the next events
// old enough: a run that would delete only them deletes nothing, so an idle
// organization does not record a purge every run. It returns what it
// purged, per organization that
// lost events; it goes on after an organization it cannot purge,
// returning the errors joined.
func (s *Service) Purge(ctx context.Context) ([]Purged, error) {
	type due struct {
		log       string
		retention time.Duration
	}
	var logs []due
	err := s.view(ctx, func(tx store.ReadTx) error {
		return tx.Scan([]byte(settingsPrefix), nil, func(k, v []byte) (bool, error) {
			st := &auditv1.AuditSettings{}
			if err := proto.Unmarshal(v, st); err != nil {
				return false, fmt.Errorf("domain: corrupt audit settings at %q: %w", k, err)
			}
			if d := st.GetRetention().AsDuration(); d > 0 {
				logs = append(logs, due{string(k[len(settingsPrefix):]), d})
			}
			return true, nil
		})
	})
	if err != nil {
		return nil, err
	}
	var (
		out  []Purged
		errs []error
	)
	for _, d := range logs {
		p, err := s.purgeLog(ctx, d.log, d.retention)
		if p.Events > 0 {
			out = append(out, p)
		}
		if err != nil {
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			errs = append(errs, fmt.Errorf("purging %s: %w", d.log, err))
		}
	}
	return out, errors.Join(errs...)
}

// purgeLog purges log's events older than retention, in transactions of
// at most s.purgeBatch events (see Purge).
func (s *Service) purgeLog(ctx context.Context, log string, retention time.Duration) (Purged, error) {
	res := Purged{Log: log}
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		var n int64
		done := false
		err := s.store.Update(ctx, func(tx store.Tx) error {
			n, done = 0, false
			now := s.clock()
			cutoff := unixNanos(now.Add(-retention))
			h, err := readHorizon(tx, log)
			if err != nil {
				return err
			}
			size, err := s.ledger.Size(tx, log)
			if err != nil {
				return err
			}
			i := h.before
			var oldest, newest int64
			others := false // whether anything but earlier purges' records goes
			for ; i < size && i-h.before < int64(s.purgeBatch); i++ {
				ev, err := getEvent(tx, log, i)
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("domain: event %d of %s is missing before the purge reached it; VerifyAuditLog reports it", i, log)
				}
				if err != nil {
					return err
				}
				t := eventNanos(ev)
				if t >= cutoff {
					done = true
					break
				}
				if i == h.before {
					oldest = t
				}
				newest = t
				others = others || ev.GetType() != TypePurged
				if err := tx.Delete(eventKey(log, i)); err != nil {
					return err
				}
				for _, k := range indexKeys(log, ev) {
					if err := tx.Delete(k); err != nil {
						return err
					}
				}
			}
			done = done || i == size
			n = i - h.before
			res.Before = i
			if n == 0 {
				return nil
			}
			if !others {
				// Only the records of earlier purges are old enough: purging
				// them would record one more, every run, for ever. They go
				// with the next events that are old enough.
				n, done, res.Before = 0, true, h.before
				return errOnlyPurges
			}
			index, err := s.record(tx, log, &auditv1.AuditEvent{
				Time:         timestamppb.New(now),
				Source:       auditSource,
				Type:         TypePurged,
				Actor:        auditActor,
				Action:       actionOf(TypePurged),
				Target:       log + settingsSuffix,
				Outcome:      eventlogv1.Outcome_OUTCOME_SUCCESS,
				Message:      purgeMessage(n, h.before, i, oldest, newest, retention),
				Organization: log,
				PurgedBefore: i,
			})
			if err != nil {
				return err
			}
			return putHorizon(tx, log, horizon{before: i, event: index, nanos: unixNanos(now)})
		})
		if err != nil && !errors.Is(err, errOnlyPurges) {
			return res, err
		}
		res.Events += n
		if done {
			return res, nil
		}
	}
}

// errOnlyPurges rolls back a purge transaction that would delete nothing
// but the records of earlier purges.
var errOnlyPurges = errors.New("only earlier purges' records are old enough")

// purgeMessage words a purge for people.
func purgeMessage(n, from, before, oldest, newest int64, retention time.Duration) string {
	return fmt.Sprintf("%d audit events (indexes %d to %d, recorded %s to %s) were purged: older than the organization's retention of %s. "+
		"Their hashes stay in the Merkle tree, so every checkpoint and proof stays verifiable; events before index %d are gone.",
		n, from, before-1, time.Unix(0, oldest).UTC().Format(time.RFC3339), time.Unix(0, newest).UTC().Format(time.RFC3339),
		describeRetention(durationpb.New(retention)), before)
}

// checkHorizon checks, after a verification that passed, that the purge
// horizon h (read in the verification's transaction) is the one recorded
// in the signed history: the event at h.event must be a purge event whose
// purged_before is h.before. It returns why not ("" when it is, or when the
// log was never purged). The event is read again in tx; it was verified.
func checkHorizon(tx store.ReadTx, log string, h horizon) string {
	if h.before == 0 {
		return ""
	}
	ev, err := getEvent(tx, log, h.event)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Sprintf("the purge event %d that recorded the purge horizon %d is missing", h.event, h.before)
	case err != nil:
		return fmt.Sprintf("the purge event %d cannot be read: %v", h.event, err)
	case ev.GetType() != TypePurged || ev.GetPurgedBefore() != h.before:
		return fmt.Sprintf("events before %d are gone, but event %d does not record that purge (type %q, purged_before %d): events were deleted outside a purge", h.before, h.event, ev.GetType(), ev.GetPurgedBefore())
	}
	return ""
}

// purgedLeaf wraps the leaf reader of a verification of log: an index
// before the purge horizon (read once, in the verification's transaction,
// into *h) is ledger.ErrPurged.
func purgedLeaf(log string, h *horizon) func(tx store.ReadTx, index int64) ([]byte, error) {
	read := false
	return func(tx store.ReadTx, index int64) ([]byte, error) {
		if !read {
			var err error
			if *h, err = readHorizon(tx, log); err != nil {
				return nil, err
			}
			read = true
		}
		if index < h.before {
			return nil, ledger.ErrPurged
		}
		return tx.Get(eventKey(log, index))
	}
}
