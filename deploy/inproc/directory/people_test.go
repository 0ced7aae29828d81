package directory_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/records"
	"steward.dev/pkg/store"
	"steward.dev/services/directory/domain"
)

// peopleReason returns the ErrorInfo reason of err, or "".
func peopleReason(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// ppUUID returns a random version-4 UUID for request_id.
func ppUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// ppWant fails t unless err has code and (when reason is set) reason.
func ppWant(t *testing.T, err error, code codes.Code, reason string) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("got %v, want code %v", err, code)
	}
	if reason != "" && peopleReason(err) != reason {
		t.Fatalf("got reason %q (%v), want %q", peopleReason(err), err, reason)
	}
}

// ppOK fails t on err.
func ppOK(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// people is one signed-up organization with helpers to populate it.
type people struct {
	t   *testing.T
	e   *env
	su  *directoryv1.SignUpResponse
	org string
	// ctx acts as the owner.
	ctx context.Context
}

func newPeople(t *testing.T, e *env) *people {
	t.Helper()
	su := e.signUp()
	return &people{t: t, e: e, su: su, org: su.GetOrganization().GetName(), ctx: e.asOwner(su)}
}

// head returns the current event-log sequence.
func (p *people) head() uint64 {
	p.t.Helper()
	evs := p.e.eventsAfter(0)
	if len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].GetSequence()
}

// types returns the types of the events after seq.
func (p *people) types(after uint64) []string {
	p.t.Helper()
	var out []string
	for _, ev := range p.e.eventsAfter(after) {
		out = append(out, ev.GetType())
	}
	return out
}

// user creates a user with ID id (nickname id, email id@example.com).
func (p *people) user(id string, mods ...func(*directoryv1.User)) *directoryv1.User {
	p.t.Helper()
	u := &directoryv1.User{Nickname: id, Email: id + "@example.com"}
	for _, m := range mods {
		m(u)
	}
	got, err := p.e.c.CreateUser(p.ctx, &directoryv1.CreateUserRequest{Parent: p.org, UserId: id, User: u}, p.e.svc)
	ppOK(p.t, "CreateUser "+id, err)
	return got
}

// dept creates a department with ID id under parent ("" = root).
func (p *people) dept(id, parent string) *directoryv1.Department {
	p.t.Helper()
	if parent != "" {
		parent = p.org + "/departments/" + parent
	}
	d, err := p.e.c.CreateDepartment(p.ctx, &directoryv1.CreateDepartmentRequest{
		Parent: p.org, DepartmentId: id,
		Department: &directoryv1.Department{DisplayName: "Dept " + id, ParentDepartment: parent},
	}, p.e.svc)
	ppOK(p.t, "CreateDepartment "+id, err)
	return d
}

// group creates a custom group with ID id.
func (p *people) group(id string) *directoryv1.Group {
	p.t.Helper()
	g, err := p.e.c.CreateGroup(p.ctx, &directoryv1.CreateGroupRequest{Parent: p.org, GroupId: id, Group: &directoryv1.Group{DisplayName: "Group " + id}}, p.e.svc)
	ppOK(p.t, "CreateGroup "+id, err)
	return g
}

func (p *people) groupName(id string) string { return p.org + "/groups/" + id }
func (p *people) deptName(id string) string  { return p.org + "/departments/" + id }

// add makes user a member of group (an ID).
func (p *people) add(group, user string) *directoryv1.GroupMembership {
	p.t.Helper()
	m, err := p.e.c.AddGroupMember(p.ctx, &directoryv1.AddGroupMemberRequest{Group: p.groupName(group), Member: user}, p.e.svc)
	ppOK(p.t, "AddGroupMember", err)
	return m
}

// admin2 creates a second administrator and returns it with a context
// acting as it.
func (p *people) admin2() (*directoryv1.User, context.Context) {
	p.t.Helper()
	u := p.user("admin2")
	p.add(domain.GroupAdministrators, u.GetName())
	return u, p.e.as(u.GetName(), p.org)
}

// listUsers returns the nicknames of every user matching req (all pages).
func (p *people) listUsers(req *directoryv1.ListUsersRequest) []string {
	p.t.Helper()
	req.Parent = p.org
	var out []string
	for {
		resp, err := p.e.c.ListUsers(p.ctx, req, p.e.svc)
		ppOK(p.t, "ListUsers", err)
		for _, u := range resp.GetUsers() {
			out = append(out, u.GetNickname())
		}
		if resp.GetNextPageToken() == "" {
			return out
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

func TestCreateUserDefaults(t *testing.T) {
	e := newEnv(t)
	p := newPeople(t, e)
	seq := p.head()

	// R3/R7: manual, active, in the root department, display name defaulting
	// to the nickname; output-only fields of the request are ignored.
	u, err := e.c.CreateUser(p.ctx, &directoryv1.CreateUserRequest{Parent: p.org, User: &directoryv1.User{
		Nickname: "alice_1", Email: "alice@example.com", MfaRequired: true, ConcurrentExecutionAllowed: true,
		Owner: true, State: directoryv1.User_STATE_INACTIVE, Provisioning: directoryv1.User_PROVISIONING_AUTO, TotpEnrolled: true,
	}}, e.svc)
	ppOK(t, "CreateUser", err)
	if u.GetDepartment() != p.deptName(domain.RootDepartment) || u.GetState() != directoryv1.User_STATE_ACTIVE ||
		u.GetProvisioning() != directoryv1.User_PROVISIONING_MANUAL || u.GetDisplayName() != "alice_1" || u.GetOwner() ||
		u.GetTotpEnrolled() || !u.GetMfaRequired() || !u.GetConcurrentExecutionAllowed() || u.GetEtag() == "" || u.GetCreateTime() == nil {
		t.Fatalf("created user = %v", u)
	}
	got, err := e.c.GetUser(p.ctx, &directoryv1.GetUserRequest{Name: u.GetName()}, e.svc)
	ppOK(t, "GetUser", err)
	if !proto.Equal(got, u) {
		t.Fatalf("GetUser = %v, want %v", got, u)
	}
	evs := e.eventsAfter(seq)
	if len(evs) != 1 || evs[0].GetType() != domain.TypeUserCreated || evs[0].GetResource() != u.GetName() {
		t.Fatalf("events = %v", evs)
	}

	// Client-chosen ID, in a given department; taken IDs are refused.
	p.dept("sales", "")
	v := p.user("bob", func(u *directoryv1.User) { u.Department = p.deptName("sales"); u.DisplayName = "Bob B" })
	if v.GetName() != p.org+"/users/bob" || v.GetDepartment() != p.deptName("sales") || v.GetDisplayName() != "Bob B" {
		t.Fatalf("bob = %v", v)
	}
	_, err = e.c.CreateUser(p.ctx, &directoryv1.CreateUserRequest{Parent: p.org, UserId: "bob", User: &directoryv1.User{Nickname: "bob2", Email: "bob2@example.com"}}, e.svc)
	ppWant(t, err, codes.AlreadyExists, "ALREADY_EXISTS")

	// R3: validation (nickname charset/length, email, required fields).
	for name, in := range map[string]*directoryv1.User{
		"nickname chars":   {Nickname: "al ice", Email: "a1@example.com"},
		"nickname length":  {Nickname: "abcdefghijklmnopq", Email: "a2@example.com"},
		"email format":     {Nickname: "a3", Email: "not-an-email"},
		"missing nickname": {Email: "a4@example.com"},
		"missing email":    {Nickname: "a5"},
	} {
		_, err := e.c.CreateUser(p.ctx, &directoryv1.CreateUserRequest{Parent: p.org, User: in}, e.svc)
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: got %v, want InvalidArgument", name, err)
		}
	}
	// R7: the department must exist in the organization.
	_, err = e.c.CreateUser(p.ctx, &directoryv1.CreateUserRequest{Parent: p.org, User: &directoryv1.User{Nickname: "c", Email: "c@example.com", Department: p.deptName("nope")}}, e.svc)
	ppWant(t, err, codes.NotFound, "")
	other := newPeople(t, e)
	_, err = e.c.CreateUser(p.ctx, &directoryv1.CreateUserRequest{Parent: p.org, User: &directoryv1.User{Nickname: "c", Email: "c@example.com", Department: other.deptName(domain.RootDepartment)}}, e.svc)
	ppWant(t, err, codes.NotFound, "")
	// Cross-organization: creating in another organization is NotFound.
	_, err = e.c.CreateUser(other.ctx, &directoryv1.CreateUserRequest{Parent: p.org, User: &directoryv1.User{Nickname: "c", Email: "c@example.com"}}, e.svc)
	ppWant(t, err, codes.NotFound, "")
}

func TestUserEmailUnique(t *testing.T) {
	e := newEnv(t)
	p := newPeople(t, e)
	a := p.user("alice")
	b := p.user("bob")

	// R3: emails are unique per organization, case-insensitively.
	for _, email := range []string{"alice@example.com", "ALICE@Example.com", p.su.GetOwner().GetEmail()} {
		_, err := e.c.CreateUser(p.ctx, &directoryv1.CreateUserRequest{Parent: p.org, User: &directoryv1.User{Nickname: "x", Email: email}}, e.svc)
		ppWant(t, err, codes.AlreadyExists, "EMAIL_TAKEN")
	}
	mask := &fieldmaskpb.FieldMask{Paths: []string{"email"}}
	_, err := e.c.UpdateUser(p.ctx, &directoryv1.UpdateUserRequest{User: &directoryv1.User{Name: b.GetName(), Email: "Alice@EXAMPLE.com"}, UpdateMask: mask}, e.svc)
	ppWant(t, err, codes.AlreadyExists, "EMAIL_TAKEN")

	// Changing the case of one's own email is fine; changing it frees the old one.
	a, err = e.c.UpdateUser(p.ctx, &directoryv1.UpdateUserRequest{User: &directoryv1.User{Name: a.GetName(), Email: "Alice@Example.com"}, UpdateMask: mask}, e.svc)
	ppOK(t, "UpdateUser case", err)
	_, err = e.c.UpdateUser(p.ctx, &directoryv1.UpdateUserRequest{User: &directoryv1.User{Name: a.GetName(), Email: "alice2@example.com"}, UpdateMask: mask}, e.svc)
	ppOK(t, "UpdateUser email", err)
	_, err = e.c.CreateUser(p.ctx, &directoryv1.CreateUserRequest{Parent: p.org, User: &directoryv1.User{Nickname: "x", Email: "alice@example.com"}}, e.svc)
	ppOK(t, "CreateUser with freed email", err)
	_, err = e.c.CreateUser(p.ctx, &directoryv1.CreateUserRequest{Parent: p.org, User: &directoryv1.User{Nickname: "y", Email: "ALICE2@example.com"}}, e.svc)
	ppWant(t, err, codes.AlreadyExists, "EMAIL_TAKEN")

	// Another organization may use the same email.
	other := newPeople(t, e)
	other.user("alice")
}

func TestCreateUserIdempotent(t *testing.T) {
	e := newEnv(t)
	p := newPeople(t, e)
	seq := p.head()
	req := &directoryv1.CreateUserRequest{Parent: p.org, RequestId: ppUUID(), User: &directoryv1.User{Nickname: "carol", Email: "carol@example.com"}, InitialPassword: "a long password"}
	first, err := e.c.CreateUser(p.ctx, req, e.svc)
	ppOK(t, "CreateUser", err)
	again, err := e.c.CreateUser(p.ctx, req, e.svc)
	ppOK(t, "CreateUser replay", err)
	if !proto.Equal(first, again) {
		t.Fatalf("replay = %v, want %v", again, first)
	}
	if got := p.types(seq); !slices.Equal(got, []string{domain.TypeUserCreated}) {
		t.Fatalf("events = %v", got)
	}
	req2 := proto.Clone(req).(*directoryv1.CreateUserRequest)
	req2.User.Nickname = "carol2"
	_, err = e.c.CreateUser(p.ctx, req2, e.svc)
	ppWant(t, err, codes.Aborted, "REQUEST_ID_REUSED")
}

func TestCreateUserAccountSystem(t *testing.T) {
	e := newEnv(t)
	p := newPeople(t, e)
	// R3/R8: under the local account system an external subject is refused.
	_, err := e.c.CreateUser(p.ctx, &directoryv1.CreateUserRequest{Parent: p.org, User: &directoryv1.User{Nickname: "x", Email: "x@example.com", ExternalSubject: "sub-1"}}, e.svc)
	ppWant(t, err, codes.FailedPrecondition, "ACCOUNT_SYSTEM_MISMATCH")
	u := p.user("x")
	_, err = e.c.UpdateUser(p.ctx, &directoryv1.UpdateUserRequest{User: &directoryv1.User{Name: u.GetName(), ExternalSubject: "sub-1"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"external_subject"}}}, e.svc)
	ppWant(t, err, codes.FailedPrecondition, "ACCOUNT_SYSTEM_MISMATCH")

	// A user created with an initial password can sign in with it.
	_, err = e.c.CreateUser(p.ctx, &directoryv1.CreateUserRequest{Parent: p.org, User: &directoryv1.User{Nickname: "pw", Email: "pw@example.com"}, InitialPassword: "initial secret 1"}, e.svc)
	ppOK(t, "CreateUser with password", err)
	_, err = e.c.SignIn(context.Background(), &directoryv1.SignInRequest{Organization: p.org, Credential: &directoryv1.SignInRequest_Password{
		Password: &directoryv1.PasswordCredential{Email: "pw@example.com", Password: "initial secret 1"}}})
	ppOK(t, "SignIn with the initial password", err)

	// Under OIDC an initial password is refused, an external subject is fine.
	o, err := e.c.GetOrganization(p.ctx, &directoryv1.GetOrganizationRequest{Name: p.org}, e.svc)
	ppOK(t, "GetOrganization", err)
	_, err = e.c.SwitchAccountSystem(p.ctx, &directoryv1.SwitchAccountSystemRequest{
		Name: p.org + "/accountSystem", Confirm: true, Etag: o.GetEtag(),
		AccountSystem: &directoryv1.AccountSystem{Kind: directoryv1.AccountSystem_KIND_OIDC, Oidc: &directoryv1.OidcConfig{Issuer: "https://idp.example.com", ClientId: "steward"}},
	}, e.svc)
	ppOK(t, "SwitchAccountSystem", err)
	_, err = e.c.CreateUser(p.ctx, &directoryv1.CreateUserRequest{Parent: p.org, User: &directoryv1.User{Nickname: "y", Email: "y@example.com"}, InitialPassword: "a long password"}, e.svc)
	ppWant(t, err, codes.FailedPrecondition, "ACCOUNT_SYSTEM_MISMATCH")
	y, err := e.c.CreateUser(p.ctx, &directoryv1.CreateUserRequest{Parent: p.org, User: &directoryv1.User{Nickname: "y", Email: "y@example.com", ExternalSubject: "sub-y"}}, e.svc)
	ppOK(t, "CreateUser under OIDC", err)
	if y.GetExternalSubject() != "sub-y" {
		t.Fatalf("user = %v", y)
	}
	// One external subject binds one user.
	_, err = e.c.CreateUser(p.ctx, &directoryv1.CreateUserRequest{Parent: p.org, User: &directoryv1.User{Nickname: "z", Email: "z@example.com", ExternalSubject: "sub-y"}}, e.svc)
	ppWant(t, err, codes.AlreadyExists, "")
}

func TestUpdateUser(t *testing.T) {
	e := newEnv(t)
	p := newPeople(t, e)
	p.dept("sales", "")
	u := p.user("dave")
	seq := p.head()

	// R3: masked update of the editable fields.
	got, err := e.c.UpdateUser(p.ctx, &directoryv1.UpdateUserRequest{
		User:       &directoryv1.User{Name: u.GetName(), Etag: u.GetEtag(), DisplayName: "Dave D", MfaRequired: true, Nickname: "ignored"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name", "mfa_required"}},
	}, e.svc)
	ppOK(t, "UpdateUser", err)
	if got.GetDisplayName() != "Dave D" || !got.GetMfaRequired() || got.GetNickname() != "dave" || got.GetEtag() == u.GetEtag() {
		t.Fatalf("updated = %v", got)
	}
	if ts := p.types(seq); !slices.Equal(ts, []string{domain.TypeUserUpdated}) {
		t.Fatalf("events = %v", ts)
	}
	// The old etag is stale now (AIP-154).
	_, err = e.c.UpdateUser(p.ctx, &directoryv1.UpdateUserRequest{User: &directoryv1.User{Name: u.GetName(), Etag: u.GetEtag(), DisplayName: "x"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}}, e.svc)
	ppWant(t, err, codes.Aborted, "ETAG_MISMATCH")
	// Output-only fields and unknown paths are refused.
	for _, path := range []string{"state", "owner", "provisioning", "name", "bogus"} {
		_, err = e.c.UpdateUser(p.ctx, &directoryv1.UpdateUserRequest{User: &directoryv1.User{Name: u.GetName()}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{path}}}, e.svc)
		ppWant(t, err, codes.InvalidArgument, "")
	}
	// An update that changes nothing emits nothing.
	seq = p.head()
	same, err := e.c.UpdateUser(p.ctx, &directoryv1.UpdateUserRequest{User: &directoryv1.User{Name: u.GetName(), DisplayName: "Dave D"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}}, e.svc)
	ppOK(t, "UpdateUser no-op", err)
	if same.GetEtag() != got.GetEtag() || len(p.types(seq)) != 0 {
		t.Fatalf("no-op update changed the user or emitted %v", p.types(seq))
	}

	// An empty mask replaces every editable field; the department moves (R7).
	full, err := e.c.UpdateUser(p.ctx, &directoryv1.UpdateUserRequest{User: &directoryv1.User{
		Name: u.GetName(), Nickname: "dave.d", Email: "dave.d@example.com", Department: p.deptName("sales"), ConcurrentExecutionAllowed: true,
	}}, e.svc)
	ppOK(t, "UpdateUser full", err)
	if full.GetNickname() != "dave.d" || full.GetDisplayName() != "dave.d" || full.GetMfaRequired() || !full.GetConcurrentExecutionAllowed() ||
		full.GetDepartment() != p.deptName("sales") || full.GetEmail() != "dave.d@example.com" {
		t.Fatalf("full update = %v", full)
	}
	if got := p.listUsers(&directoryv1.ListUsersRequest{Department: p.deptName("sales")}); !slices.Equal(got, []string{"dave.d"}) {
		t.Fatalf("sales users = %v", got)
	}
	// Required fields stay required; unknown departments are NotFound.
	_, err = e.c.UpdateUser(p.ctx, &directoryv1.UpdateUserRequest{User: &directoryv1.User{Name: u.GetName()}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"nickname"}}}, e.svc)
	ppWant(t, err, codes.InvalidArgument, "")
	_, err = e.c.UpdateUser(p.ctx, &directoryv1.UpdateUserRequest{User: &directoryv1.User{Name: u.GetName(), Department: p.deptName("nope")}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"department"}}}, e.svc)
	ppWant(t, err, codes.NotFound, "")
	// Clearing the department puts the user back in the root (R7).
	back, err := e.c.UpdateUser(p.ctx, &directoryv1.UpdateUserRequest{User: &directoryv1.User{Name: u.GetName()}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"department"}}}, e.svc)
	ppOK(t, "UpdateUser clear department", err)
	if back.GetDepartment() != p.deptName(domain.RootDepartment) {
		t.Fatalf("department = %s", back.GetDepartment())
	}
	// The old department is empty again: it can be deleted.
	_, err = e.c.DeleteDepartment(p.ctx, &directoryv1.DeleteDepartmentRequest{Name: p.deptName("sales")}, e.svc)
	ppOK(t, "DeleteDepartment", err)

	// Cross-organization: NotFound, never a hint.
	other := newPeople(t, e)
	_, err = e.c.UpdateUser(other.ctx, &directoryv1.UpdateUserRequest{User: &directoryv1.User{Name: u.GetName(), DisplayName: "x"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}}, e.svc)
	ppWant(t, err, codes.NotFound, "")
	_, err = e.c.GetUser(other.ctx, &directoryv1.GetUserRequest{Name: u.GetName()}, e.svc)
	ppWant(t, err, codes.NotFound, "")
	_, err = e.c.UpdateUser(p.ctx, &directoryv1.UpdateUserRequest{User: &directoryv1.User{Name: u.GetName(), Department: other.deptName(domain.RootDepartment)}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"department"}}}, e.svc)
	ppWant(t, err, codes.NotFound, "")
}

// R3: concurrent updates with the same etag: exactly one wins.
func TestUpdateUserConcurrentEtag(t *testing.T) {
	e := newEnv(t)
	p := newPeople(t, e)
	u := p.user("erin")
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = e.c.UpdateUser(p.ctx, &directoryv1.UpdateUserRequest{
				User:       &directoryv1.User{Name: u.GetName(), Etag: u.GetEtag(), DisplayName: fmt.Sprintf("Erin %d", i)},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
			}, e.svc)
		})
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
			continue
		}
		ppWant(t, err, codes.Aborted, "ETAG_MISMATCH")
	}
	if wins != 1 {
		t.Fatalf("%d updates won, want exactly 1", wins)
	}
}

// R1/R4: the owner is edited only by itself, and nobody deletes or
// deactivates it or takes it out of Administrators.
func TestOwnerImmutable(t *testing.T) {
	e := newEnv(t)
	p := newPeople(t, e)
	owner := p.su.GetOwner().GetName()
	_, ctx2 := p.admin2()
	p.dept("sales", "")
	mask := &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}

	_, err := e.c.UpdateUser(ctx2, &directoryv1.UpdateUserRequest{User: &directoryv1.User{Name: owner, DisplayName: "Hijacked"}, UpdateMask: mask}, e.svc)
	ppWant(t, err, codes.FailedPrecondition, "OWNER_IMMUTABLE")
	_, err = e.c.MoveUser(ctx2, &directoryv1.MoveUserRequest{Name: owner, Department: p.deptName("sales")}, e.svc)
	ppWant(t, err, codes.FailedPrecondition, "OWNER_IMMUTABLE")
	_, err = e.c.DeleteUser(ctx2, &directoryv1.DeleteUserRequest{Name: owner}, e.svc)
	ppWant(t, err, codes.FailedPrecondition, "OWNER_IMMUTABLE")
	_, err = e.c.DeactivateUser(ctx2, &directoryv1.DeactivateUserRequest{Name: owner}, e.svc)
	ppWant(t, err, codes.FailedPrecondition, "OWNER_IMMUTABLE")
	_, err = e.c.RemoveGroupMember(ctx2, &directoryv1.RemoveGroupMemberRequest{Group: p.groupName(domain.GroupAdministrators), Member: owner}, e.svc)
	ppWant(t, err, codes.FailedPrecondition, "OWNER_IMMUTABLE")
	// The owner itself: the owner check comes before the self check.
	_, err = e.c.DeleteUser(p.ctx, &directoryv1.DeleteUserRequest{Name: owner}, e.svc)
	ppWant(t, err, codes.FailedPrecondition, "OWNER_IMMUTABLE")
	_, err = e.c.DeactivateUser(p.ctx, &directoryv1.DeactivateUserRequest{Name: owner}, e.svc)
	ppWant(t, err, codes.FailedPrecondition, "OWNER_IMMUTABLE")
	_, err = e.c.RemoveGroupMember(p.ctx, &directoryv1.RemoveGroupMemberRequest{Group: p.groupName(domain.GroupAdministrators), Member: owner}, e.svc)
	ppWant(t, err, codes.FailedPrecondition, "OWNER_IMMUTABLE")

	// The owner may edit and move itself, and stays the owner.
	got, err := e.c.UpdateUser(p.ctx, &directoryv1.UpdateUserRequest{User: &directoryv1.User{Name: owner, DisplayName: "The Owner"}, UpdateMask: mask}, e.svc)
	ppOK(t, "owner updates itself", err)
	if !got.GetOwner() || got.GetDisplayName() != "The Owner" {
		t.Fatalf("owner = %v", got)
	}
	got, err = e.c.MoveUser(p.ctx, &directoryv1.MoveUserRequest{Name: owner, Department: p.deptName("sales")}, e.svc)
	ppOK(t, "owner moves itself", err)
	if !got.GetOwner() || got.GetState() != directoryv1.User_STATE_ACTIVE {
		t.Fatalf("owner = %v", got)
	}
	// Activating the (always active) owner is a harmless no-op.
	_, err = e.c.ActivateUser(ctx2, &directoryv1.ActivateUserRequest{Name: owner}, e.svc)
	ppOK(t, "ActivateUser owner", err)
}

// R4: nobody deletes or deactivates the account they are signed in with;
// administrators cannot be deleted.
func TestUserDeletionRules(t *testing.T) {
	e := newEnv(t)
	p := newPeople(t, e)
	a2, ctx2 := p.admin2()

	_, err := e.c.DeleteUser(ctx2, &directoryv1.DeleteUserRequest{Name: a2.GetName()}, e.svc)
	ppWant(t, err, codes.FailedPrecondition, "SELF_ACTION_FORBIDDEN")
	_, err = e.c.DeactivateUser(ctx2, &directoryv1.DeactivateUserRequest{Name: a2.GetName()}, e.svc)
	ppWant(t, err, codes.FailedPrecondition, "SELF_ACTION_FORBIDDEN")

	// R4 (interim: membership of Administrators counts as the role).
	_, err = e.c.DeleteUser(p.ctx, &directoryv1.DeleteUserRequest{Name: a2.GetName()}, e.svc)
	ppWant(t, err, codes.FailedPrecondition, "USER_HOLDS_ADMINISTRATOR_ROLE")

	// Another administrator may deactivate it, though.
	got, err := e.c.DeactivateUser(p.ctx, &directoryv1.DeactivateUserRequest{Name: a2.GetName()}, e.svc)
	ppOK(t, "DeactivateUser admin2", err)
	if got.GetState() != directoryv1.User_STATE_INACTIVE {
		t.Fatalf("state = %v", got.GetState())
	}
	_, err = e.c.RemoveGroupMember(p.ctx, &directoryv1.RemoveGroupMemberRequest{Group: p.groupName(domain.GroupAdministrators), Member: a2.GetName()}, e.svc)
	ppOK(t, "RemoveGroupMember", err)
	// Stale etag, then the right one.
	_, err = e.c.DeleteUser(p.ctx, &directoryv1.DeleteUserRequest{Name: a2.GetName(), Etag: a2.GetEtag()}, e.svc)
	ppWant(t, err, codes.Aborted, "ETAG_MISMATCH")
	_, err = e.c.DeleteUser(p.ctx, &directoryv1.DeleteUserRequest{Name: a2.GetName(), Etag: got.GetEtag()}, e.svc)
	ppOK(t, "DeleteUser", err)
	_, err = e.c.DeleteUser(p.ctx, &directoryv1.DeleteUserRequest{Name: a2.GetName()}, e.svc)
	ppWant(t, err, codes.NotFound, "")
}

// R3/R5/R7: deleting a user removes its memberships (one event each), its
// indexes and the record.
func TestDeleteUserCascade(t *testing.T) {
	e := newEnv(t)
	p := newPeople(t, e)
	p.dept("ops", "")
	u := p.user("frank", func(u *directoryv1.User) { u.Department = p.deptName("ops") })
	p.group("g1")
	p.group("g2")
	p.add("g1", u.GetName())
	p.add("g2", u.GetName())
	p.add(domain.GroupAutomationUsers, u.GetName())
	other := newPeople(t, e)
	seq := p.head()

	// Cross-organization delete is NotFound.
	_, err := e.c.DeleteUser(other.ctx, &directoryv1.DeleteUserRequest{Name: u.GetName()}, e.svc)
	ppWant(t, err, codes.NotFound, "")

	_, err = e.c.DeleteUser(p.ctx, &directoryv1.DeleteUserRequest{Name: u.GetName()}, e.svc)
	ppOK(t, "DeleteUser", err)
	evs := e.eventsAfter(seq)
	var removed []string
	for _, ev := range evs[:len(evs)-1] {
		if ev.GetType() != domain.TypeGroupMemberRemoved {
			t.Fatalf("event %v", ev)
		}
		removed = append(removed, ev.GetResource())
	}
	slices.Sort(removed)
	want := []string{p.groupName(domain.GroupAutomationUsers), p.groupName("g1"), p.groupName("g2")}
	if !slices.Equal(removed, want) {
		t.Fatalf("memberships removed = %v, want %v", removed, want)
	}
	last := evs[len(evs)-1]
	if last.GetType() != domain.TypeUserDeleted || last.GetResource() != u.GetName() || last.GetOperation() != eventlogv1.Operation_OPERATION_DELETE {
		t.Fatalf("last event = %v", last)
	}

	_, err = e.c.GetUser(p.ctx, &directoryv1.GetUserRequest{Name: u.GetName()}, e.svc)
	ppWant(t, err, codes.NotFound, "")
	resp, err := e.c.ListGroupMembers(p.ctx, &directoryv1.ListGroupMembersRequest{Group: p.groupName("g1")}, e.svc)
	ppOK(t, "ListGroupMembers", err)
	if len(resp.GetMemberships()) != 0 {
		t.Fatalf("g1 members = %v", resp.GetMemberships())
	}
	// The email and the department are free again.
	p.user("frank2", func(u *directoryv1.User) { u.Email = "FRANK@example.com" })
	_, err = e.c.DeleteDepartment(p.ctx, &directoryv1.DeleteDepartmentRequest{Name: p.deptName("ops")}, e.svc)
	ppOK(t, "DeleteDepartment", err)
}

// R3: activate and deactivate, with events; repeating is a no-op.
func TestActivateDeactivate(t *testing.T) {
	e := newEnv(t)
	p := newPeople(t, e)
	u := p.user("gina")
	seq := p.head()

	_, err := e.c.DeactivateUser(p.ctx, &directoryv1.DeactivateUserRequest{Name: u.GetName(), Etag: "stale"}, e.svc)
	ppWant(t, err, codes.Aborted, "ETAG_MISMATCH")
	off, err := e.c.DeactivateUser(p.ctx, &directoryv1.DeactivateUserRequest{Name: u.GetName(), Etag: u.GetEtag()}, e.svc)
	ppOK(t, "DeactivateUser", err)
	if off.GetState() != directoryv1.User_STATE_INACTIVE {
		t.Fatalf("state = %v", off.GetState())
	}
	if got := p.listUsers(&directoryv1.ListUsersRequest{State: directoryv1.User_STATE_INACTIVE}); !slices.Equal(got, []string{"gina"}) {
		t.Fatalf("inactive users = %v", got)
	}
	_, err = e.c.DeactivateUser(p.ctx, &directoryv1.DeactivateUserRequest{Name: u.GetName()}, e.svc)
	ppOK(t, "DeactivateUser again", err)
	on, err := e.c.ActivateUser(p.ctx, &directoryv1.ActivateUserRequest{Name: u.GetName(), Etag: off.GetEtag()}, e.svc)
	ppOK(t, "ActivateUser", err)
	if on.GetState() != directoryv1.User_STATE_ACTIVE {
		t.Fatalf("state = %v", on.GetState())
	}
	again, err := e.c.ActivateUser(p.ctx, &directoryv1.ActivateUserRequest{Name: u.GetName()}, e.svc)
	ppOK(t, "ActivateUser again", err)
	if again.GetEtag() != on.GetEtag() {
		t.Fatal("activating an active user changed it")
	}
	if got := p.types(seq); !slices.Equal(got, []string{domain.TypeUserDeactivated, domain.TypeUserActivated}) {
		t.Fatalf("events = %v", got)
	}
	other := newPeople(t, e)
	_, err = e.c.DeactivateUser(other.ctx, &directoryv1.DeactivateUserRequest{Name: u.GetName()}, e.svc)
	ppWant(t, err, codes.NotFound, "")
	_, err = e.c.ActivateUser(other.ctx, &directoryv1.ActivateUserRequest{Name: u.GetName()}, e.svc)
	ppWant(t, err, codes.NotFound, "")
}

// R3/R5/R7: ListUsers filters combine with AND; pages are bound to them.
func TestListUsersFilters(t *testing.T) {
	e := newEnv(t)
	p := newPeople(t, e)
	p.dept("sales", "")
	p.dept("sales-eu", "sales")
	p.dept("sales-eu-de", "sales-eu")
	p.dept("eng", "")
	a := p.user("anna", func(u *directoryv1.User) { u.Department = p.deptName("sales"); u.DisplayName = "Anna Smith" })
	p.user("bert", func(u *directoryv1.User) { u.Department = p.deptName("sales-eu-de"); u.Email = "bert@corp.example" })
	c := p.user("cleo", func(u *directoryv1.User) { u.Department = p.deptName("eng"); u.DisplayName = "Cleo SMITHERS" })
	p.group("devs")
	p.add("devs", a.GetName())
	p.add("devs", c.GetName())
	_, err := e.c.DeactivateUser(p.ctx, &directoryv1.DeactivateUserRequest{Name: c.GetName()}, e.svc)
	ppOK(t, "DeactivateUser", err)

	for _, tc := range []struct {
		name string
		req  *directoryv1.ListUsersRequest
		want []string
	}{
		{"all", &directoryv1.ListUsersRequest{}, []string{"anna", "bert", "cleo", "owner"}},
		{"R7 subtree", &directoryv1.ListUsersRequest{Department: p.deptName("sales")}, []string{"anna", "bert"}},
		{"R7 leaf", &directoryv1.ListUsersRequest{Department: p.deptName("sales-eu")}, []string{"bert"}},
		{"R7 root subtree is everyone", &directoryv1.ListUsersRequest{Department: p.deptName(domain.RootDepartment)}, []string{"anna", "bert", "cleo", "owner"}},
		{"R5 group", &directoryv1.ListUsersRequest{Group: p.groupName("devs")}, []string{"anna", "cleo"}},
		{"R5 administrators", &directoryv1.ListUsersRequest{Group: p.groupName(domain.GroupAdministrators)}, []string{"owner"}},
		{"R5 everyone", &directoryv1.ListUsersRequest{Group: p.groupName(domain.GroupEveryone)}, []string{"anna", "bert", "cleo", "owner"}},
		{"state active", &directoryv1.ListUsersRequest{State: directoryv1.User_STATE_ACTIVE}, []string{"anna", "bert", "owner"}},
		{"state inactive", &directoryv1.ListUsersRequest{State: directoryv1.User_STATE_INACTIVE}, []string{"cleo"}},
		{"provisioning manual", &directoryv1.ListUsersRequest{Provisioning: directoryv1.User_PROVISIONING_MANUAL}, []string{"anna", "bert", "cleo", "owner"}},
		{"provisioning auto", &directoryv1.ListUsersRequest{Provisioning: directoryv1.User_PROVISIONING_AUTO}, nil},
		{"query display name", &directoryv1.ListUsersRequest{Query: "smith"}, []string{"anna", "cleo"}},
		{"query email", &directoryv1.ListUsersRequest{Query: "CORP.EXAMPLE"}, []string{"bert"}},
		{"query nickname", &directoryv1.ListUsersRequest{Query: "Own"}, []string{"owner"}},
		{"AND", &directoryv1.ListUsersRequest{Group: p.groupName("devs"), Query: "smith", State: directoryv1.User_STATE_ACTIVE}, []string{"anna"}},
		{"AND department", &directoryv1.ListUsersRequest{Department: p.deptName("sales"), Group: p.groupName("devs")}, []string{"anna"}},
		{"paged", &directoryv1.ListUsersRequest{PageSize: 1}, []string{"anna", "bert", "cleo", "owner"}},
		{"paged with filter", &directoryv1.ListUsersRequest{PageSize: 1, Query: "smith"}, []string{"anna", "cleo"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Users list by resource name; the owner's ID is random, so
			// compare nicknames as sets.
			got := p.listUsers(tc.req)
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}

	// A page token is bound to the filters.
	resp, err := e.c.ListUsers(p.ctx, &directoryv1.ListUsersRequest{Parent: p.org, PageSize: 1}, e.svc)
	ppOK(t, "ListUsers", err)
	if resp.GetNextPageToken() == "" || resp.GetSequence() == 0 || len(resp.GetUsers()) != 1 {
		t.Fatalf("first page = %v", resp)
	}
	_, err = e.c.ListUsers(p.ctx, &directoryv1.ListUsersRequest{Parent: p.org, PageSize: 1, PageToken: resp.GetNextPageToken(), Query: "x"}, e.svc)
	ppWant(t, err, codes.InvalidArgument, "")

	// Unknown or foreign filters are NotFound.
	other := newPeople(t, e)
	for _, req := range []*directoryv1.ListUsersRequest{
		{Parent: p.org, Department: p.deptName("nope")},
		{Parent: p.org, Group: p.groupName("nope")},
		{Parent: p.org, Department: other.deptName(domain.RootDepartment)},
		{Parent: p.org, Group: other.groupName(domain.GroupEveryone)},
	} {
		_, err := e.c.ListUsers(p.ctx, req, e.svc)
		ppWant(t, err, codes.NotFound, "")
	}
	_, err = e.c.ListUsers(other.ctx, &directoryv1.ListUsersRequest{Parent: p.org}, e.svc)
	ppWant(t, err, codes.NotFound, "")
}

// R7: moving users between departments.
func TestMoveUser(t *testing.T) {
	e := newEnv(t)
	p := newPeople(t, e)
	p.dept("hr", "")
	u := p.user("hank")
	seq := p.head()

	_, err := e.c.MoveUser(p.ctx, &directoryv1.MoveUserRequest{Name: u.GetName(), Department: p.deptName("hr"), Etag: "stale"}, e.svc)
	ppWant(t, err, codes.Aborted, "ETAG_MISMATCH")
	moved, err := e.c.MoveUser(p.ctx, &directoryv1.MoveUserRequest{Name: u.GetName(), Department: p.deptName("hr"), Etag: u.GetEtag()}, e.svc)
	ppOK(t, "MoveUser", err)
	if moved.GetDepartment() != p.deptName("hr") {
		t.Fatalf("department = %s", moved.GetDepartment())
	}
	evs := e.eventsAfter(seq)
	if len(evs) != 1 || evs[0].GetType() != domain.TypeUserUpdated || evs[0].GetResource() != u.GetName() {
		t.Fatalf("events = %v", evs)
	}
	if got := p.listUsers(&directoryv1.ListUsersRequest{Department: p.deptName("hr")}); !slices.Equal(got, []string{"hank"}) {
		t.Fatalf("hr = %v", got)
	}
	_, err = e.c.DeleteDepartment(p.ctx, &directoryv1.DeleteDepartmentRequest{Name: p.deptName("hr")}, e.svc)
	ppWant(t, err, codes.FailedPrecondition, "DEPARTMENT_NOT_EMPTY")
	_, err = e.c.MoveUser(p.ctx, &directoryv1.MoveUserRequest{Name: u.GetName(), Department: p.deptName("nope")}, e.svc)
	ppWant(t, err, codes.NotFound, "")
	other := newPeople(t, e)
	_, err = e.c.MoveUser(p.ctx, &directoryv1.MoveUserRequest{Name: u.GetName(), Department: other.deptName(domain.RootDepartment)}, e.svc)
	ppWant(t, err, codes.NotFound, "")
	_, err = e.c.MoveUser(other.ctx, &directoryv1.MoveUserRequest{Name: u.GetName(), Department: p.deptName(domain.RootDepartment)}, e.svc)
	ppWant(t, err, codes.NotFound, "")
	// Back to the root; the department is empty again.
	_, err = e.c.MoveUser(p.ctx, &directoryv1.MoveUserRequest{Name: u.GetName(), Department: p.deptName(domain.RootDepartment)}, e.svc)
	ppOK(t, "MoveUser root", err)
	_, err = e.c.DeleteDepartment(p.ctx, &directoryv1.DeleteDepartmentRequest{Name: p.deptName("hr")}, e.svc)
	ppOK(t, "DeleteDepartment", err)
}

// R7: the department tree.
func TestDepartments(t *testing.T) {
	e := newEnv(t)
	p := newPeople(t, e)
	root := p.deptName(domain.RootDepartment)
	seq := p.head()

	a := p.dept("a", "")
	if a.GetParentDepartment() != root || a.GetRoot() || a.GetEtag() == "" {
		t.Fatalf("a = %v", a)
	}
	b := p.dept("b", "a")
	p.dept("c", "b")
	p.dept("d", "")
	if got := p.types(seq); len(got) != 4 || got[0] != domain.TypeDepartmentCreated {
		t.Fatalf("events = %v", got)
	}
	got, err := e.c.GetDepartment(p.ctx, &directoryv1.GetDepartmentRequest{Name: b.GetName()}, e.svc)
	ppOK(t, "GetDepartment", err)
	if !proto.Equal(got, b) {
		t.Fatalf("GetDepartment = %v, want %v", got, b)
	}
	// Server-chosen ID; duplicate ID; unknown or foreign parent.
	d, err := e.c.CreateDepartment(p.ctx, &directoryv1.CreateDepartmentRequest{Parent: p.org, Department: &directoryv1.Department{DisplayName: "Generated"}}, e.svc)
	ppOK(t, "CreateDepartment", err)
	_, err = e.c.CreateDepartment(p.ctx, &directoryv1.CreateDepartmentRequest{Parent: p.org, DepartmentId: "a", Department: &directoryv1.Department{DisplayName: "Again"}}, e.svc)
	ppWant(t, err, codes.AlreadyExists, "ALREADY_EXISTS")
	_, err = e.c.CreateDepartment(p.ctx, &directoryv1.CreateDepartmentRequest{Parent: p.org, Department: &directoryv1.Department{DisplayName: "X", ParentDepartment: p.deptName("nope")}}, e.svc)
	ppWant(t, err, codes.NotFound, "")
	_, err = e.c.CreateDepartment(p.ctx, &directoryv1.CreateDepartmentRequest{Parent: p.org, Department: &directoryv1.Department{}}, e.svc)
	ppWant(t, err, codes.InvalidArgument, "")
	other := newPeople(t, e)
	_, err = e.c.CreateDepartment(p.ctx, &directoryv1.CreateDepartmentRequest{Parent: p.org, Department: &directoryv1.Department{DisplayName: "X", ParentDepartment: other.deptName(domain.RootDepartment)}}, e.svc)
	ppWant(t, err, codes.NotFound, "")
	_, err = e.c.GetDepartment(other.ctx, &directoryv1.GetDepartmentRequest{Name: b.GetName()}, e.svc)
	ppWant(t, err, codes.NotFound, "")

	// Idempotent create.
	req := &directoryv1.CreateDepartmentRequest{Parent: p.org, RequestId: ppUUID(), Department: &directoryv1.Department{DisplayName: "Once"}}
	first, err := e.c.CreateDepartment(p.ctx, req, e.svc)
	ppOK(t, "CreateDepartment", err)
	again, err := e.c.CreateDepartment(p.ctx, req, e.svc)
	ppOK(t, "CreateDepartment replay", err)
	if !proto.Equal(first, again) {
		t.Fatalf("replay = %v, want %v", again, first)
	}
	req.Department.DisplayName = "Twice"
	_, err = e.c.CreateDepartment(p.ctx, req, e.svc)
	ppWant(t, err, codes.Aborted, "REQUEST_ID_REUSED")

	// List: the whole tree, paged; direct children only.
	var names []string
	token := ""
	for {
		resp, err := e.c.ListDepartments(p.ctx, &directoryv1.ListDepartmentsRequest{Parent: p.org, PageSize: 2, PageToken: token}, e.svc)
		ppOK(t, "ListDepartments", err)
		for _, d := range resp.GetDepartments() {
			names = append(names, d.GetName())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if len(names) != 7 || !slices.IsSorted(names) {
		t.Fatalf("departments = %v", names)
	}
	resp, err := e.c.ListDepartments(p.ctx, &directoryv1.ListDepartmentsRequest{Parent: p.org, ParentDepartment: root}, e.svc)
	ppOK(t, "ListDepartments children", err)
	var children []string
	for _, d := range resp.GetDepartments() {
		children = append(children, d.GetName())
	}
	if want := []string{p.deptName("a"), p.deptName("d"), d.GetName(), first.GetName()}; !slices.Equal(children, slices.Sorted(slices.Values(want))) {
		t.Fatalf("root children = %v", children)
	}
	resp, err = e.c.ListDepartments(p.ctx, &directoryv1.ListDepartmentsRequest{Parent: p.org, ParentDepartment: p.deptName("a")}, e.svc)
	ppOK(t, "ListDepartments a", err)
	if len(resp.GetDepartments()) != 1 || resp.GetDepartments()[0].GetName() != b.GetName() {
		t.Fatalf("a's children = %v", resp.GetDepartments())
	}
	_, err = e.c.ListDepartments(other.ctx, &directoryv1.ListDepartmentsRequest{Parent: p.org}, e.svc)
	ppWant(t, err, codes.NotFound, "")

	// Update: rename; move under itself or a descendant is a cycle; the root
	// keeps no parent.
	parentMask := &fieldmaskpb.FieldMask{Paths: []string{"parent_department"}}
	for _, target := range []string{"a", "b", "c"} {
		_, err = e.c.UpdateDepartment(p.ctx, &directoryv1.UpdateDepartmentRequest{Department: &directoryv1.Department{Name: a.GetName(), ParentDepartment: p.deptName(target)}, UpdateMask: parentMask}, e.svc)
		ppWant(t, err, codes.InvalidArgument, "CYCLE")
	}
	_, err = e.c.UpdateDepartment(p.ctx, &directoryv1.UpdateDepartmentRequest{Department: &directoryv1.Department{Name: root, ParentDepartment: p.deptName("d")}, UpdateMask: parentMask}, e.svc)
	ppWant(t, err, codes.FailedPrecondition, "ROOT_DEPARTMENT_IMMUTABLE")
	seq = p.head()
	moved, err := e.c.UpdateDepartment(p.ctx, &directoryv1.UpdateDepartmentRequest{Department: &directoryv1.Department{Name: a.GetName(), Etag: a.GetEtag(), ParentDepartment: p.deptName("d"), DisplayName: "A!"}, UpdateMask: parentMask}, e.svc)
	ppOK(t, "UpdateDepartment move", err)
	if moved.GetParentDepartment() != p.deptName("d") || moved.GetDisplayName() != "Dept a" {
		t.Fatalf("moved = %v", moved)
	}
	_, err = e.c.UpdateDepartment(p.ctx, &directoryv1.UpdateDepartmentRequest{Department: &directoryv1.Department{Name: a.GetName(), Etag: a.GetEtag(), DisplayName: "A"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}}, e.svc)
	ppWant(t, err, codes.Aborted, "ETAG_MISMATCH")
	renamedRoot, err := e.c.UpdateDepartment(p.ctx, &directoryv1.UpdateDepartmentRequest{Department: &directoryv1.Department{Name: root, DisplayName: "HQ"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}}, e.svc)
	ppOK(t, "rename root", err)
	if renamedRoot.GetDisplayName() != "HQ" || !renamedRoot.GetRoot() {
		t.Fatalf("root = %v", renamedRoot)
	}
	if got := p.types(seq); !slices.Equal(got, []string{domain.TypeDepartmentUpdated, domain.TypeDepartmentUpdated}) {
		t.Fatalf("events = %v", got)
	}
	// The moved subtree comes along: users of c are in d's subtree now.
	p.user("ivan", func(u *directoryv1.User) { u.Department = p.deptName("c") })
	if got := p.listUsers(&directoryv1.ListUsersRequest{Department: p.deptName("d")}); !slices.Equal(got, []string{"ivan"}) {
		t.Fatalf("d's subtree users = %v", got)
	}

	// Delete: root refused, non-empty refused (children, users), leaves fine.
	_, err = e.c.DeleteDepartment(p.ctx, &directoryv1.DeleteDepartmentRequest{Name: root}, e.svc)
	ppWant(t, err, codes.FailedPrecondition, "ROOT_DEPARTMENT_IMMUTABLE")
	_, err = e.c.DeleteDepartment(p.ctx, &directoryv1.DeleteDepartmentRequest{Name: b.GetName()}, e.svc)
	ppWant(t, err, codes.FailedPrecondition, "DEPARTMENT_NOT_EMPTY")
	_, err = e.c.DeleteDepartment(p.ctx, &directoryv1.DeleteDepartmentRequest{Name: p.deptName("c")}, e.svc)
	ppWant(t, err, codes.FailedPrecondition, "DEPARTMENT_NOT_EMPTY")
	_, err = e.c.DeleteDepartment(other.ctx, &directoryv1.DeleteDepartmentRequest{Name: d.GetName()}, e.svc)
	ppWant(t, err, codes.NotFound, "")
	_, err = e.c.DeleteDepartment(p.ctx, &directoryv1.DeleteDepartmentRequest{Name: d.GetName(), Etag: "stale"}, e.svc)
	ppWant(t, err, codes.Aborted, "ETAG_MISMATCH")
	seq = p.head()
	_, err = e.c.DeleteDepartment(p.ctx, &directoryv1.DeleteDepartmentRequest{Name: d.GetName(), Etag: d.GetEtag()}, e.svc)
	ppOK(t, "DeleteDepartment", err)
	evs := e.eventsAfter(seq)
	if len(evs) != 1 || evs[0].GetType() != domain.TypeDepartmentDeleted || evs[0].GetResource() != d.GetName() {
		t.Fatalf("events = %v", evs)
	}
	_, err = e.c.GetDepartment(p.ctx, &directoryv1.GetDepartmentRequest{Name: d.GetName()}, e.svc)
	ppWant(t, err, codes.NotFound, "")
}

// R5: default and custom groups.
func TestGroups(t *testing.T) {
	e := newEnv(t)
	p := newPeople(t, e)
	seq := p.head()
	g := p.group("zeta")
	if g.GetKind() != directoryv1.Group_KIND_CUSTOM || g.GetDefaultGroup() != directoryv1.Group_DEFAULT_GROUP_UNSPECIFIED {
		t.Fatalf("group = %v", g)
	}
	p.group("alpha")
	if got := p.types(seq); !slices.Equal(got, []string{domain.TypeGroupCreated, domain.TypeGroupCreated}) {
		t.Fatalf("events = %v", got)
	}
	// The default group IDs are taken.
	_, err := e.c.CreateGroup(p.ctx, &directoryv1.CreateGroupRequest{Parent: p.org, GroupId: domain.GroupEveryone, Group: &directoryv1.Group{DisplayName: "Mine"}}, e.svc)
	ppWant(t, err, codes.AlreadyExists, "ALREADY_EXISTS")
	_, err = e.c.CreateGroup(p.ctx, &directoryv1.CreateGroupRequest{Parent: p.org, Group: &directoryv1.Group{}}, e.svc)
	ppWant(t, err, codes.InvalidArgument, "")

	// Idempotent create.
	req := &directoryv1.CreateGroupRequest{Parent: p.org, RequestId: ppUUID(), Group: &directoryv1.Group{DisplayName: "Once", Description: "d"}}
	first, err := e.c.CreateGroup(p.ctx, req, e.svc)
	ppOK(t, "CreateGroup", err)
	again, err := e.c.CreateGroup(p.ctx, req, e.svc)
	ppOK(t, "CreateGroup replay", err)
	if !proto.Equal(first, again) {
		t.Fatalf("replay = %v, want %v", again, first)
	}

	// List: default groups first in their order, then custom by name; paged.
	var names []string
	token := ""
	for {
		resp, err := e.c.ListGroups(p.ctx, &directoryv1.ListGroupsRequest{Parent: p.org, PageSize: 2, PageToken: token}, e.svc)
		ppOK(t, "ListGroups", err)
		for _, g := range resp.GetGroups() {
			names = append(names, g.GetName())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	want := []string{p.groupName(domain.GroupAdministrators), p.groupName(domain.GroupAutomationUsers), p.groupName(domain.GroupAutomationDevelopers), p.groupName(domain.GroupEveryone)}
	want = append(want, slices.Sorted(slices.Values([]string{p.groupName("alpha"), p.groupName("zeta"), first.GetName()}))...)
	if !slices.Equal(names, want) {
		t.Fatalf("groups = %v, want %v", names, want)
	}
	resp, err := e.c.ListGroups(p.ctx, &directoryv1.ListGroupsRequest{Parent: p.org, Kind: directoryv1.Group_KIND_CUSTOM, Query: "GROUP"}, e.svc)
	ppOK(t, "ListGroups filtered", err)
	if len(resp.GetGroups()) != 2 || resp.GetGroups()[0].GetName() != p.groupName("alpha") {
		t.Fatalf("custom groups = %v", resp.GetGroups())
	}
	resp, err = e.c.ListGroups(p.ctx, &directoryv1.ListGroupsRequest{Parent: p.org, Kind: directoryv1.Group_KIND_DEFAULT, Query: "automation"}, e.svc)
	ppOK(t, "ListGroups default", err)
	if len(resp.GetGroups()) != 2 {
		t.Fatalf("default automation groups = %v", resp.GetGroups())
	}
	other := newPeople(t, e)
	_, err = e.c.ListGroups(other.ctx, &directoryv1.ListGroupsRequest{Parent: p.org}, e.svc)
	ppWant(t, err, codes.NotFound, "")
	_, err = e.c.GetGroup(other.ctx, &directoryv1.GetGroupRequest{Name: g.GetName()}, e.svc)
	ppWant(t, err, codes.NotFound, "")

	// Default groups: no rename, no delete; the description may change.
	admins := p.groupName(domain.GroupAdministrators)
	_, err = e.c.UpdateGroup(p.ctx, &directoryv1.UpdateGroupRequest{Group: &directoryv1.Group{Name: admins, DisplayName: "Bosses"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}}, e.svc)
	ppWant(t, err, codes.FailedPrecondition, "DEFAULT_GROUP_IMMUTABLE")
	upd, err := e.c.UpdateGroup(p.ctx, &directoryv1.UpdateGroupRequest{Group: &directoryv1.Group{Name: admins, DisplayName: "Administrators", Description: "They run it"}}, e.svc)
	ppOK(t, "UpdateGroup default description", err)
	if upd.GetDescription() != "They run it" || upd.GetKind() != directoryv1.Group_KIND_DEFAULT {
		t.Fatalf("admins = %v", upd)
	}
	for _, id := range []string{domain.GroupAdministrators, domain.GroupAutomationUsers, domain.GroupAutomationDevelopers, domain.GroupEveryone} {
		_, err = e.c.DeleteGroup(p.ctx, &directoryv1.DeleteGroupRequest{Name: p.groupName(id)}, e.svc)
		ppWant(t, err, codes.FailedPrecondition, "DEFAULT_GROUP_IMMUTABLE")
	}

	// Custom groups: rename (etag-guarded), delete with memberships.
	_, err = e.c.UpdateGroup(p.ctx, &directoryv1.UpdateGroupRequest{Group: &directoryv1.Group{Name: g.GetName(), Etag: "stale", DisplayName: "Z"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}}, e.svc)
	ppWant(t, err, codes.Aborted, "ETAG_MISMATCH")
	seq = p.head()
	ren, err := e.c.UpdateGroup(p.ctx, &directoryv1.UpdateGroupRequest{Group: &directoryv1.Group{Name: g.GetName(), Etag: g.GetEtag(), DisplayName: "Zed"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}}, e.svc)
	ppOK(t, "UpdateGroup", err)
	if ren.GetDisplayName() != "Zed" {
		t.Fatalf("renamed = %v", ren)
	}
	_, err = e.c.UpdateGroup(p.ctx, &directoryv1.UpdateGroupRequest{Group: &directoryv1.Group{Name: g.GetName()}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"kind"}}}, e.svc)
	ppWant(t, err, codes.InvalidArgument, "")
	u1, u2 := p.user("u1"), p.user("u2")
	p.add("zeta", u1.GetName())
	p.add("zeta", u2.GetName())
	_, err = e.c.DeleteGroup(other.ctx, &directoryv1.DeleteGroupRequest{Name: g.GetName()}, e.svc)
	ppWant(t, err, codes.NotFound, "")
	_, err = e.c.DeleteGroup(p.ctx, &directoryv1.DeleteGroupRequest{Name: g.GetName(), Etag: g.GetEtag()}, e.svc)
	ppWant(t, err, codes.Aborted, "ETAG_MISMATCH")
	_, err = e.c.DeleteGroup(p.ctx, &directoryv1.DeleteGroupRequest{Name: g.GetName(), Etag: ren.GetEtag()}, e.svc)
	ppOK(t, "DeleteGroup", err)
	var types []string
	for _, ev := range e.eventsAfter(seq) {
		if ev.GetType() != domain.TypeUserCreated {
			types = append(types, ev.GetType())
		}
	}
	wantTypes := []string{domain.TypeGroupUpdated, domain.TypeGroupMemberAdded, domain.TypeGroupMemberAdded,
		domain.TypeGroupMemberRemoved, domain.TypeGroupMemberRemoved, domain.TypeGroupDeleted}
	if !slices.Equal(types, wantTypes) {
		t.Fatalf("events = %v, want %v", types, wantTypes)
	}
	lg, err := e.c.ListUserGroups(p.ctx, &directoryv1.ListUserGroupsRequest{User: u1.GetName()}, e.svc)
	ppOK(t, "ListUserGroups", err)
	if len(lg.GetMemberships()) != 1 || !lg.GetMemberships()[0].GetImplicit() {
		t.Fatalf("u1's groups after delete = %v", lg.GetMemberships())
	}
}

// R5: memberships; Everyone is implicit.
func TestGroupMembership(t *testing.T) {
	e := newEnv(t)
	p := newPeople(t, e)
	owner := p.su.GetOwner().GetName()
	p.group("crew")
	u := p.user("jill")
	v := p.user("kurt")
	seq := p.head()

	m := p.add("crew", u.GetName())
	if m.GetGroup() != p.groupName("crew") || m.GetMember() != u.GetName() || m.GetImplicit() || m.GetCreateTime() == nil {
		t.Fatalf("membership = %v", m)
	}
	// Adding again: same membership, no change, no event.
	m2 := p.add("crew", u.GetName())
	if !proto.Equal(m, m2) {
		t.Fatalf("re-add = %v, want %v", m2, m)
	}
	evs := e.eventsAfter(seq)
	if len(evs) != 1 || evs[0].GetType() != domain.TypeGroupMemberAdded || evs[0].GetResource() != p.groupName("crew") {
		t.Fatalf("events = %v", evs)
	}
	p.add("crew", v.GetName())
	p.add(domain.GroupAutomationDevelopers, u.GetName())

	everyone := p.groupName(domain.GroupEveryone)
	_, err := e.c.AddGroupMember(p.ctx, &directoryv1.AddGroupMemberRequest{Group: everyone, Member: u.GetName()}, e.svc)
	ppWant(t, err, codes.FailedPrecondition, "DEFAULT_GROUP_IMMUTABLE")
	_, err = e.c.RemoveGroupMember(p.ctx, &directoryv1.RemoveGroupMemberRequest{Group: everyone, Member: u.GetName()}, e.svc)
	ppWant(t, err, codes.FailedPrecondition, "DEFAULT_GROUP_IMMUTABLE")
	_, err = e.c.AddGroupMember(p.ctx, &directoryv1.AddGroupMemberRequest{Group: p.groupName("crew"), Member: p.org + "/users/nobody"}, e.svc)
	ppWant(t, err, codes.NotFound, "")
	_, err = e.c.AddGroupMember(p.ctx, &directoryv1.AddGroupMemberRequest{Group: p.groupName("nope"), Member: u.GetName()}, e.svc)
	ppWant(t, err, codes.NotFound, "")
	_, err = e.c.RemoveGroupMember(p.ctx, &directoryv1.RemoveGroupMemberRequest{Group: p.groupName(domain.GroupAutomationUsers), Member: u.GetName()}, e.svc)
	ppWant(t, err, codes.NotFound, "")
	// Cross-organization members and groups are NotFound.
	other := newPeople(t, e)
	_, err = e.c.AddGroupMember(p.ctx, &directoryv1.AddGroupMemberRequest{Group: p.groupName("crew"), Member: other.su.GetOwner().GetName()}, e.svc)
	ppWant(t, err, codes.NotFound, "")
	_, err = e.c.AddGroupMember(other.ctx, &directoryv1.AddGroupMemberRequest{Group: p.groupName("crew"), Member: u.GetName()}, e.svc)
	ppWant(t, err, codes.NotFound, "")
	_, err = e.c.ListGroupMembers(other.ctx, &directoryv1.ListGroupMembersRequest{Group: p.groupName("crew")}, e.svc)
	ppWant(t, err, codes.NotFound, "")
	_, err = e.c.ListUserGroups(other.ctx, &directoryv1.ListUserGroupsRequest{User: u.GetName()}, e.svc)
	ppWant(t, err, codes.NotFound, "")

	// ListGroupMembers: explicit members by name, paged.
	var members []string
	token := ""
	for {
		resp, err := e.c.ListGroupMembers(p.ctx, &directoryv1.ListGroupMembersRequest{Group: p.groupName("crew"), PageSize: 1, PageToken: token}, e.svc)
		ppOK(t, "ListGroupMembers", err)
		for _, m := range resp.GetMemberships() {
			if m.GetImplicit() || m.GetGroup() != p.groupName("crew") {
				t.Fatalf("membership = %v", m)
			}
			members = append(members, m.GetMember())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if !slices.Equal(members, []string{u.GetName(), v.GetName()}) {
		t.Fatalf("crew = %v", members)
	}
	// Everyone lists every user, implicitly.
	resp, err := e.c.ListGroupMembers(p.ctx, &directoryv1.ListGroupMembersRequest{Group: everyone}, e.svc)
	ppOK(t, "ListGroupMembers everyone", err)
	members = nil
	for _, m := range resp.GetMemberships() {
		if !m.GetImplicit() || m.GetCreateTime() != nil {
			t.Fatalf("everyone membership = %v", m)
		}
		members = append(members, m.GetMember())
	}
	if want := slices.Sorted(slices.Values([]string{owner, u.GetName(), v.GetName()})); !slices.Equal(members, want) {
		t.Fatalf("everyone = %v, want %v", members, want)
	}

	// ListUserGroups: explicit groups plus Everyone, by group name, paged.
	var groups []string
	var implicit []bool
	token = ""
	for {
		resp, err := e.c.ListUserGroups(e.as(u.GetName(), p.org), &directoryv1.ListUserGroupsRequest{User: u.GetName(), PageSize: 2, PageToken: token}, e.svc)
		ppOK(t, "ListUserGroups", err)
		for _, m := range resp.GetMemberships() {
			groups = append(groups, m.GetGroup())
			implicit = append(implicit, m.GetImplicit())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if want := []string{p.groupName(domain.GroupAutomationDevelopers), p.groupName("crew"), everyone}; !slices.Equal(groups, want) {
		t.Fatalf("jill's groups = %v, want %v", groups, want)
	}
	if !slices.Equal(implicit, []bool{false, false, true}) {
		t.Fatalf("implicit = %v", implicit)
	}
	lg, err := e.c.ListUserGroups(p.ctx, &directoryv1.ListUserGroupsRequest{User: owner}, e.svc)
	ppOK(t, "ListUserGroups owner", err)
	if len(lg.GetMemberships()) != 2 || lg.GetMemberships()[0].GetGroup() != p.groupName(domain.GroupAdministrators) || lg.GetSequence() == 0 {
		t.Fatalf("owner's groups = %v", lg)
	}

	// Remove: event, then gone.
	seq = p.head()
	_, err = e.c.RemoveGroupMember(p.ctx, &directoryv1.RemoveGroupMemberRequest{Group: p.groupName("crew"), Member: u.GetName()}, e.svc)
	ppOK(t, "RemoveGroupMember", err)
	evs = e.eventsAfter(seq)
	if len(evs) != 1 || evs[0].GetType() != domain.TypeGroupMemberRemoved || evs[0].GetResource() != p.groupName("crew") {
		t.Fatalf("events = %v", evs)
	}
	_, err = e.c.RemoveGroupMember(p.ctx, &directoryv1.RemoveGroupMemberRequest{Group: p.groupName("crew"), Member: u.GetName()}, e.svc)
	ppWant(t, err, codes.NotFound, "")
	if got := p.listUsers(&directoryv1.ListUsersRequest{Group: p.groupName("crew")}); !slices.Equal(got, []string{"kurt"}) {
		t.Fatalf("crew = %v", got)
	}
}

// TestIdempotencyRecordWithoutPassword (R10): the request_id records of
// SignUp and CreateUser keep a hash of the request without its password: a
// fast SHA-256 over the password would let anyone reading the store test
// guesses at full speed. The stored hash is that of the request with the
// password cleared, never that of the request with it (in the current or
// the former scheme), and the password itself appears nowhere in it.
func TestIdempotencyRecordWithoutPassword(t *testing.T) {
	e := newEnv(t)
	const password = "correct horse battery staple"
	n := orgCounter.Add(1)
	signUp := &directoryv1.SignUpRequest{
		OrganizationId: fmt.Sprintf("org%d", n), OrganizationDisplayName: "Hashes", Nickname: "owner",
		Email: fmt.Sprintf("owner@org%d.example", n), Password: password, RequestId: ppUUID(),
	}
	su, err := e.c.SignUp(context.Background(), signUp)
	ppOK(t, "SignUp", err)
	again, err := e.c.SignUp(context.Background(), signUp)
	ppOK(t, "SignUp replay", err)
	if !proto.Equal(su, again) {
		t.Fatalf("replay = %v, want %v", again, su)
	}
	createUser := &directoryv1.CreateUserRequest{Parent: su.GetOrganization().GetName(), RequestId: ppUUID(),
		User: &directoryv1.User{Nickname: "carol", Email: "carol@example.com"}, InitialPassword: password}
	_, err = e.c.CreateUser(e.asOwner(su), createUser, e.svc)
	ppOK(t, "CreateUser", err)

	for _, tc := range []struct {
		name      string
		requestID string
		withPW    proto.Message
		withoutPW proto.Message
	}{
		{"SignUp", signUp.GetRequestId(), signUp, func() proto.Message {
			c := proto.Clone(signUp).(*directoryv1.SignUpRequest)
			c.Password = ""
			return c
		}()},
		{"CreateUser", createUser.GetRequestId(), createUser, func() proto.Message {
			c := proto.Clone(createUser).(*directoryv1.CreateUserRequest)
			c.InitialPassword = ""
			return c
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stored []byte
			err := e.b.Store().View(context.Background(), func(tx store.ReadTx) error {
				return tx.Scan([]byte("i/"), nil, func(k, v []byte) (bool, error) {
					if strings.HasSuffix(string(k), "/"+tc.requestID) {
						stored = slices.Clone(v)
						return false, nil
					}
					return true, nil
				})
			})
			ppOK(t, "reading the store", err)
			var rec struct {
				Request string `json:"request"`
			}
			if err := json.Unmarshal(stored, &rec); err != nil || rec.Request == "" {
				t.Fatalf("no idempotency record for %s (%v): %q", tc.requestID, err, stored)
			}
			if strings.Contains(string(stored), password) {
				t.Fatal("the idempotency record holds the password")
			}
			withPW, err := records.RequestHash(tc.withPW)
			ppOK(t, "RequestHash", err)
			raw, err := store.Marshal(tc.withPW)
			ppOK(t, "Marshal", err)
			former := sha256.Sum256(raw)
			if rec.Request == withPW || rec.Request == hex.EncodeToString(former[:]) {
				t.Fatal("the idempotency record keeps a SHA-256 of the request with its password")
			}
			if want, _ := records.RequestHash(tc.withoutPW); rec.Request != want {
				t.Fatalf("stored hash %s, want that of the request without password %s", rec.Request, want)
			}
		})
	}
}

// TestDeleteAdministratorGroupRace (R4): with access management wired, the
// deletion still checks Administrators membership in its own transaction:
// access management, asked before it, may not yet know of a membership
// added a moment ago (here it says "no Administrator role" outright).
func TestDeleteAdministratorGroupRace(t *testing.T) {
	e := newEnvWith(t, domain.Options{AdministratorRoles: func(context.Context, string) ([]string, error) { return nil, nil }})
	p := newPeople(t, e)
	gus := p.user("gus")
	p.add(domain.GroupAdministrators, gus.GetName())
	_, err := e.c.DeleteUser(p.ctx, &directoryv1.DeleteUserRequest{Name: gus.GetName()}, e.svc)
	ppWant(t, err, codes.FailedPrecondition, "USER_HOLDS_ADMINISTRATOR_ROLE")
	_, err = e.c.RemoveGroupMember(p.ctx, &directoryv1.RemoveGroupMemberRequest{Group: p.groupName(domain.GroupAdministrators), Member: gus.GetName()}, e.svc)
	ppOK(t, "RemoveGroupMember", err)
	_, err = e.c.DeleteUser(p.ctx, &directoryv1.DeleteUserRequest{Name: gus.GetName()}, e.svc)
	ppOK(t, "DeleteUser once out of Administrators", err)
}
