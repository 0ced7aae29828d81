package authz

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	authzv1 "steward.dev/gen/steward/authz/v1"
	"steward.dev/pkg/apierr"
	"steward.dev/pkg/authn"
)

// ErrorInfo reasons of the errors Enforce returns.
const (
	// ReasonPermissionDenied: the caller lacks a permission the method needs,
	// the method is internal to Steward's services, or a service calls a
	// method it is not granted.
	ReasonPermissionDenied = "PERMISSION_DENIED"
	// ReasonNoAuthorizationRule: the method declares no valid rule, so nobody
	// may call it (fail closed).
	ReasonNoAuthorizationRule = "NO_AUTHORIZATION_RULE"
	// ReasonUnauthenticated: the method needs a principal and there is none.
	ReasonUnauthenticated = "UNAUTHENTICATED"
	// ReasonScopeMissing: the request field naming the scope is empty.
	ReasonScopeMissing = "SCOPE_MISSING"
)

// Enforce decides whether the call of method, with request req, may proceed
// under rule (nil when the method has none), taking the principal from ctx
// and what services may call from services. It returns nil to allow, or a
// status error to refuse:
//
//   - no rule: PermissionDenied, reason NO_AUTHORIZATION_RULE;
//   - public: allowed;
//   - no principal in ctx: Unauthenticated;
//   - a service principal the method is not granted to in services:
//     PermissionDenied naming the method;
//   - internal: allowed for (granted) service principals, else
//     PermissionDenied;
//   - authenticated without permissions: allowed;
//   - permissions: allowed for a service acting on its own account; for an
//     end user, or a service acting for one (held to the end user's
//     rights), a asks about the permissions at the scope (the request field
//     named by scope_field, else the end user's organization); a denial is
//     PermissionDenied naming the missing permissions and the scope.
func Enforce(ctx context.Context, a Authorizer, services CallerTable, method string, rule *authzv1.Rule, req proto.Message) error {
	if rule == nil {
		return apierr.New(codes.PermissionDenied, ReasonNoAuthorizationRule, apierr.Domain,
			fmt.Sprintf("method %s declares no authorization rule", method),
			map[string]string{"method": method}).GRPCStatus().Err()
	}
	if rule.GetPublic() {
		return nil
	}
	p, ok := authn.FromContext(ctx)
	if !ok {
		return apierr.New(codes.Unauthenticated, ReasonUnauthenticated, apierr.Domain,
			"authentication required", nil).GRPCStatus().Err()
	}
	if p.IsService() && !services.Allows(p, method) {
		return apierr.New(codes.PermissionDenied, ReasonPermissionDenied, apierr.Domain,
			fmt.Sprintf("%s may not call %s", p.Name, method),
			map[string]string{"method": method}).GRPCStatus().Err()
	}
	switch {
	case rule.GetInternal():
		if p.IsService() {
			return nil
		}
		return apierr.New(codes.PermissionDenied, ReasonPermissionDenied, apierr.Domain,
			fmt.Sprintf("method %s is internal to Steward's services", method),
			map[string]string{"method": method}).GRPCStatus().Err()
	case len(rule.GetPermissions()) == 0:
		return nil
	}
	user, ok := endUser(p)
	if !ok {
		return nil // a service on its own account, granted the method
	}
	scope := user.Organization
	if f := rule.GetScopeField(); f != "" {
		if req == nil {
			return apierr.ToStatus(fmt.Errorf("authz: %s: no request message to read scope field %q from", method, f))
		}
		var err error
		if scope, err = ScopeOf(req, f); err != nil {
			return apierr.ToStatus(err)
		}
		if scope == "" {
			return apierr.InvalidArgument(ReasonScopeMissing, apierr.Domain,
				fmt.Sprintf("%s is required", f),
				apierr.FieldViolation(f, "required: names the resource the call acts on")).GRPCStatus().Err()
		}
	}
	return check(ctx, a, user, method, scope, rule.GetPermissions())
}

// endUser returns whose permissions decide a call by p: p itself, or the
// end user a service acts for. It reports false for a service acting on its
// own account, whose calls its grants decide.
func endUser(p authn.Principal) (authn.Principal, bool) {
	if !p.IsService() {
		return p, true
	}
	if p.OnBehalfOf != nil {
		return *p.OnBehalfOf, true
	}
	return authn.Principal{}, false
}

// Check asks a whether the caller in ctx holds every permission at scope,
// for handlers that check an object themselves (methods whose rule is only
// "authenticated"). A service acting on its own account is allowed (its
// grants admitted it to the method); one acting for an end user is held to
// the end user's permissions. A denial is PermissionDenied naming the
// missing permissions, as with Enforce.
func Check(ctx context.Context, a Authorizer, method, scope string, permissions ...string) error {
	p, ok := authn.FromContext(ctx)
	if !ok {
		return apierr.New(codes.Unauthenticated, ReasonUnauthenticated, apierr.Domain,
			"authentication required", nil).GRPCStatus().Err()
	}
	user, ok := endUser(p)
	if !ok {
		return nil
	}
	return check(ctx, a, user, method, scope, permissions)
}

func check(ctx context.Context, a Authorizer, p authn.Principal, method, scope string, permissions []string) error {
	areq := Request{Principal: p, Permissions: permissions, Scope: scope, Method: method}
	d, err := a.Authorize(ctx, areq)
	if err != nil {
		return apierr.ToStatus(fmt.Errorf("authz: authorizing %s for %s: %w", method, p.Name, err))
	}
	if d.Allowed {
		return nil
	}
	missing := d.Missing
	if len(missing) == 0 {
		missing = areq.Permissions
	}
	msg := fmt.Sprintf("permission denied: %s lacks %s on %q", p.Name, strings.Join(missing, ", "), scope)
	if d.Reason != "" {
		msg += ": " + d.Reason
	}
	return apierr.New(codes.PermissionDenied, ReasonPermissionDenied, apierr.Domain, msg,
		map[string]string{"permission": strings.Join(missing, ","), "scope": scope}).GRPCStatus().Err()
}

// UnaryServerInterceptor returns an interceptor enforcing the rules of rules
// through a, and what services may call through services. It expects the
// principal in the context (see pkg/authn).
func UnaryServerInterceptor(rules RuleSource, a Authorizer, services CallerTable) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		rule, _ := rules.RuleFor(info.FullMethod)
		msg, _ := req.(proto.Message)
		if err := Enforce(ctx, a, services, info.FullMethod, rule, msg); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor returns an interceptor enforcing the rules of rules
// through a, and what services may call through services, on streams. Rules
// that need the request's scope field are checked when the handler receives
// the first request message; all others before the handler runs.
func StreamServerInterceptor(rules RuleSource, a Authorizer, services CallerTable) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		rule, _ := rules.RuleFor(info.FullMethod)
		if rule != nil && len(rule.GetPermissions()) > 0 && rule.GetScopeField() != "" {
			return handler(srv, &firstMessageStream{ServerStream: ss, a: a, services: services, method: info.FullMethod, rule: rule})
		}
		if err := Enforce(ss.Context(), a, services, info.FullMethod, rule, nil); err != nil {
			return err
		}
		return handler(srv, ss)
	}
}

// firstMessageStream enforces a rule on the first message received.
type firstMessageStream struct {
	grpc.ServerStream
	a        Authorizer
	services CallerTable
	method   string
	rule     *authzv1.Rule

	checked bool  // the rule was enforced on a first message
	err     error // the result of enforcing it
}

// RecvMsg receives a message and, for the first one, enforces the rule,
// failing this and every later RecvMsg when the call is refused. Like
// grpc.ServerStream.RecvMsg, it must not be called concurrently.
func (s *firstMessageStream) RecvMsg(m any) error {
	if s.err != nil {
		return s.err
	}
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if !s.checked {
		s.checked = true
		msg, _ := m.(proto.Message)
		s.err = Enforce(s.Context(), s.a, s.services, s.method, s.rule, msg)
	}
	return s.err
}
