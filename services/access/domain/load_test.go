package domain

import (
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	accessv1 "steward.dev/gen/steward/access/v1"
)

// FuzzDecodeModelFields holds decodeModelFields to what proto.Unmarshal
// reads from the same bytes: the same fields whenever Unmarshal accepts
// them, and no error it would not return.
func FuzzDecodeModelFields(f *testing.F) {
	for _, a := range []*accessv1.RoleAssignment{
		{},
		{
			Name: "organizations/o1/roleAssignments/a1", Principal: "organizations/o1/users/u1", PrincipalKind: accessv1.PrincipalKind_PRINCIPAL_KIND_USER,
			Role: "roles/folder-administrator", Scope: "organizations/o1/tenants/t1", BuiltIn: true, PlatformRoleLabel: "x",
			Creator: "organizations/o1/users/u2", CreateTime: timestamppb.Now(),
		},
		{Name: "n", Role: "organizations/o1/roles/r"},
	} {
		b, err := proto.Marshal(a)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// A field repeated (the last wins), and one of the wrong wire type.
	twice := protowire.AppendTag(nil, raPrincipal, protowire.BytesType)
	twice = protowire.AppendString(twice, "first")
	twice = protowire.AppendTag(twice, raPrincipal, protowire.BytesType)
	twice = protowire.AppendString(twice, "second")
	twice = protowire.AppendTag(twice, raScope, protowire.VarintType)
	twice = protowire.AppendVarint(twice, 7)
	f.Add(twice)
	f.Add([]byte{0x0a, 0x05, 'a'})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, gotErr := decodeModelFields(b)
		want := &accessv1.RoleAssignment{}
		if err := proto.Unmarshal(b, want); err != nil {
			return // decodeModelFields may be more lenient (UTF-8)
		}
		if gotErr != nil {
			t.Fatalf("decodeModelFields: %v; proto.Unmarshal accepts %v", gotErr, want)
		}
		if string(got.principal) != want.GetPrincipal() || string(got.role) != want.GetRole() ||
			string(got.scope) != want.GetScope() || got.builtIn != want.GetBuiltIn() {
			t.Fatalf("decodeModelFields = %q %q %q %v; proto.Unmarshal: %v", got.principal, got.role, got.scope, got.builtIn, want)
		}
	})
}
