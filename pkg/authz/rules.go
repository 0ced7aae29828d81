package authz

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	authzv1 "steward.dev/gen/steward/authz/v1"
)

// exemptServices are gRPC infrastructure services every Steward server
// registers; they need no credentials and declare no rules. Their methods
// are treated as public.
var exemptServices = []string{
	"grpc.health.v1.Health",
	"grpc.reflection.v1.ServerReflection",
	"grpc.reflection.v1alpha.ServerReflection",
}

// publicRule is the rule of the methods of exemptServices.
var publicRule = &authzv1.Rule{Public: true}

// Resolver finds descriptors by full name. *protoregistry.Files implements it;
// protoregistry.GlobalFiles holds every generated Steward service.
type Resolver interface {
	FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error)
}

// RuleSource returns the rule of a method. *Table implements it.
type RuleSource interface {
	// RuleFor returns the valid rule of fullMethod ("/pkg.Service/Method")
	// and reports whether there is one.
	RuleFor(fullMethod string) (*authzv1.Rule, bool)
}

// Table holds the rule of every method a server registered, looked up once.
// It is safe for concurrent use.
type Table struct {
	rules    map[string]*authzv1.Rule
	problems []error
}

var _ RuleSource = (*Table)(nil)

// NewTable looks up the rule of every method of services (as returned by
// grpc.Server.GetServiceInfo) in r, or protoregistry.GlobalFiles when r is nil.
// Methods whose rule is missing or malformed get no rule; Verify names them.
func NewTable(services map[string]grpc.ServiceInfo, r Resolver) *Table {
	if r == nil {
		r = protoregistry.GlobalFiles
	}
	t := &Table{rules: make(map[string]*authzv1.Rule)}
	for svc, info := range services {
		for _, m := range info.Methods {
			full := "/" + svc + "/" + m.Name
			if slices.Contains(exemptServices, svc) {
				t.rules[full] = publicRule
				continue
			}
			rule, err := lookupRule(r, protoreflect.FullName(svc+"."+m.Name))
			if err != nil {
				t.problems = append(t.problems, fmt.Errorf("%s: %w", full, err))
				continue
			}
			t.rules[full] = rule
		}
	}
	slices.SortFunc(t.problems, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return t
}

// RuleFor returns the rule of fullMethod, e.g.
// "/steward.eventlog.v1.EventLogService/Watch", and reports whether it has a
// valid one.
func (t *Table) RuleFor(fullMethod string) (*authzv1.Rule, bool) {
	rule, ok := t.rules[fullMethod]
	return rule, ok
}

// Verify returns an error naming every method without a valid rule, or nil
// when every method has one.
func (t *Table) Verify() error {
	if len(t.problems) == 0 {
		return nil
	}
	return fmt.Errorf("authz: methods without a valid authorization rule:\n%w", errors.Join(t.problems...))
}

// VerifyRules returns an error naming every method registered on s that has
// no valid authorization rule in protoregistry.GlobalFiles. Servers call it
// after registering their services and refuse to start when it fails.
func VerifyRules(s interface {
	GetServiceInfo() map[string]grpc.ServiceInfo
}) error {
	return NewTable(s.GetServiceInfo(), nil).Verify()
}

// errNoRule is the problem of a method that declares no rule.
var errNoRule = errors.New("no authorization rule (set option (steward.authz.v1.rule))")

// lookupRule returns the valid rule of the method named name in r.
func lookupRule(r Resolver, name protoreflect.FullName) (*authzv1.Rule, error) {
	d, err := r.FindDescriptorByName(name)
	if err != nil {
		return nil, fmt.Errorf("method descriptor not found: %w", err)
	}
	md, ok := d.(protoreflect.MethodDescriptor)
	if !ok {
		return nil, fmt.Errorf("%s is not a method", name)
	}
	opts := md.Options()
	if opts == nil || !proto.HasExtension(opts, authzv1.E_Rule) {
		return nil, errNoRule
	}
	rule, _ := proto.GetExtension(opts, authzv1.E_Rule).(*authzv1.Rule)
	if err := checkRule(rule, md.Input()); err != nil {
		return nil, err
	}
	return rule, nil
}

// checkRule reports an error unless rule declares exactly one way in: public,
// internal, or authenticated and/or permissions, with a scope field that
// exists in the request message in.
func checkRule(rule *authzv1.Rule, in protoreflect.MessageDescriptor) error {
	hasPerms := len(rule.GetPermissions()) > 0
	switch {
	case !rule.GetPublic() && !rule.GetInternal() && !rule.GetAuthenticated() && !hasPerms:
		return errNoRule
	case rule.GetPublic() && (rule.GetInternal() || rule.GetAuthenticated() || hasPerms):
		return errors.New("rule is public and also restricted")
	case rule.GetInternal() && (rule.GetAuthenticated() || hasPerms):
		return errors.New("rule is internal and also open to other principals")
	case rule.GetScopeField() != "" && !hasPerms:
		return errors.New("rule has a scope_field but no permissions")
	case rule.GetScopeField() != "":
		return checkScopeField(in, rule.GetScopeField())
	}
	return nil
}
