package server

import (
	"fmt"
	"strings"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	accessv1 "steward.dev/gen/steward/access/v1"
)

// exportContentType is the media type of the role-assignment export.
const exportContentType = "text/csv; charset=utf-8"

// ExportRoleAssignments streams the organization's role assignments as CSV
// (R19), one google.api.HttpBody per chunk of about 64 KiB; the first
// carries the content type. Before it, the response header metadata
// "content-disposition" names the file, role-assignments-{org id}.csv
// (the JSON gateway forwards it as Grpc-Metadata-Content-Disposition).
func (s *accessServer) ExportRoleAssignments(req *accessv1.ExportRoleAssignmentsRequest, stream grpc.ServerStreamingServer[httpbody.HttpBody]) error {
	ctx := stream.Context()
	first := true
	err := s.d.ExportRoleAssignments(ctx, actorOf(ctx), req, func(chunk []byte) error {
		msg := &httpbody.HttpBody{Data: chunk}
		if first {
			first = false
			msg.ContentType = exportContentType
			id := strings.TrimPrefix(req.GetParent(), "organizations/")
			_ = stream.SetHeader(metadata.Pairs("content-disposition",
				fmt.Sprintf("attachment; filename=%q", "role-assignments-"+id+".csv")))
		}
		return stream.Send(msg)
	})
	if err != nil {
		return toStatus(err)
	}
	return nil
}
