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
	id := strings.TrimPrefix(req.GetParent(), "organizations/")
	return toStatus(s.d.ExportRoleAssignments(ctx, actorOf(ctx), req, csvSender(stream, "role-assignments-"+id+".csv")))
}

// ExportPermissionHolders streams ListPermissionHolders' answer as CSV
// (issue 14), like ExportRoleAssignments; the file is
// permission-holders-{permission}.csv.
func (s *accessServer) ExportPermissionHolders(req *accessv1.ExportPermissionHoldersRequest, stream grpc.ServerStreamingServer[httpbody.HttpBody]) error {
	ctx := stream.Context()
	return toStatus(s.d.ExportPermissionHolders(ctx, actorOf(ctx), req, csvSender(stream, "permission-holders-"+req.GetPermission()+".csv")))
}

// csvSender sends each chunk as one HttpBody; before the first, which
// carries the content type, the response header metadata
// "content-disposition" names the file.
func csvSender(stream grpc.ServerStreamingServer[httpbody.HttpBody], file string) func([]byte) error {
	first := true
	return func(chunk []byte) error {
		msg := &httpbody.HttpBody{Data: chunk}
		if first {
			first = false
			msg.ContentType = exportContentType
			_ = stream.SetHeader(metadata.Pairs("content-disposition", fmt.Sprintf("attachment; filename=%q", file)))
		}
		return stream.Send(msg)
	}
}
