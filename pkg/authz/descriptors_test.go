package authz_test

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	authzv1 "steward.dev/gen/steward/authz/v1"
)

// testService is the full name of the service built by testFiles.
const testService = "steward.authztest.v1.TestService"

// testMethod is a method of testService with its rule (nil for none).
type testMethod struct {
	name   string
	rule   *authzv1.Rule
	stream bool // server streaming
}

// testMethods are the methods of testService.
var testMethods = []testMethod{
	{name: "NoRule"},
	{name: "EmptyRule", rule: &authzv1.Rule{}},
	{name: "Public", rule: &authzv1.Rule{Public: true}},
	{name: "Internal", rule: &authzv1.Rule{Internal: true}},
	{name: "Authenticated", rule: &authzv1.Rule{Authenticated: true}},
	{name: "Create", rule: &authzv1.Rule{Permissions: []string{"things.create"}, ScopeField: "parent"}},
	{name: "Update", rule: &authzv1.Rule{Permissions: []string{"things.edit", "things.view"}, ScopeField: "thing.name"}},
	{name: "OrgWide", rule: &authzv1.Rule{Permissions: []string{"org.view"}}},
	{name: "WatchThings", rule: &authzv1.Rule{Permissions: []string{"things.view"}, ScopeField: "parent"}, stream: true},
	{name: "BadScope", rule: &authzv1.Rule{Permissions: []string{"x.y"}, ScopeField: "nope"}},
	{name: "RepeatedScope", rule: &authzv1.Rule{Permissions: []string{"x.y"}, ScopeField: "tags"}},
	{name: "ScopeNotString", rule: &authzv1.Rule{Permissions: []string{"x.y"}, ScopeField: "count"}},
	{name: "ScopeWithoutPermissions", rule: &authzv1.Rule{Authenticated: true, ScopeField: "parent"}},
	{name: "PublicAndInternal", rule: &authzv1.Rule{Public: true, Internal: true}},
	{name: "InternalWithPermissions", rule: &authzv1.Rule{Internal: true, Permissions: []string{"x.y"}}},
}

// invalidMethods are the testMethods without a valid rule.
var invalidMethods = []string{
	"NoRule", "EmptyRule", "BadScope", "RepeatedScope", "ScopeNotString",
	"ScopeWithoutPermissions", "PublicAndInternal", "InternalWithPermissions",
}

// testFiles returns a registry holding testService, whose methods take a
// Request
//
//	message Request { string parent = 1; Thing thing = 2; repeated string tags = 3; int32 count = 4; }
//	message Thing { string name = 1; }
//
// and return a Thing.
func testFiles(t testing.TB) *protoregistry.Files {
	t.Helper()
	str := descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()
	opt := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()
	fd := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("steward/authztest/v1/test.proto"),
		Package: proto.String("steward.authztest.v1"),
		Syntax:  proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{
			{
				Name: proto.String("Request"),
				Field: []*descriptorpb.FieldDescriptorProto{
					{Name: proto.String("parent"), JsonName: proto.String("parent"), Number: proto.Int32(1), Type: str, Label: opt},
					{Name: proto.String("thing"), JsonName: proto.String("thing"), Number: proto.Int32(2), Type: descriptorpb.FieldDescriptorProto_TYPE_MESSAGE.Enum(), TypeName: proto.String(".steward.authztest.v1.Thing"), Label: opt},
					{Name: proto.String("tags"), JsonName: proto.String("tags"), Number: proto.Int32(3), Type: str, Label: descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum()},
					{Name: proto.String("count"), JsonName: proto.String("count"), Number: proto.Int32(4), Type: descriptorpb.FieldDescriptorProto_TYPE_INT32.Enum(), Label: opt},
				},
			},
			{
				Name:  proto.String("Thing"),
				Field: []*descriptorpb.FieldDescriptorProto{{Name: proto.String("name"), JsonName: proto.String("name"), Number: proto.Int32(1), Type: str, Label: opt}},
			},
		},
	}
	svc := &descriptorpb.ServiceDescriptorProto{Name: proto.String("TestService")}
	for _, m := range testMethods {
		md := &descriptorpb.MethodDescriptorProto{
			Name:       proto.String(m.name),
			InputType:  proto.String(".steward.authztest.v1.Request"),
			OutputType: proto.String(".steward.authztest.v1.Thing"),
		}
		if m.stream {
			md.ServerStreaming = proto.Bool(true)
		}
		if m.rule != nil {
			md.Options = &descriptorpb.MethodOptions{}
			proto.SetExtension(md.Options, authzv1.E_Rule, m.rule)
		}
		svc.Method = append(svc.Method, md)
	}
	fd.Service = []*descriptorpb.ServiceDescriptorProto{svc}
	file, err := protodesc.NewFile(fd, nil)
	if err != nil {
		t.Fatal(err)
	}
	files := new(protoregistry.Files)
	if err := files.RegisterFile(file); err != nil {
		t.Fatal(err)
	}
	return files
}

// newRequest returns a dynamic Request with parent and thing.name set.
func newRequest(t testing.TB, files *protoregistry.Files, parent, thingName string) *dynamicpb.Message {
	t.Helper()
	d, err := files.FindDescriptorByName("steward.authztest.v1.Request")
	if err != nil {
		t.Fatal(err)
	}
	md := d.(protoreflect.MessageDescriptor)
	m := dynamicpb.NewMessage(md)
	if parent != "" {
		m.Set(md.Fields().ByName("parent"), protoreflect.ValueOfString(parent))
	}
	if thingName != "" {
		thing := dynamicpb.NewMessage(md.Fields().ByName("thing").Message())
		thing.Set(thing.Descriptor().Fields().ByName("name"), protoreflect.ValueOfString(thingName))
		m.Set(md.Fields().ByName("thing"), protoreflect.ValueOfMessage(thing))
	}
	return m
}

// newThing returns an empty dynamic Thing.
func newThing(t testing.TB, files *protoregistry.Files) *dynamicpb.Message {
	t.Helper()
	d, err := files.FindDescriptorByName("steward.authztest.v1.Thing")
	if err != nil {
		t.Fatal(err)
	}
	return dynamicpb.NewMessage(d.(protoreflect.MessageDescriptor))
}
