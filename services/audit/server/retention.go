package server

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	auditv1 "steward.dev/gen/steward/audit/v1"
	"steward.dev/services/audit/domain"
)

// GetAuditSettings reads the organization's retention and where its purge
// stands.
func (s *auditServer) GetAuditSettings(ctx context.Context, req *auditv1.GetAuditSettingsRequest) (*auditv1.AuditSettings, error) {
	return reply(s.d.GetAuditSettings(ctx, actorOf(ctx), req.GetName()))
}

// UpdateAuditSettings changes the organization's retention (an audit event
// itself); the next purge applies it.
func (s *auditServer) UpdateAuditSettings(ctx context.Context, req *auditv1.UpdateAuditSettingsRequest) (*auditv1.AuditSettings, error) {
	return reply(s.d.UpdateAuditSettings(ctx, actorOf(ctx), req))
}

// ExportLeafHashes streams the log's leaf hashes, 32 bytes each, as
// application/octet-stream, one google.api.HttpBody per 64 KiB; the
// response header "content-disposition" names the file
// audit-leaf-hashes-{org id}.bin (the gateway forwards it).
func (s *auditServer) ExportLeafHashes(req *auditv1.ExportLeafHashesRequest, stream grpc.ServerStreamingServer[httpbody.HttpBody]) error {
	ctx := stream.Context()
	first := true
	send := func(chunk []byte) error {
		msg := &httpbody.HttpBody{Data: chunk}
		if first {
			first = false
			msg.ContentType = "application/octet-stream"
			name := "audit-leaf-hashes-" + strings.TrimPrefix(req.GetParent(), "organizations/") + ".bin"
			_ = stream.SetHeader(metadata.Pairs("content-disposition", fmt.Sprintf("attachment; filename=%q", name)))
		}
		return stream.Send(msg)
	}
	if err := s.d.ExportLeafHashes(ctx, actorOf(ctx), req, send); err != nil {
		return toStatus(err)
	}
	if first {
		return send(nil)
	}
	return nil
}

// purge applies every organization's retention (run every
// -purge-interval, domain.Service.Purge), logging and counting what it
// deleted; a failure is logged and counted, and the next tick tries again.
func purge(ctx context.Context, d *domain.Service, logger *slog.Logger, m *metrics) {
	purged, err := d.Purge(ctx)
	for _, p := range purged {
		m.purged.WithLabelValues(p.Log).Add(float64(p.Events))
		logger.Info("audit: purged events older than the organization's retention", "organization", p.Log, "events", p.Events, "purged_before", p.Before)
	}
	if err != nil && ctx.Err() == nil {
		m.purgeErrors.Inc()
		logger.Error("audit: purging failed; trying again at the next tick", "error", err)
	}
}
