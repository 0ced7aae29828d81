package server

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	auditv1 "steward.dev/gen/steward/audit/v1"
	"steward.dev/pkg/accessauthz"
	"steward.dev/pkg/apierr"
	"steward.dev/pkg/authn"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store"
	"steward.dev/services/audit/domain"
	"steward.dev/services/audit/ledger"
)

// errorDomain is the ErrorInfo domain of audit's reasons.
const errorDomain = "audit.steward.dev"

// auditServer serves steward.audit.v1.AuditService: each handler turns the
// caller into a domain.Actor, calls the domain service and maps its
// errors. Input rules (protovalidate) and the method's permission rule
// (audit_logs.view on the organization, authz) ran before.
type auditServer struct {
	auditv1.UnimplementedAuditServiceServer
	d *domain.Service
	// verifierKey verifies the checkpoints' signatures.
	verifierKey string
	// sources are the followed logs, for GetIngestionStatus.
	sources []followed
}

var _ auditv1.AuditServiceServer = (*auditServer)(nil)

// actorOf returns the caller of ctx as a domain.Actor: the end user when a
// service acts for one.
func actorOf(ctx context.Context) domain.Actor {
	var a domain.Actor
	if p, ok := authn.Actor(ctx); ok {
		a.Name, a.Organization, a.DisplayName = p.Name, p.Organization, p.DisplayName
		a.APIKey = accessauthz.APIKeyOf(p)
	}
	a.RequestID = authn.RequestID(ctx)
	a.SourceAddress = authn.ClientAddress(ctx)
	return a
}

// errorTable maps the domain's sentinels to API errors, once.
var errorTable = apierr.Table{
	{Err: domain.ErrNotFound, To: apierr.New(codes.NotFound, "NOT_FOUND", errorDomain, "", nil)},
	{Err: domain.ErrEtagMismatch, To: apierr.New(codes.Aborted,
		apierr.Reason(auditv1.ErrorReason_ERROR_REASON_ETAG_MISMATCH), errorDomain, "", nil)},
	{Err: domain.ErrTreeSizeUnavailable, To: apierr.New(codes.FailedPrecondition,
		apierr.Reason(auditv1.ErrorReason_ERROR_REASON_TREE_SIZE_UNAVAILABLE), errorDomain, "", nil)},
	// The stored tree contradicts a checkpoint audit signed: it refuses to
	// sign over it. The details go to the log; VerifyAuditLog names the
	// first altered event.
	{Err: ledger.ErrTampered, To: apierr.New(codes.DataLoss, "DATA_LOSS", errorDomain,
		"the audit log contradicts its signed checkpoint; VerifyAuditLog names the first altered event", nil)},
}

// toStatus returns err as a gRPC status error: field errors become
// InvalidArgument with a field violation; domain errors go through
// errorTable, keeping their message and ErrorInfo metadata.
func toStatus(err error) error {
	var fe *domain.FieldError
	if errors.As(err, &fe) {
		return apierr.InvalidArgument(apierr.Reason(auditv1.ErrorReason_ERROR_REASON_INVALID_ARGUMENT), errorDomain, fe.Error(),
			apierr.FieldViolation(fe.Field, fe.Description)).GRPCStatus().Err()
	}
	if errors.Is(err, ledger.ErrTampered) {
		return errorTable.ToStatus(err)
	}
	for _, m := range errorTable {
		if errors.Is(err, m.Err) {
			e := *m.To
			e.Message, e.Metadata = err.Error(), domain.MetadataOf(err)
			return e.GRPCStatus().Err()
		}
	}
	return errorTable.ToStatus(err)
}

// reply returns resp, or the status error of err.
func reply[T any](resp T, err error) (T, error) {
	if err != nil {
		var zero T
		return zero, toStatus(err)
	}
	return resp, nil
}

// ListAuditEvents searches an organization's audit events (R29).
func (s *auditServer) ListAuditEvents(ctx context.Context, req *auditv1.ListAuditEventsRequest) (*auditv1.ListAuditEventsResponse, error) {
	return reply(s.d.ListAuditEvents(ctx, actorOf(ctx), req))
}

// GetAuditEvent reads one audit event (R29).
func (s *auditServer) GetAuditEvent(ctx context.Context, req *auditv1.GetAuditEventRequest) (*auditv1.AuditEvent, error) {
	return reply(s.d.GetAuditEvent(ctx, actorOf(ctx), req.GetName()))
}

// ExportAuditEvents streams the matching events as CSV or JSON lines
// (R29), one google.api.HttpBody per chunk of about 64 KiB; the first
// carries the content type (an empty file is one empty chunk). Before it,
// the response header metadata "content-disposition" names the file,
// audit-events-{org id}.csv or .jsonl (the JSON gateway forwards it as
// Grpc-Metadata-Content-Disposition).
func (s *auditServer) ExportAuditEvents(req *auditv1.ExportAuditEventsRequest, stream grpc.ServerStreamingServer[httpbody.HttpBody]) error {
	ctx := stream.Context()
	contentType, filename := domain.ExportFile(req.GetParent(), req.GetFormat())
	first := true
	send := func(chunk []byte) error {
		msg := &httpbody.HttpBody{Data: chunk}
		if first {
			first = false
			msg.ContentType = contentType
			_ = stream.SetHeader(metadata.Pairs("content-disposition", fmt.Sprintf("attachment; filename=%q", filename)))
		}
		return stream.Send(msg)
	}
	if err := s.d.ExportAuditEvents(ctx, actorOf(ctx), req, send); err != nil {
		return toStatus(err)
	}
	if first {
		return send(nil)
	}
	return nil
}

// GetAuditCheckpoint returns the organization's latest signed checkpoint
// (R28).
func (s *auditServer) GetAuditCheckpoint(ctx context.Context, req *auditv1.GetAuditCheckpointRequest) (*auditv1.Checkpoint, error) {
	return reply(s.d.GetAuditCheckpoint(ctx, actorOf(ctx), req.GetName()))
}

// GetInclusionProof proves an event is in the log of a size (R28).
func (s *auditServer) GetInclusionProof(ctx context.Context, req *auditv1.GetInclusionProofRequest) (*auditv1.InclusionProof, error) {
	return reply(s.d.GetInclusionProof(ctx, actorOf(ctx), req))
}

// GetConsistencyProof proves a log of one size extends another (R28).
func (s *auditServer) GetConsistencyProof(ctx context.Context, req *auditv1.GetConsistencyProofRequest) (*auditv1.ConsistencyProof, error) {
	return reply(s.d.GetConsistencyProof(ctx, actorOf(ctx), req))
}

// VerifyAuditLog checks every stored event against the signed tree (R28).
func (s *auditServer) VerifyAuditLog(ctx context.Context, req *auditv1.VerifyAuditLogRequest) (*auditv1.VerifyAuditLogResponse, error) {
	return reply(s.d.VerifyAuditLog(ctx, actorOf(ctx), req))
}

// GetIngestionStatus reports, per followed log, audit's cursor, the
// source's head as last seen, the lag, how often audit resynced from it
// (kept in the store) and, when the consumer is not ready, why.
// Internal: Steward's services and the operator.
func (s *auditServer) GetIngestionStatus(ctx context.Context, _ *auditv1.GetIngestionStatusRequest) (*auditv1.IngestionStatus, error) {
	out := &auditv1.IngestionStatus{}
	for _, f := range s.sources {
		st := f.consumer.Status()
		resyncs, err := s.d.Resyncs(ctx, f.name)
		if err != nil {
			return nil, toStatus(err)
		}
		// With replicas, the elected one ingests: the stored cursor is
		// where ingestion is, whichever replica answers.
		var stored eventlog.Position
		if err := f.consumer.Store.View(ctx, func(tx store.ReadTx) (err error) {
			stored, err = eventlog.GetPosition(tx, f.consumer.Name)
			return err
		}); err != nil {
			return nil, toStatus(err)
		}
		cursor := max(st.Cursor, stored.Sequence)
		head := max(st.Head, cursor)
		ss := &auditv1.SourceStatus{Source: f.name, Cursor: cursor, Head: head, Lag: head - cursor, Resyncs: resyncs}
		if !st.Ready || st.Stuck {
			ss.Problem = st.Reason
		}
		out.Sources = append(out.Sources, ss)
	}
	return out, nil
}

// GetAuditPublicKey returns the key that verifies checkpoints. Public.
func (s *auditServer) GetAuditPublicKey(context.Context, *auditv1.GetAuditPublicKeyRequest) (*auditv1.AuditPublicKey, error) {
	return &auditv1.AuditPublicKey{VerifierKey: s.verifierKey}, nil
}
