package domain

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "steward.dev/gen/steward/audit/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/csvsafe"
	"steward.dev/pkg/store"
)

// ExportColumns is the header row of the CSV download (R29): every field
// of an audit event.
var ExportColumns = []string{
	"Name",
	"Index",
	"Time",
	"Source",
	"Source Sequence",
	"Type",
	"Actor",
	"Actor Display Name",
	"Action",
	"Target",
	"Tenant",
	"Outcome",
	"Request ID",
	"Source Address",
	"Message",
	"Organization",
}

// ExportChunkSize is the size past which an export hands what it has
// buffered to emit (one google.api.HttpBody message each).
const ExportChunkSize = 64 << 10

// ExportFile returns the media type and file name of the download of
// organization org's events in format f.
func ExportFile(org string, f auditv1.ExportAuditEventsRequest_Format) (contentType, filename string) {
	id := strings.TrimPrefix(org, "organizations/")
	if f == auditv1.ExportAuditEventsRequest_FORMAT_JSONL {
		return "application/jsonl; charset=utf-8", "audit-events-" + id + ".jsonl"
	}
	return "text/csv; charset=utf-8", "audit-events-" + id + ".csv"
}

// ExportAuditEvents writes the events of the organization req.Parent that
// match req.Filter, in the order of Events (the whole log in index order
// without a filter, else oldest first), as CSV (a header
// of ExportColumns, then one row per event, every cell neutralized against
// CSV injection) or as JSON lines (one AuditEvent in protojson form per
// line), without a row cap and in constant memory: events are read a chunk
// at a time in short read transactions (Events) and handed to emit in
// pieces of about ExportChunkSize bytes (a CSV's header alone when nothing
// matches; nothing at all for an empty JSON lines file). emit must not
// keep chunk after it returns. A malformed filter is a *FieldError,
// another organization ErrNotFound. Before the first byte the download is
// recorded in the organization's log (recordExport, R27), so the file
// holds its own record; when that fails, nothing is exported.
func (s *Service) ExportAuditEvents(ctx context.Context, actor Actor, req *auditv1.ExportAuditEventsRequest, emit func(chunk []byte) error) error {
	// Check the request before the first byte goes out.
	if err := s.checkOrganization(actor, req.GetParent()); err != nil {
		return err
	}
	if _, err := ParseFilter(req.GetFilter()); err != nil {
		return err
	}
	if err := s.recordExport(ctx, actor, req); err != nil {
		return err
	}
	w := newChunkWriter(emit)
	var write func(ev *auditv1.AuditEvent) error
	var finish func() error
	if req.GetFormat() == auditv1.ExportAuditEventsRequest_FORMAT_JSONL {
		opts := protojson.MarshalOptions{}
		var line []byte
		write = func(ev *auditv1.AuditEvent) error {
			var err error
			if line, err = opts.MarshalAppend(line[:0], ev); err != nil {
				return err
			}
			_, err = w.Write(append(line, '\n'))
			return err
		}
		finish = w.flush
	} else {
		cw := csvsafe.NewWriter(w) // buffers up to 4 KiB itself before writing to w
		if err := cw.Write(ExportColumns); err != nil {
			return err
		}
		row := make([]string, len(ExportColumns))
		write = func(ev *auditv1.AuditEvent) error {
			exportRow(row, ev)
			return cw.Write(row)
		}
		finish = func() error {
			if err := cw.Flush(); err != nil {
				return err
			}
			return w.flush()
		}
	}
	if err := s.Events(ctx, actor, req.GetParent(), req.GetFilter(), write); err != nil {
		return err
	}
	return finish()
}

// Audit's record of a download of audit events (R27).
const (
	// TypeEventsExported is the type of the audit event recording a
	// download of an organization's audit events.
	TypeEventsExported = "audit.events.exported"
	// exportAction is its action: the method's name.
	exportAction = "ExportAuditEvents"
)

// chunkWriter buffers what the downloads write and hands it to emit in
// pieces of about ExportChunkSize bytes (one google.api.HttpBody each).
type chunkWriter struct {
	emit func([]byte) error
	buf  []byte
}

// newChunkWriter returns a chunkWriter emitting to emit, which must not
// keep a piece after it returns.
func newChunkWriter(emit func([]byte) error) *chunkWriter {
	return &chunkWriter{emit: emit, buf: make([]byte, 0, ExportChunkSize+4096)}
}

// Write buffers p, emitting once ExportChunkSize bytes are buffered.
func (w *chunkWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	if len(w.buf) >= ExportChunkSize {
		if err := w.flush(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// flush emits what is buffered, if anything.
func (w *chunkWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	err := w.emit(w.buf)
	w.buf = w.buf[:0]
	return err
}

// recordExport records, in its own transaction, actor's download req in
// the log of the organization downloaded, through the path every audit
// event takes (record): source "audit", type TypeEventsExported, action
// exportAction, target the organization, the actor with their request ID
// and address, the format and filter (and the API key, if one was used) in
// the message. The organization's name must have been checked.
func (s *Service) recordExport(ctx context.Context, actor Actor, req *auditv1.ExportAuditEventsRequest) error {
	org := req.GetParent()
	var msg strings.Builder
	fmt.Fprintf(&msg, "Audit events of %s were exported as ", org)
	if req.GetFormat() == auditv1.ExportAuditEventsRequest_FORMAT_JSONL {
		msg.WriteString("JSON lines")
	} else {
		msg.WriteString("CSV")
	}
	if f := req.GetFilter(); f != "" {
		fmt.Fprintf(&msg, " (filter: %s)", f)
	} else {
		msg.WriteString(" (no filter)")
	}
	if actor.APIKey != "" {
		fmt.Fprintf(&msg, " with API key %s", actor.APIKey)
	}
	msg.WriteString(".")
	err := s.store.Update(ctx, func(tx store.Tx) error {
		// A new event each attempt: record sets its index and name.
		_, err := s.record(tx, org, &auditv1.AuditEvent{
			Time:             timestamppb.New(s.clock()),
			Source:           auditSource,
			Type:             TypeEventsExported,
			Actor:            actor.Name,
			ActorDisplayName: actor.DisplayName,
			Action:           exportAction,
			Target:           org,
			Outcome:          eventlogv1.Outcome_OUTCOME_SUCCESS,
			RequestId:        actor.RequestID,
			SourceAddress:    actor.SourceAddress,
			Message:          msg.String(),
			Organization:     org,
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("domain: recording the export of %s: %w", org, err)
	}
	return nil
}

// exportRow fills row (len(ExportColumns)) with ev's cells.
func exportRow(row []string, ev *auditv1.AuditEvent) {
	t := ""
	if ev.GetTime() != nil {
		t = ev.GetTime().AsTime().UTC().Format(time.RFC3339Nano)
	}
	row[0] = ev.GetName()
	row[1] = strconv.FormatInt(ev.GetIndex(), 10)
	row[2] = t
	row[3] = ev.GetSource()
	row[4] = strconv.FormatUint(ev.GetSourceSequence(), 10)
	row[5] = ev.GetType()
	row[6] = ev.GetActor()
	row[7] = ev.GetActorDisplayName()
	row[8] = ev.GetAction()
	row[9] = ev.GetTarget()
	row[10] = ev.GetTenant()
	row[11] = strings.TrimPrefix(fieldValue(ev, FieldOutcome), "OUTCOME_")
	row[12] = ev.GetRequestId()
	row[13] = ev.GetSourceAddress()
	row[14] = ev.GetMessage()
	row[15] = ev.GetOrganization()
}
