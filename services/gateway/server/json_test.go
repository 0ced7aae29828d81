package server

import (
	"errors"
	"io"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
)

// TestDecodeErrors: request bodies that do not decode are described by the
// gateway, naming the field, without protojson's prefixes; the description
// becomes a BadRequest field violation. It pins protojson's error shapes.
func TestDecodeErrors(t *testing.T) {
	m := newJSONMarshaler()
	for _, tc := range []struct {
		name  string
		into  proto.Message
		body  string
		field string // "" when no field is named
		desc  string // part of the description
	}{
		{"unknown field", &directoryv1.SignUpRequest{}, `{"organizationId":"o","bogus":1}`, "bogus", "unknown field"},
		{"unknown nested field", &directoryv1.CreateGroupRequest{}, `{"group":{"displayName":"G","extra":true}}`, "extra", "unknown field"},
		{"quoted field name", &directoryv1.SignUpRequest{}, `{"a\"b":1}`, `a"b`, "unknown field"},
		{"duplicate field", &directoryv1.SignUpRequest{}, `{"nickname":"a","nickname":"b"}`, "nickname", "duplicate field"},
		{"unknown enum value", &directoryv1.Group{}, `{"kind":"KIND_BOGUS"}`, "kind", `unknown or invalid enum value "KIND_BOGUS"`},
		{"enum number out of range is kept", &directoryv1.Group{}, `{"kind":99}`, "", ""},
		{"wrong type", &directoryv1.SignUpRequest{}, `{"organizationId":7}`, "organizationId", "unknown or invalid value 7"},
		{"long value", &directoryv1.SignUpRequest{}, `{"organizationId":` + strings.Repeat("9", 200) + `}`, "organizationId", "…"},
		{"invalid JSON", &directoryv1.SignUpRequest{}, `{"organizationId":`, "", "unexpected EOF"},
		{"not an object", &accessv1.CheckPermissionRequest{}, `[1]`, "", "invalid request body: syntax error: unexpected token ["},
		{"bad timestamp", &directoryv1.Group{}, `{"createTime":"yesterday"}`, "", "Timestamp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := m.NewDecoder(strings.NewReader(tc.body)).Decode(tc.into)
			if tc.desc == "" {
				if err != nil {
					t.Fatalf("Decode(%s) = %v, want success", tc.body, err)
				}
				return
			}
			var be *bodyError
			if !errors.As(err, &be) {
				t.Fatalf("Decode(%s) = %v, want a bodyError", tc.body, err)
			}
			if be.field != tc.field || !strings.Contains(be.Error(), tc.desc) {
				t.Errorf("Decode(%s) = field %q, %q; want field %q, containing %q", tc.body, be.field, be.Error(), tc.field, tc.desc)
			}
			if strings.Contains(be.Error(), "proto:") || strings.Contains(be.Error(), "(line ") {
				t.Errorf("message %q shows protojson's prefix", be.Error())
			}
			// As the generated handlers return it.
			st := withFieldViolation(status.Newf(codes.InvalidArgument, "%v", err))
			var violations []*errdetails.BadRequest_FieldViolation
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok {
					violations = append(violations, br.GetFieldViolations()...)
				}
			}
			switch {
			case tc.field == "" && len(violations) != 0:
				t.Errorf("violations %v for a body error without a field", violations)
			case tc.field != "" && (len(violations) != 1 || violations[0].GetField() != tc.field):
				t.Errorf("violations %v, want one for %s", violations, tc.field)
			}
		})
	}
	if err := m.NewDecoder(strings.NewReader("")).Decode(&directoryv1.SignUpRequest{}); !errors.Is(err, io.EOF) {
		t.Errorf("empty body: %v, want io.EOF (an empty request)", err)
	}
}

// TestWithFieldViolationLeavesOthers: only the gateway's own decoding errors
// gain a field violation.
func TestWithFieldViolationLeavesOthers(t *testing.T) {
	for _, st := range []*status.Status{
		status.New(codes.NotFound, `invalid request body: field "x": unknown field`),
		status.New(codes.InvalidArgument, `organization "x" is invalid`),
		status.New(codes.InvalidArgument, `invalid request body: unexpected EOF`),
	} {
		if got := withFieldViolation(st); len(got.Details()) != 0 {
			t.Errorf("withFieldViolation(%v) added %v", st, got.Details())
		}
	}
	withDetails, _ := status.New(codes.InvalidArgument, `invalid request body: field "x": unknown field`).WithDetails(&errdetails.ErrorInfo{Reason: "R"})
	if got := withFieldViolation(withDetails); len(got.Details()) != 1 {
		t.Errorf("withFieldViolation replaced the backend's details: %v", got.Details())
	}
}
