package eventlog

// Read-your-writes for every change (issue 9 item 7): a mutating call tells
// its caller the log sequence it reached, whatever its response message.

import (
	"context"
	"strconv"
	"strings"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// SequenceHeader returns the gRPC metadata key under which the log of
// service source sends its sequence after a successful mutating call:
// "x-steward-<source>-sequence", e.g. x-steward-directory-sequence. The
// gateway forwards it to HTTP as the same header name
// (X-Steward-Directory-Sequence). Pass the value to
// CheckPermission.at_least_directory_sequence (directory) or
// at_least_sequence (access).
func SequenceHeader(source string) string {
	return "x-steward-" + strings.ToLower(source) + "-sequence"
}

// readVerbs are the method-name prefixes of reads (AIP-131..136 verbs and
// Steward's query methods). A method whose name starts with one of them
// never sends the sequence, whatever its HTTP verb: CheckPermission is a
// POST for its body, not a change.
var readVerbs = []string{"Get", "List", "BatchGet", "Search", "Check", "BatchCheck", "Explain", "Export", "Verify", "Watch"}

// Mutating reports whether a method changes state, by this rule: streaming
// methods and methods bound to HTTP GET never do; otherwise a method does
// unless its name begins with a read verb (Get, List, BatchGet, Search,
// Check, BatchCheck, Explain, Export, Verify, Watch). So Create*, Update*,
// Delete*, AddGroupMember, RemoveGroupMember, SignUp, SignIn, RevokeApiKey,
// SwitchAccountSystem ... are mutating; CheckPermission and
// BatchCheckPermission (POST) are not. The rule is decided once per method,
// when the service is registered (SequenceServer), so reads pay nothing.
func Mutating(m protoreflect.MethodDescriptor) bool {
	if m.IsStreamingClient() || m.IsStreamingServer() {
		return false
	}
	if rule, ok := proto.GetExtension(m.Options(), annotations.E_Http).(*annotations.HttpRule); ok && rule.GetGet() != "" {
		return false
	}
	name := string(m.Name())
	for _, v := range readVerbs {
		if strings.HasPrefix(name, v) {
			return false
		}
	}
	return true
}

// Registrar is what a gRPC service registers on: a grpc.ServiceRegistrar
// that also lists what was registered (*grpc.Server is one).
type Registrar interface {
	grpc.ServiceRegistrar
	GetServiceInfo() map[string]grpc.ServiceInfo
}

// SequenceServer returns r, unchanged when log is nil; otherwise services
// registered through the result send, after each successful call of a
// Mutating unary method, the gRPC header and trailer
// SequenceHeader(log.Source()) with the log's head read after the handler
// returned: a sequence at least as high as the call's own commit (higher
// when other changes committed meanwhile, which is harmless for a
// consistency token). A failed call sends nothing. The wrapper runs inside
// the server's interceptor chain, after authentication and authorization;
// methods that are not mutating are registered untouched. Methods the
// global protobuf registry does not describe are classified by name alone.
func SequenceServer(r Registrar, log *Log) Registrar {
	if log == nil {
		return r
	}
	return sequenceServer{Registrar: r, log: log, key: SequenceHeader(log.Source())}
}

type sequenceServer struct {
	Registrar
	log *Log
	key string
}

// RegisterService registers desc on the underlying server with each
// mutating method's handler wrapped.
func (s sequenceServer) RegisterService(desc *grpc.ServiceDesc, impl any) {
	svc, _ := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(desc.ServiceName))
	sd, _ := svc.(protoreflect.ServiceDescriptor)
	wrapped := *desc
	wrapped.Methods = make([]grpc.MethodDesc, len(desc.Methods))
	for i, m := range desc.Methods {
		if mutatingDesc(sd, m.MethodName) {
			m.Handler = s.wrap(m.Handler)
		}
		wrapped.Methods[i] = m
	}
	s.Registrar.RegisterService(&wrapped, impl)
}

// mutatingDesc applies Mutating to the unary method name of service sd, or
// the naming rule alone when sd does not describe it.
func mutatingDesc(sd protoreflect.ServiceDescriptor, name string) bool {
	if sd != nil {
		if m := sd.Methods().ByName(protoreflect.Name(name)); m != nil {
			return Mutating(m)
		}
	}
	for _, v := range readVerbs {
		if strings.HasPrefix(name, v) {
			return false
		}
	}
	return true
}

// wrap returns h with the server's interceptor chain extended, innermost,
// by a step that sends the sequence after a successful handler.
func (s sequenceServer) wrap(h grpc.MethodHandler) grpc.MethodHandler {
	return func(srv any, ctx context.Context, dec func(any) error, chain grpc.UnaryServerInterceptor) (any, error) {
		return h(srv, ctx, dec, func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			next := func(ctx context.Context, req any) (any, error) {
				resp, err := handler(ctx, req)
				if err == nil {
					s.send(ctx)
				}
				return resp, err
			}
			if chain == nil {
				return next(ctx, req)
			}
			return chain(ctx, req, info, next)
		})
	}
}

// send sets the sequence header and trailer of the call in ctx. A head that
// cannot be read (the store closing) sends nothing: the call itself
// succeeded.
func (s sequenceServer) send(ctx context.Context) {
	head, err := s.log.Head(context.WithoutCancel(ctx))
	if err != nil || head == 0 {
		return
	}
	md := metadata.Pairs(s.key, strconv.FormatUint(head, 10))
	_ = grpc.SetHeader(ctx, md)
	_ = grpc.SetTrailer(ctx, md)
}
