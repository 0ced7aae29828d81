package server

import (
	"context"
	"errors"
	"strings"

	"steward.dev/pkg/accessauthz"
	"steward.dev/pkg/authz"
	"steward.dev/services/access/domain"
)

// errNotReady is returned by permission checks arriving before register
// created the domain service.
var errNotReady = errors.New("access: not ready")

// authorize answers access's own permission rules from its model
// (dogfooding, issue 5 item 9), with the rules every service's authorizer
// follows (pkg/accessauthz): a scope in another organization than the
// principal's is NotFound; an enrolment-only session is denied everything;
// otherwise every permission must hold at the scope-tree node the scope lies
// in (R13, R16) — for a call made with an API key, for the key (C4) — and
// Missing lists those that do not.
func (w *wiring) authorize(_ context.Context, req authz.Request) (authz.Decision, error) {
	if w.d == nil {
		return authz.Decision{}, errNotReady
	}
	if err := accessauthz.SameOrganization(req, errorDomain); err != nil {
		return authz.Decision{}, err
	}
	if accessauthz.IsEnrollmentSession(req.Principal.SessionID) {
		return authz.Decision{Reason: accessauthz.EnrollmentReason, Missing: req.Permissions}, nil
	}
	model := w.d.Model()
	node := domain.ScopeNode(req.Scope)
	var d authz.Decision
	var denied []string
	principal := accessauthz.CheckPrincipal(req.Principal)
	for _, perm := range req.Permissions {
		md := model.Check(principal, perm, node)
		if md.Allowed {
			continue
		}
		d.Missing = append(d.Missing, perm)
		denied = append(denied, md.Reason())
	}
	if len(d.Missing) > 0 {
		d.Reason = strings.Join(denied, "; ")
		return d, nil
	}
	// Allowed: no reason. Only a refusal's is read (its error message), and
	// formatting one per call cost a tenth of access's CPU under Check load
	// (issue 13).
	d.Allowed = true
	return d, nil
}
