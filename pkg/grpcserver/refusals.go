package grpcserver

// Refused calls (issue 12, R27): every refused call of a mutating method is
// told to Config.RecordRefusal, which records it as an audit event.

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	authzv1 "steward.dev/gen/steward/authz/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/authz"
)

// Refusal is a refused call of a mutating method, as Config.RecordRefusal
// is told of it. Who called, under which request ID and from where, are in
// the call's context (authn.Actor, authn.RequestID, authn.ClientAddress).
type Refusal struct {
	// FullMethod is the gRPC method, e.g.
	// "/steward.licensing.v1.LicensingService/AssignLicense".
	FullMethod string
	// Method is its short name, e.g. "AssignLicense".
	Method string
	// Resource is the resource the request targets: the request field the
	// method's authorization rule scopes on (scope_field), else its name,
	// else its parent; "" when it has none of them set.
	Resource string
	// Status is the refusal: PermissionDenied or FailedPrecondition.
	Status *status.Status
}

// readPrefixes are the method-name prefixes of methods whose refusals are
// not recorded: reads and queries, and sign-in and sign-up, whose failures
// the directory records as events of their own (directory.sign_in.failed).
var readPrefixes = []string{
	"Get", "BatchGet", "List", "Check", "BatchCheck", "Verify", "Watch", "Export", "Search", "Explain",
	"Acknowledge", "Sign",
}

// unrecordedServices are the services none of whose refusals are recorded:
// the event logs' own (internal, read by Steward's services), health and
// reflection.
var unrecordedServices = []string{
	eventlogv1.EventLogService_ServiceDesc.ServiceName,
	"grpc.health.v1.Health",
	"grpc.reflection.v1.ServerReflection",
	"grpc.reflection.v1alpha.ServerReflection",
}

// MutatingMethod reports whether a refusal of fullMethod
// ("/package.Service/Method") is recorded (R27): it is a method that
// changes state, judged by its name alone. Every method is, except those
// whose name starts with Get, BatchGet, List, Check, BatchCheck, Verify,
// Watch, Export, Search, Explain, Acknowledge or Sign (SignIn and SignUp:
// the directory records failed sign-ins itself), and every method of the
// event-log, health and reflection services. So Create*, Update*, Delete*,
// AddGroupMember, AssignLicense, AcquireLease, RotateSigningKeys ... are;
// GetUser, CheckPermission, ExportSnapshot, AcknowledgeEvents are not.
//
// Unlike eventlog.Mutating (which methods send the log's sequence), it
// leaves out SignIn and SignUp and reads no HTTP binding.
func MutatingMethod(fullMethod string) bool {
	svc, method, ok := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	if !ok || method == "" {
		return false
	}
	for _, s := range unrecordedServices {
		if svc == s {
			return false
		}
	}
	for _, p := range readPrefixes {
		if strings.HasPrefix(method, p) {
			return false
		}
	}
	return true
}

// refused reports whether err is a refusal that is recorded:
// PermissionDenied or FailedPrecondition. Unauthenticated is not (the
// caller is unknown, and failed authentications are throttled instead),
// nor are InvalidArgument, NotFound, AlreadyExists or Aborted.
func refused(err error) (*status.Status, bool) {
	if err == nil {
		return nil, false
	}
	st, ok := status.FromError(err)
	if !ok {
		return nil, false
	}
	switch st.Code() {
	case codes.PermissionDenied, codes.FailedPrecondition:
		return st, true
	}
	return nil, false
}

// unaryRefusals tells record of every refused call of a mutating method,
// after the rest of the chain (validation, authorization, the handler) has
// returned, and before the refusal goes back to the caller. Streaming
// methods are all reads (Watch, Export*): they have no such interceptor.
func unaryRefusals(rules authz.RuleSource, record func(context.Context, Refusal)) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		st, ok := refused(err)
		if !ok || !MutatingMethod(info.FullMethod) {
			return resp, err
		}
		rule, _ := rules.RuleFor(info.FullMethod)
		msg, _ := req.(proto.Message)
		record(ctx, Refusal{
			FullMethod: info.FullMethod,
			Method:     info.FullMethod[strings.LastIndex(info.FullMethod, "/")+1:],
			Resource:   targetResource(rule, msg),
			Status:     st,
		})
		return resp, err
	}
}

// targetResource returns the resource req targets: the field rule scopes
// on, else req's name, else its parent; "" when none is set.
func targetResource(rule *authzv1.Rule, req proto.Message) string {
	if req == nil {
		return ""
	}
	if f := rule.GetScopeField(); f != "" {
		if v, err := authz.ScopeOf(req, f); err == nil && v != "" {
			return v
		}
	}
	fields := req.ProtoReflect().Descriptor().Fields()
	for _, name := range []protoreflect.Name{"name", "parent"} {
		fd := fields.ByName(name)
		if fd == nil || fd.Kind() != protoreflect.StringKind || fd.Cardinality() == protoreflect.Repeated {
			continue
		}
		if v := req.ProtoReflect().Get(fd).String(); v != "" {
			return v
		}
	}
	return ""
}
