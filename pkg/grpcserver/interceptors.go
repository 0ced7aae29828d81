package grpcserver

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"runtime/debug"
	"slices"
	"strings"
	"time"
	"unicode"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	"github.com/google/uuid"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	pvinterceptor "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/protovalidate"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"steward.dev/pkg/apierr"
	"steward.dev/pkg/authn"
	"steward.dev/pkg/authz"
	"steward.dev/pkg/tracing"
)

// ReasonInvalidArgument is the ErrorInfo reason of requests that fail the
// validation rules declared in their protos.
const ReasonInvalidArgument = "INVALID_ARGUMENT"

// maxRequestIDLen bounds the length of a request ID taken from a caller.
const maxRequestIDLen = 128

// interceptors returns the server's interceptor chains. The order is fixed:
//
//  1. recovery: first, so that a panic anywhere below becomes codes.Internal
//     (logged with its stack) and the server keeps serving;
//  2. request ID: taken from x-request-id or generated, put in the context
//     and sent back as a header, so every log line below can carry it (and,
//     with tracing on, the call's span, as tracing.RequestIDKey);
//  3. logging: one line per finished call, with request ID and principal
//     (health checks are not logged: launchers and probes poll them; the
//     successful calls of Config.QuietMethods are logged at debug level);
//  4. metrics: before authentication, so that refused calls are counted;
//     grpc_server_handling_seconds (buckets: handlingTimeBuckets) is the
//     time from this interceptor's start to the return of everything below
//     it (authentication, validation, authorization and the handler): the
//     request is decoded before, the response encoded and sent after, and
//     recovery, request ID and logging run outside it;
//  5. authentication: the client address into the context (the transport
//     peer's, or the one the gateway vouches for; see authn.ClientAddresser)
//     and, unless the method's rule is public, the principal; failed
//     authentications are throttled per client address;
//  6. refusals (unary, when Config.RecordRefusal is set): after everything
//     below has returned, a PermissionDenied or FailedPrecondition of a
//     mutating method (MutatingMethod) is told to RecordRefusal, with the
//     principal, request ID and client address in its context;
//  7. validation: the protovalidate rules of the request message, violations
//     as InvalidArgument with BadRequest field violations;
//  8. authorization: the rule the method declares (pkg/authz).
func (s *Server) interceptors(v protovalidate.Validator) ([]grpc.UnaryServerInterceptor, []grpc.StreamServerInterceptor) {
	recoveryOpt := recovery.WithRecoveryHandlerContext(s.recoverPanic)
	logger := logging.LoggerFunc(func(ctx context.Context, level logging.Level, msg string, fields ...any) {
		s.log.Log(ctx, slog.Level(level), msg, fields...)
	})
	logOpts := []logging.Option{
		logging.WithLogOnEvents(logging.FinishCall),
		logging.WithFieldsFromContext(func(ctx context.Context) logging.Fields {
			return logging.Fields{"request_id", authn.RequestID(ctx)}
		}),
	}
	quietOpts := append(slices.Clone(logOpts), logging.WithLevels(func(c codes.Code) logging.Level {
		if c == codes.OK {
			return logging.LevelDebug
		}
		return logging.DefaultServerCodeToLevel(c)
	}))
	quiet := selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
		return slices.Contains(s.cfg.QuietMethods, c.FullMethod())
	})
	loud := selector.MatchFunc(func(ctx context.Context, c interceptors.CallMeta) bool {
		return notHealth.Match(ctx, c) && !quiet.Match(ctx, c)
	})
	rules := ruleSource{s}
	services := s.cfg.Services.For(s.cfg.Name)
	unaryID, streamID := unaryRequestID, streamRequestID
	if s.tracing {
		unaryID, streamID = unaryRequestIDTraced, streamRequestIDTraced
	}
	unary := []grpc.UnaryServerInterceptor{
		recovery.UnaryServerInterceptor(recoveryOpt),
		unaryID,
		selector.UnaryServerInterceptor(logging.UnaryServerInterceptor(logger, logOpts...), loud),
		selector.UnaryServerInterceptor(logging.UnaryServerInterceptor(logger, quietOpts...), quiet),
		s.metrics.UnaryServerInterceptor(),
		s.unaryAuthn(rules),
	}
	if s.cfg.RecordRefusal != nil {
		unary = append(unary, unaryRefusals(rules, s.cfg.RecordRefusal))
	}
	unary = append(unary,
		unaryValidate(v, s.cfg.Prevalidated),
		authz.UnaryServerInterceptor(rules, s.cfg.Authorizer, services),
	)
	stream := []grpc.StreamServerInterceptor{
		recovery.StreamServerInterceptor(recoveryOpt),
		streamID,
		selector.StreamServerInterceptor(logging.StreamServerInterceptor(logger, logOpts...), notHealth),
		s.metrics.StreamServerInterceptor(),
		s.streamAuthn(rules),
		streamValidate(v),
		authz.StreamServerInterceptor(rules, s.cfg.Authorizer, services),
	}
	return unary, stream
}

// notHealth selects every call except those of the health service.
var notHealth = selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
	return c.Service != healthpb.Health_ServiceDesc.ServiceName
})

// recoverPanic logs a panic recovered from a handler and turns it into an
// opaque codes.Internal error.
func (s *Server) recoverPanic(ctx context.Context, p any) error {
	method, _ := grpc.Method(ctx)
	s.log.ErrorContext(ctx, "grpcserver: panic in handler", "grpc.method", method, "panic", p, "stack", string(debug.Stack()))
	return status.Error(codes.Internal, "internal error")
}

// serverStream is a grpc.ServerStream with a replaced context.
type serverStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *serverStream) Context() context.Context { return s.ctx }

// withRequestID returns ctx carrying the request ID of the call, taken from
// its x-request-id metadata when well-formed or else a new UUID, and sends
// the ID back in the response header.
func withRequestID(ctx context.Context) context.Context {
	var id string
	// ValueFromIncomingContext reads the one key without copying the
	// call's whole metadata, as FromIncomingContext would.
	if v := metadata.ValueFromIncomingContext(ctx, authn.MDRequestID); len(v) > 0 && validRequestID(v[0]) {
		id = v[0]
	}
	if id == "" {
		id = uuid.NewString()
	}
	// Setting a header fails only when headers were already sent, which
	// cannot have happened before the handler runs. The key is lower case
	// already: no need for metadata.Pairs's copy.
	_ = grpc.SetHeader(ctx, metadata.MD{authn.MDRequestID: {id}})
	return authn.WithRequestID(ctx, id)
}

// validRequestID reports whether id is acceptable as a request ID from a
// caller: short, printable ASCII.
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for _, r := range id {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

func unaryRequestID(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	return handler(withRequestID(ctx), req)
}

func streamRequestID(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, &serverStream{ServerStream: ss, ctx: withRequestID(ss.Context())})
}

// unaryRequestIDTraced is unaryRequestID that also records the request ID
// on the call's span (tracing on).
func unaryRequestIDTraced(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx = withRequestID(ctx)
	tracing.SetRequestID(ctx, authn.RequestID(ctx))
	return handler(ctx, req)
}

// streamRequestIDTraced is streamRequestID that also records the request
// ID on the stream's span (tracing on).
func streamRequestIDTraced(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx := withRequestID(ss.Context())
	tracing.SetRequestID(ctx, authn.RequestID(ctx))
	return handler(srv, &serverStream{ServerStream: ss, ctx: ctx})
}

// ReasonTooManyFailedAuthentications is the ErrorInfo reason of calls
// refused because their client address failed to authenticate too often.
const ReasonTooManyFailedAuthentications = "TOO_MANY_FAILED_AUTHENTICATIONS"

// authenticate returns ctx carrying the client address of the call and,
// unless the method's rule is public, its principal. A client address whose
// failures have used up its FailureLimit is refused before its credential
// is verified, and each failed verification is charged: a bad credential
// against the client address, a bad proxy credential against the transport
// peer (then refused once the peer's bucket is empty, for public methods
// too). A proxy that verifies is never charged nor refused as such, so
// other clients of its host cannot shut it out.
func (s *Server) authenticate(ctx context.Context, rules authz.RuleSource, method string) (context.Context, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	p, _ := peer.FromContext(ctx)
	addr := authn.PeerAddress(p)
	if resolver, ok := s.cfg.Authenticator.(authn.ClientAddresser); ok {
		peerAddr := addr
		var badProxy bool
		if addr, badProxy = resolver.ClientAddress(md, p); badProxy {
			if err := s.throttled(peerAddr); err != nil {
				return nil, err
			}
			s.charge(peerAddr)
		}
	}
	ctx = authn.WithClientAddress(ctx, addr)
	if rule, ok := rules.RuleFor(method); ok && rule.GetPublic() {
		return ctx, nil
	}
	// A service's own credential is cheap to verify and is verified first:
	// a valid one is never refused for its address, so that other clients
	// on the same host (every client of a local suite is 127.0.0.1) cannot
	// shut Steward's services out of each other. Bearer credentials may
	// cost a call to the directory: a throttled address is refused before.
	service := serviceAttempt(md, p)
	if !service {
		if err := s.throttled(addr); err != nil {
			return nil, err
		}
	}
	principal, err := s.cfg.Authenticator.Authenticate(ctx, md, p)
	if err != nil {
		if service {
			if terr := s.throttled(addr); terr != nil {
				return nil, terr
			}
		}
		if errors.Is(err, authn.ErrUnauthenticated) {
			s.charge(addr)
		}
		if errors.Is(err, authn.ErrNoCredentials) || errors.Is(err, authn.ErrUnauthenticated) {
			return nil, apierr.New(codes.Unauthenticated, authz.ReasonUnauthenticated, apierr.Domain, err.Error(), nil).GRPCStatus().Err()
		}
		return nil, apierr.ToStatus(err)
	}
	fields := logging.Fields{"principal", principal.Name}
	if principal.OnBehalfOf != nil {
		fields = append(fields, "actor", principal.OnBehalfOf.Name)
	}
	logging.AddFields(ctx, fields)
	return authn.NewContext(ctx, principal), nil
}

// serviceAttempt reports whether the call presents a service's own
// credential: a verified client certificate or the "Service" authorization
// scheme.
func serviceAttempt(md metadata.MD, p *peer.Peer) bool {
	if p != nil {
		if info, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(info.State.VerifiedChains) > 0 {
			return true
		}
	}
	for _, v := range md.Get(authn.MDAuthorization) {
		if scheme, _, _ := strings.Cut(v, " "); strings.EqualFold(scheme, "service") {
			return true
		}
	}
	return false
}

// throttled returns a ResourceExhausted error, with RetryInfo, when addr
// has no failed authentication left.
func (s *Server) throttled(addr string) error {
	wait := s.failures.Wait(addr, s.now())
	if wait <= 0 {
		return nil
	}
	retry := time.Duration(math.Ceil(wait.Seconds())) * time.Second
	st := apierr.New(codes.ResourceExhausted, ReasonTooManyFailedAuthentications, apierr.Domain,
		"too many failed authentications from this address; retry later",
		map[string]string{"retry_after": retry.String()}).GRPCStatus()
	if withRetry, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(retry)}); err == nil {
		st = withRetry
	}
	return st.Err()
}

// charge counts a failed authentication against addr.
func (s *Server) charge(addr string) { s.failures.Allow(addr, s.now()) }

func (s *Server) unaryAuthn(rules authz.RuleSource) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := s.authenticate(ctx, rules, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

func (s *Server) streamAuthn(rules authz.RuleSource) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := s.authenticate(ss.Context(), rules, info.FullMethod)
		if err != nil {
			return err
		}
		return handler(srv, &serverStream{ServerStream: ss, ctx: ctx})
	}
}

// unaryValidate wraps the protovalidate interceptor, turning its violations
// into BadRequest field violations.
func unaryValidate(v protovalidate.Validator, prevalidated func(req any) bool) grpc.UnaryServerInterceptor {
	validate := pvinterceptor.UnaryServerInterceptor(v)
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if prevalidated != nil && prevalidated(req) {
			return handler(ctx, req)
		}
		handled := false
		resp, err := validate(ctx, req, info, func(ctx context.Context, req any) (any, error) {
			handled = true
			return handler(ctx, req)
		})
		if !handled {
			err = badRequest(err)
		}
		return resp, err
	}
}

// streamValidate wraps the protovalidate interceptor, turning the
// violations of received messages into BadRequest field violations.
func streamValidate(v protovalidate.Validator) grpc.StreamServerInterceptor {
	validate := pvinterceptor.StreamServerInterceptor(v)
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return validate(srv, ss, info, func(srv any, validating grpc.ServerStream) error {
			return handler(srv, badRequestStream{validating})
		})
	}
}

// badRequestStream converts validation errors of RecvMsg.
type badRequestStream struct{ grpc.ServerStream }

func (s badRequestStream) RecvMsg(m any) error { return badRequest(s.ServerStream.RecvMsg(m)) }

// badRequest returns err with the buf.validate.Violations detail of a
// validation failure replaced by an ErrorInfo and a BadRequest; other
// errors are returned as they are.
func badRequest(err error) error {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument {
		return err
	}
	for _, d := range st.Details() {
		vs, ok := d.(*validate.Violations)
		if !ok {
			continue
		}
		fvs := make([]*errdetails.BadRequest_FieldViolation, 0, len(vs.GetViolations()))
		for _, v := range vs.GetViolations() {
			fvs = append(fvs, apierr.FieldViolation(protovalidate.FieldPathString(v.GetField()), v.GetMessage()))
		}
		return apierr.InvalidArgument(ReasonInvalidArgument, apierr.Domain, st.Message(), fvs...).GRPCStatus().Err()
	}
	return err
}
