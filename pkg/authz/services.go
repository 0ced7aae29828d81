package authz

import (
	"slices"
	"strings"

	"steward.dev/pkg/authn"
)

// Grant lets one service call some methods of another.
type Grant struct {
	// Caller is the calling service's name, e.g. "access".
	Caller string
	// Callee is the called service's name, e.g. "directory", or "*" for
	// every service.
	Callee string
	// Methods are full gRPC method names
	// ("/steward.eventlog.v1.EventLogService/Watch"), or "*" for every
	// method (test harnesses only).
	Methods []string
}

// ServicePolicy says what each of Steward's services may call: a service
// principal may call a method that is not public only when a Grant names
// it. Granted a method, a service acting on its own account passes the
// method's permission rule; acting for an end user (x-steward-actor), it is
// held to that user's permissions, as if the user had called. The zero
// value grants nothing. Build it with NewServicePolicy.
type ServicePolicy struct {
	grants []Grant
}

// NewServicePolicy returns the policy made of grants.
func NewServicePolicy(grants ...Grant) ServicePolicy {
	return ServicePolicy{grants: slices.Clone(grants)}
}

// With returns a copy of p with more grants.
func (p ServicePolicy) With(grants ...Grant) ServicePolicy {
	return ServicePolicy{grants: slices.Concat(p.grants, grants)}
}

// Grants returns p's grants.
func (p ServicePolicy) Grants() []Grant { return slices.Clone(p.grants) }

// For returns the methods of callee that each service may call, for the
// server of callee.
func (p ServicePolicy) For(callee string) CallerTable {
	t := CallerTable{}
	for _, g := range p.grants {
		if g.Callee != callee && g.Callee != "*" {
			continue
		}
		set := t[g.Caller]
		if set == nil {
			set = make(map[string]bool)
			t[g.Caller] = set
		}
		for _, m := range g.Methods {
			set[m] = true
		}
	}
	return t
}

// CallerTable is what one service's server lets each calling service do:
// by caller name, the set of full method names it may call ("*" for all).
type CallerTable map[string]map[string]bool

// Allows reports whether the service principal p may call fullMethod.
func (t CallerTable) Allows(p authn.Principal, fullMethod string) bool {
	name, ok := strings.CutPrefix(p.Name, "services/")
	if !p.IsService() || !ok {
		return false
	}
	set := t[name]
	return set[fullMethod] || set["*"]
}
