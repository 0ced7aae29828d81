package directory_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/authn"
	"steward.dev/services/directory/domain"
	"steward.dev/services/directory/server"
)

// mcErrorInfo returns the ErrorInfo reason, domain and metadata of err.
func mcErrorInfo(err error) (reason, dom string, md map[string]string) {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason(), info.GetDomain(), info.GetMetadata()
		}
	}
	return "", "", nil
}

// mcWant fails t unless err has code and ErrorInfo reason.
func mcWant(t *testing.T, what string, err error, code codes.Code, reason string) {
	t.Helper()
	if got, _, _ := mcErrorInfo(err); status.Code(err) != code || got != reason {
		t.Fatalf("%s: %v (reason %q), want %v %s", what, err, got, code, reason)
	}
}

// mcCall is one question the directory asked access management.
type mcCall struct {
	group string
	add   bool
	// actor is the end user the question was asked for ("" for none).
	actor string
}

// mcHook is a stand-in for access management's CheckMembershipChange: it
// records the questions and answers with decide.
type mcHook struct {
	mu     sync.Mutex
	calls  []mcCall
	decide func(ctx context.Context, group string, add bool) error
}

func (h *mcHook) check(ctx context.Context, group string, add bool) error {
	c := mcCall{group: group, add: add}
	if p, ok := authn.Actor(ctx); ok {
		c.actor = p.Name
	}
	h.mu.Lock()
	h.calls = append(h.calls, c)
	decide := h.decide
	h.mu.Unlock()
	if decide == nil {
		return nil
	}
	return decide(ctx, group, add)
}

// set makes decide answer the next questions.
func (h *mcHook) set(decide func(ctx context.Context, group string, add bool) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.decide = decide
}

// take returns the questions asked since the last take.
func (h *mcHook) take() []mcCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.calls
	h.calls = nil
	return c
}

// TestMembershipChangeHook (R17, R5): AddGroupMember and RemoveGroupMember
// ask access management (domain.Options.MembershipChange) for user actors,
// for the end user, before their transaction and after the visibility
// checks; a refusal is PERMISSION_DENIED with access management's reason
// and metadata and changes nothing; services, changes that change nothing
// and requests refused by the directory's own rules are not asked about.
func TestMembershipChangeHook(t *testing.T) {
	h := &mcHook{}
	e := newEnvWith(t, domain.Options{MembershipChange: h.check})
	p := newPeople(t, e)
	owner := p.su.GetOwner().GetName()
	admins := p.groupName(domain.GroupAdministrators)
	helpers := p.group("helpers").GetName()
	bob := p.user("bob").GetName()
	h.take()

	// Access management refuses joining Administrators (ESCALATION).
	h.set(func(_ context.Context, group string, add bool) error {
		if group == admins && add {
			return &domain.AccessDeniedError{Reason: "ESCALATION", Message: "Organization Administrator at " + p.org + " holds users.delete, which you do not hold there",
				Permission: "users.delete", Scope: p.org}
		}
		return nil
	})
	seq := p.head()
	_, err := e.c.AddGroupMember(p.ctx, &directoryv1.AddGroupMemberRequest{Group: admins, Member: bob}, e.svc)
	mcWant(t, "adding bob to Administrators", err, codes.PermissionDenied, "ESCALATION")
	if _, dom, md := mcErrorInfo(err); md["permission"] != "users.delete" || md["scope"] != p.org || dom != "access.steward.dev" {
		t.Fatalf("refusal metadata %v (domain %s), want permission users.delete, scope %s, domain access.steward.dev", md, dom, p.org)
	}
	if !strings.Contains(status.Convert(err).Message(), "users.delete") {
		t.Fatalf("refusal %q does not say why", status.Convert(err).Message())
	}
	if got := p.types(seq); len(got) != 0 {
		t.Fatalf("a refused change emitted %v", got)
	}
	if calls := h.take(); len(calls) != 1 || calls[0] != (mcCall{group: admins, add: true, actor: owner}) {
		t.Fatalf("questions = %+v, want one about adding to %s for %s", calls, admins, owner)
	}

	// Allowed: asked once, the member is added with its event.
	seq = p.head()
	_, err = e.c.AddGroupMember(p.ctx, &directoryv1.AddGroupMemberRequest{Group: helpers, Member: bob}, e.svc)
	ppOK(t, "adding bob to helpers", err)
	if calls := h.take(); len(calls) != 1 || calls[0] != (mcCall{group: helpers, add: true, actor: owner}) {
		t.Fatalf("questions = %+v, want one about adding to helpers", calls)
	}
	if got := p.types(seq); len(got) != 1 || got[0] != domain.TypeGroupMemberAdded {
		t.Fatalf("events = %v", got)
	}

	// Adding an existing member changes nothing: not asked.
	_, err = e.c.AddGroupMember(p.ctx, &directoryv1.AddGroupMemberRequest{Group: helpers, Member: bob}, e.svc)
	ppOK(t, "adding bob to helpers again", err)
	if calls := h.take(); len(calls) != 0 {
		t.Fatalf("adding an existing member asked %+v", calls)
	}

	// Refused by the directory's own rules first: not asked.
	other := e.signUp()
	for name, call := range map[string]func() error{
		"removing a non-member": func() error {
			_, err := e.c.RemoveGroupMember(p.ctx, &directoryv1.RemoveGroupMemberRequest{Group: admins, Member: bob}, e.svc)
			return err
		},
		"Everyone": func() error {
			_, err := e.c.AddGroupMember(p.ctx, &directoryv1.AddGroupMemberRequest{Group: p.groupName(domain.GroupEveryone), Member: bob}, e.svc)
			return err
		},
		"the owner leaving Administrators": func() error {
			_, err := e.c.RemoveGroupMember(p.ctx, &directoryv1.RemoveGroupMemberRequest{Group: admins, Member: owner}, e.svc)
			return err
		},
		"another organization's group": func() error {
			_, err := e.c.AddGroupMember(p.ctx, &directoryv1.AddGroupMemberRequest{Group: other.GetOrganization().GetName() + "/groups/administrators", Member: bob}, e.svc)
			return err
		},
		"an unknown user": func() error {
			_, err := e.c.AddGroupMember(p.ctx, &directoryv1.AddGroupMemberRequest{Group: helpers, Member: p.org + "/users/nobody"}, e.svc)
			return err
		},
	} {
		if err := call(); status.Code(err) == codes.OK || status.Code(err) == codes.PermissionDenied {
			t.Fatalf("%s: %v, want the directory's own refusal", name, err)
		}
		if calls := h.take(); len(calls) != 0 {
			t.Fatalf("%s asked access management %+v", name, calls)
		}
	}

	// A service acting for nobody is trusted: not asked.
	_, err = e.c.AddGroupMember(context.Background(), &directoryv1.AddGroupMemberRequest{Group: admins, Member: bob}, e.svc)
	ppOK(t, "a service adding bob to Administrators", err)
	if calls := h.take(); len(calls) != 0 {
		t.Fatalf("a service's change asked %+v", calls)
	}

	// Removing is asked too; DELEGATION_DENIED comes back as such.
	h.set(func(_ context.Context, _ string, add bool) error {
		if !add {
			return &domain.AccessDeniedError{Reason: "DELEGATION_DENIED", Message: "only the owner and organization administrators manage access at " + p.org, Scope: p.org}
		}
		return nil
	})
	_, err = e.c.RemoveGroupMember(p.ctx, &directoryv1.RemoveGroupMemberRequest{Group: admins, Member: bob}, e.svc)
	mcWant(t, "removing bob from Administrators", err, codes.PermissionDenied, "DELEGATION_DENIED")
	if _, _, md := mcErrorInfo(err); md["scope"] != p.org {
		t.Fatalf("refusal metadata %v, want scope %s", md, p.org)
	}
	if calls := h.take(); len(calls) != 1 || calls[0] != (mcCall{group: admins, add: false, actor: owner}) {
		t.Fatalf("questions = %+v, want one about removing from Administrators", calls)
	}
	h.set(nil)
	_, err = e.c.RemoveGroupMember(p.ctx, &directoryv1.RemoveGroupMemberRequest{Group: admins, Member: bob}, e.svc)
	ppOK(t, "removing bob once allowed", err)

	// The question is asked outside the write transaction: the hook can
	// itself write to the directory (it would deadlock inside it).
	h.set(func(context.Context, string, bool) error {
		ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
		defer cancel()
		_, err := e.c.CreateGroup(ctx, &directoryv1.CreateGroupRequest{Parent: p.org, Group: &directoryv1.Group{DisplayName: "written during the check"}}, e.svc)
		return err
	})
	_, err = e.c.AddGroupMember(p.ctx, &directoryv1.AddGroupMemberRequest{Group: admins, Member: bob}, e.svc)
	ppOK(t, "adding while the check writes", err)
}

// mcAccess is an access management client whose CheckMembershipChange
// answers resp or err; other methods are not used.
type mcAccess struct {
	accessv1.AccessServiceClient
	mu   sync.Mutex
	reqs []*accessv1.CheckMembershipChangeRequest
	resp *accessv1.CheckMembershipChangeResponse
	err  error
}

// answer makes CheckMembershipChange answer resp, err from now on.
func (a *mcAccess) answer(resp *accessv1.CheckMembershipChangeResponse, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.resp, a.err = resp, err
}

// requests returns the requests received.
func (a *mcAccess) requests() []*accessv1.CheckMembershipChangeRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.reqs
}

func (a *mcAccess) CheckMembershipChange(_ context.Context, in *accessv1.CheckMembershipChangeRequest, _ ...grpc.CallOption) (*accessv1.CheckMembershipChangeResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reqs = append(a.reqs, in)
	return a.resp, a.err
}

// TestMembershipChangeAdapter (R17): server.MembershipChange relays access
// management's decision: the reason, message, permission and scope of a
// refusal come from its response; when it cannot answer, the change is
// refused (fail closed) as UNAVAILABLE.
func TestMembershipChangeAdapter(t *testing.T) {
	acc := &mcAccess{}
	e := newEnvWith(t, domain.Options{MembershipChange: server.MembershipChange(acc)})
	p := newPeople(t, e)
	admins := p.groupName(domain.GroupAdministrators)
	bob := p.user("bob").GetName()
	add := func() error {
		_, err := e.c.AddGroupMember(p.ctx, &directoryv1.AddGroupMemberRequest{Group: admins, Member: bob}, e.svc)
		return err
	}

	refusal := &accessv1.CheckMembershipChangeResponse{Reason: "ESCALATION", Message: "Organization Administrator holds licenses.edit, which you do not hold at " + p.org,
		Permission: "licenses.edit", Scope: p.org}
	acc.answer(refusal, nil)
	err := add()
	mcWant(t, "refused", err, codes.PermissionDenied, "ESCALATION")
	if _, _, md := mcErrorInfo(err); md["permission"] != "licenses.edit" || md["scope"] != p.org {
		t.Fatalf("metadata %v", md)
	}
	if msg := status.Convert(err).Message(); msg != refusal.GetMessage() {
		t.Fatalf("message %q, want access management's %q", msg, refusal.GetMessage())
	}
	if reqs := acc.requests(); len(reqs) != 1 || reqs[0].GetGroup() != admins || !reqs[0].GetAdd() {
		t.Fatalf("requests = %v", reqs)
	}

	acc.answer(&accessv1.CheckMembershipChangeResponse{Reason: "DELEGATION_DENIED", Message: "no", Scope: p.org}, nil)
	mcWant(t, "delegation", add(), codes.PermissionDenied, "DELEGATION_DENIED")

	acc.answer(nil, status.Error(codes.Unimplemented, "method CheckMembershipChange not implemented"))
	mcWant(t, "access management unable to answer", add(), codes.Unavailable, "UNAVAILABLE")

	acc.answer(&accessv1.CheckMembershipChangeResponse{Allowed: true}, nil)
	ppOK(t, "allowed", add())
	ok, err := e.c.ListUserGroups(p.ctx, &directoryv1.ListUserGroupsRequest{User: bob}, e.svc)
	ppOK(t, "ListUserGroups", err)
	if len(ok.GetMemberships()) != 2 {
		t.Fatalf("bob's groups = %v, want Administrators and Everyone", ok.GetMemberships())
	}
}

// TestMembershipEscalation (R17, R5): against the real access management, a
// user holding only users.view and users.edit (a custom organization role)
// cannot make themselves Organization Administrator by joining the
// Administrators group (ESCALATION, naming a permission they lack); may join
// a group that carries no role; may remove a member only where delegation
// allows them to manage access (the organization: yes; an Orchestrator
// service: DELEGATION_DENIED); the owner may do all of it.
func TestMembershipEscalation(t *testing.T) {
	e := newAccessEnv(t)
	su := e.signUpReady()
	org := su.GetOrganization().GetName()
	owner := bearer(e.signIn(org, su.GetOwner().GetEmail(), "correct horse battery", "").GetAccessToken())
	admins := org + "/groups/" + domain.GroupAdministrators

	role, err := e.a.CreateRole(owner, &accessv1.CreateRoleRequest{Parent: org, RoleId: "user-editors",
		Role: &accessv1.Role{DisplayName: "User editors", Level: accessv1.Level_LEVEL_ORGANIZATION, Permissions: []string{"users.view", "users.edit"}}})
	if err != nil {
		t.Fatalf("CreateRole: %v", err)
	}
	newUser := func(nick string) *directoryv1.User {
		u, err := e.c.CreateUser(owner, &directoryv1.CreateUserRequest{Parent: org,
			User: &directoryv1.User{Nickname: nick, Email: nick + "@x.example"}, InitialPassword: nick + "'s long password"})
		if err != nil {
			t.Fatal(err)
		}
		e.awaitAccess(u.GetName(), "users.view", org, true)
		return u
	}
	eve, gus := newUser("eve"), newUser("gus")
	if _, err := e.a.CreateRoleAssignment(owner, &accessv1.CreateRoleAssignmentRequest{Parent: org,
		Principal: eve.GetName(), Roles: []string{role.GetName()}, Scope: org}); err != nil {
		t.Fatalf("CreateRoleAssignment: %v", err)
	}
	e.awaitAccess(eve.GetName(), "users.edit", org, true)
	eveCtx := bearer(e.signIn(org, "eve@x.example", "eve's long password", "").GetAccessToken())

	// Eve cannot become Organization Administrator through the group.
	_, err = e.c.AddGroupMember(eveCtx, &directoryv1.AddGroupMemberRequest{Group: admins, Member: eve.GetName()})
	mcWant(t, "eve joining Administrators", err, codes.PermissionDenied, "ESCALATION")
	if _, _, md := mcErrorInfo(err); md["permission"] == "" {
		t.Fatalf("the refusal names no permission: %v", md)
	}
	groups, err := e.c.ListUserGroups(owner, &directoryv1.ListUserGroupsRequest{User: eve.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range groups.GetMemberships() {
		if m.GetGroup() == admins {
			t.Fatal("eve is in Administrators after a refusal")
		}
	}
	if ok, err := e.holds(eve.GetName(), "users.delete", org); err != nil || ok {
		t.Fatalf("eve holds users.delete: %v, %v", ok, err)
	}

	// A group that carries no role grants nothing: eve may join it.
	plain, err := e.c.CreateGroup(owner, &directoryv1.CreateGroupRequest{Parent: org, Group: &directoryv1.Group{DisplayName: "Plain"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.AddGroupMember(eveCtx, &directoryv1.AddGroupMemberRequest{Group: plain.GetName(), Member: eve.GetName()}); err != nil {
		t.Fatalf("eve joining a group without roles: %v", err)
	}

	// Removing grants nothing, so only the delegation limits apply: eve's
	// users.edit at the organization is the right to manage access there
	// (the Administrators group's assignment), so she may remove an
	// administrator the owner added.
	if _, err := e.c.AddGroupMember(owner, &directoryv1.AddGroupMemberRequest{Group: admins, Member: gus.GetName()}); err != nil {
		t.Fatalf("owner adding gus to Administrators: %v", err)
	}
	e.awaitAccess(gus.GetName(), "users.delete", org, true)
	if _, err := e.c.RemoveGroupMember(eveCtx, &directoryv1.RemoveGroupMemberRequest{Group: admins, Member: gus.GetName()}); err != nil {
		t.Fatalf("eve removing gus from Administrators: %v", err)
	}

	// Automation Users holds roles at every Orchestrator service and its
	// Shared folder, where eve may not manage access (services.users.edit):
	// she can neither join it nor remove a member (DELEGATION_DENIED, naming
	// the service or its Shared folder); the owner can.
	autoUsers := org + "/groups/" + domain.GroupAutomationUsers
	if _, err := e.c.AddGroupMember(owner, &directoryv1.AddGroupMemberRequest{Group: autoUsers, Member: gus.GetName()}); err != nil {
		t.Fatalf("owner adding gus to Automation Users: %v", err)
	}
	orch, err := e.c.CreateService(owner, &directoryv1.CreateServiceRequest{Parent: org + "/tenants/" + domain.DefaultTenant, ServiceId: "orch",
		Service: &directoryv1.Service{DisplayName: "Orchestrator", Type: "orchestrator"}})
	if err != nil {
		t.Fatalf("CreateService: %v", err)
	}
	e.awaitAccess(gus.GetName(), "orchestrator.settings.view", orch.GetName(), true)
	_, err = e.c.RemoveGroupMember(eveCtx, &directoryv1.RemoveGroupMemberRequest{Group: autoUsers, Member: gus.GetName()})
	mcWant(t, "eve removing gus from Automation Users", err, codes.PermissionDenied, "DELEGATION_DENIED")
	if _, _, md := mcErrorInfo(err); md["scope"] != orch.GetName() && md["scope"] != orch.GetName()+"/folders/shared" {
		t.Fatalf("the refusal names scope %q, want %s or its Shared folder", md["scope"], orch.GetName())
	}
	_, err = e.c.AddGroupMember(eveCtx, &directoryv1.AddGroupMemberRequest{Group: autoUsers, Member: eve.GetName()})
	mcWant(t, "eve joining Automation Users", err, codes.PermissionDenied, "DELEGATION_DENIED")
	if _, err := e.c.RemoveGroupMember(owner, &directoryv1.RemoveGroupMemberRequest{Group: autoUsers, Member: gus.GetName()}); err != nil {
		t.Fatalf("owner removing gus from Automation Users: %v", err)
	}
}
