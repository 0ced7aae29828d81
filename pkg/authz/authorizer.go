// Package authz enforces the authorization rule each RPC declares in its
// proto with the steward.authz.v1.rule method option: it looks the rules up,
// verifies at startup that every registered method has one, extracts the
// scope from the request and asks an Authorizer (access management) about
// permissions.
package authz

import (
	"context"

	"steward.dev/pkg/authn"
)

// Request asks whether a principal holds permissions at a scope.
type Request struct {
	// Principal is the caller.
	Principal authn.Principal
	// Permissions must all be held, e.g. ["users.create"].
	Permissions []string
	// Scope is the resource name the permissions are checked at, e.g.
	// "organizations/o1/tenants/t1".
	Scope string
	// Method is the full gRPC method being called, e.g.
	// "/steward.directory.v1.DirectoryService/CreateUser".
	Method string
}

// Decision is an Authorizer's answer. Its zero value denies.
type Decision struct {
	// Allowed reports whether the request is allowed.
	Allowed bool
	// Reason explains the decision for logs and error messages, e.g.
	// "denied: no role assignment of X grants users.view at ...". An
	// allowed decision may leave it empty (access's own authorizer does:
	// nothing reads it, and it is on every call's path).
	Reason string
	// Missing lists the permissions the principal lacks when denied; empty
	// means all of the requested permissions.
	Missing []string
}

// Authorizer decides whether a principal holds permissions at a scope. An
// error means no decision could be made; the call is then refused.
type Authorizer interface {
	Authorize(ctx context.Context, req Request) (Decision, error)
}

// AuthorizerFunc adapts an ordinary function to the Authorizer interface.
type AuthorizerFunc func(ctx context.Context, req Request) (Decision, error)

// Authorize calls f(ctx, req).
func (f AuthorizerFunc) Authorize(ctx context.Context, req Request) (Decision, error) {
	return f(ctx, req)
}

// DenyAll is the interim Authorizer for services started before access
// management exists: it denies every request with the reason "access
// management not configured". Services acting on their own account are not
// affected, since they are never asked of the Authorizer.
var DenyAll Authorizer = AuthorizerFunc(func(context.Context, Request) (Decision, error) {
	return Decision{Reason: "access management not configured"}, nil
})
