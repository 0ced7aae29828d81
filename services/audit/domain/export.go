package domain

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	auditv1 "steward.dev/gen/steward/audit/v1"
	"steward.dev/pkg/csvsafe"
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
// another organization ErrNotFound.
func (s *Service) ExportAuditEvents(ctx context.Context, actor Actor, req *auditv1.ExportAuditEventsRequest, emit func(chunk []byte) error) error {
	// Check the request before the first byte goes out.
	if err := s.checkOrganization(actor, req.GetParent()); err != nil {
		return err
	}
	if _, err := ParseFilter(req.GetFilter()); err != nil {
		return err
	}
	var buf bytes.Buffer
	flush := func(final bool) error {
		if buf.Len() == 0 || (!final && buf.Len() < ExportChunkSize) {
			return nil
		}
		err := emit(buf.Bytes())
		buf.Reset()
		return err
	}
	var write func(ev *auditv1.AuditEvent) error
	var finish func() error
	if req.GetFormat() == auditv1.ExportAuditEventsRequest_FORMAT_JSONL {
		opts := protojson.MarshalOptions{}
		write = func(ev *auditv1.AuditEvent) error {
			b, err := opts.MarshalAppend(buf.AvailableBuffer(), ev)
			if err != nil {
				return err
			}
			buf.Write(b)
			buf.WriteByte('\n')
			return flush(false)
		}
		finish = func() error { return flush(true) }
	} else {
		w := csvsafe.NewWriter(&buf)
		if err := w.Write(ExportColumns); err != nil {
			return err
		}
		row := make([]string, len(ExportColumns))
		write = func(ev *auditv1.AuditEvent) error {
			exportRow(row, ev)
			if err := w.Write(row); err != nil {
				return err
			}
			if buf.Len() < ExportChunkSize {
				// The csv writer buffers up to 4 KiB itself before spilling.
				return nil
			}
			if err := w.Flush(); err != nil {
				return err
			}
			return flush(false)
		}
		finish = func() error {
			if err := w.Flush(); err != nil {
				return err
			}
			return flush(true)
		}
	}
	if err := s.Events(ctx, actor, req.GetParent(), req.GetFilter(), write); err != nil {
		return err
	}
	return finish()
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
