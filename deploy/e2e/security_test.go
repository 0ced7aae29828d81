//go:build e2e

package e2e_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	licensingv1 "steward.dev/gen/steward/licensing/v1"
)

// securityTokenTTL is the token lifetime of the security suite's instance
// (directory -token-ttl): short, so that a token it issued at the start has
// expired by the time the expired-token attack runs, with no long wait.
const securityTokenTTL = 10 * time.Second

// callTimeout bounds each probing call.
const callTimeout = 5 * time.Second

// TestSecurity is issue 9's security suite against the real binaries:
//
//   - every method of every backend, enumerated through gRPC reflection, is
//     called with no credentials, an expired token, tokens signed by another
//     key, a revoked API key, a deleted user's token and garbage: none may
//     succeed, each must be Unauthenticated (or ResourceExhausted, a
//     throttled failed authentication);
//   - every method taking a resource name is called by another
//     organization's owner with the victim's names, and by a Tenant
//     Administrator of another tenant with the tenant's names: NotFound or
//     PermissionDenied, byte-identical (names substituted) to names that do
//     not exist, and no event log moves;
//   - every HTTP route of the gateway is called with
//     "Authorization: Service <name>:<the real secret>": no success.
//
// A method without a row in rpcCases fails the test.
func TestSecurity(t *testing.T) {
	t.Setenv("STEWARD_TOKEN_TTL", securityTokenTTL.String())
	s := launch(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	methods := s.servedMethods(ctx)
	covered := 0
	for backend, ms := range methods {
		for _, m := range ms {
			if _, ok := rpcCases[m]; !ok {
				t.Errorf("%s serves %s, which has no row in rpcCases (security_cases_test.go): add one", backend, m)
				continue
			}
			covered++
		}
	}
	served := map[string]bool{}
	total := 0
	for _, ms := range methods {
		total += len(ms)
		for _, m := range ms {
			served[m] = true
		}
	}
	for m := range rpcCases {
		if !served[m] && !strings.HasPrefix(m, "/grpc.") {
			t.Errorf("rpcCases has %s, which no backend serves: remove the row", m)
		}
	}
	t.Logf("security suite: %d methods (%d distinct) served by %d backends, %d covered by a case", total, len(served), len(methods), covered)

	attacker := s.signUpOrg(ctx, "secattacker")
	victim := s.signUpOrg(ctx, "secvictim")
	v := s.victimResources(ctx, victim)

	// Credentials whose attacks must fail; made now, used later.
	expired := s.signIn(ctx, victim.org, "vuser@secvictim.example", "vuser's long password")
	forgedKnownKid, forgedOtherKid := forge(t, victim.token, ""), forge(t, victim.token, "0123456789abcdef")
	revokedKey := s.revokedAPIKey(ctx, victim, v)
	deletedUserToken := s.deletedUserToken(ctx, victim)

	// Cross-organization and cross-tenant matrices, then the event logs.
	tenantAdminKey := s.tenantAdmin(ctx, victim, v)
	attacker.token = s.signIn(ctx, attacker.org, attacker.email, attacker.password)
	before := s.heads(ctx)
	t.Run("cross-organization", func(t *testing.T) {
		s.nameMatrix(ctx, t, methods, attacker.token, false, [][2]names{{v, v.absentIn()}, {v, v.withOrg("organizations/secabsent")}})
	})
	t.Run("cross-tenant", func(t *testing.T) {
		s.nameMatrix(ctx, t, methods, tenantAdminKey, true, [][2]names{{v, v.absentTenant()}})
	})
	// Refused calls are recorded (R27), and nothing else.
	if changes := s.changesSince(ctx, before); len(changes) > 0 {
		t.Errorf("the name matrices changed something: %q", changes)
	}

	// Credentials that must not authenticate, on every method.
	t.Run("credentials", func(t *testing.T) {
		creds := []struct{ name, auth string }{
			{"no credentials", ""},
			{"token signed by another key (the directory's kid)", "Bearer " + forgedKnownKid},
			{"token signed by another key (unknown kid)", "Bearer " + forgedOtherKid},
			{"revoked API key", "Bearer " + revokedKey},
			{"deleted user's token", "Bearer " + deletedUserToken},
			{"garbage bearer", "Bearer garbage"},
			{"garbage JWT", "Bearer eyJhbGciOiJub25lIn0.e30."},
			{"garbage scheme", "Basic c2VjOnNlYw=="},
			{"empty bearer", "Bearer "},
			{"expired token", "Bearer " + expired},
		}
		for _, c := range creds {
			if c.name == "expired token" {
				waitExpired(t, expired)
			}
			t.Run(c.name, func(t *testing.T) { s.credentialAttack(ctx, t, methods, c.auth, v) })
		}
	})

	// Last, as it may change the victim's data where the gateway lets the
	// Service scheme through.
	t.Run("gateway Service scheme", func(t *testing.T) { s.gatewayServiceScheme(t, methods, v) })
}

// servedMethods lists, through reflection, the full method names each
// backend serves.
func (s *suite) servedMethods(ctx context.Context) map[string][]string {
	s.t.Helper()
	out := make(map[string][]string)
	for _, b := range backends {
		conn := s.dial(b)
		for _, svc := range listServices(ctx, s.t, conn) {
			for _, m := range reflectMethods(ctx, s.t, conn, svc) {
				out[b] = append(out[b], "/"+svc+"/"+m)
			}
		}
		slices.Sort(out[b])
	}
	return out
}

// reflectMethods returns the method names of service svc as conn's
// reflection describes it.
func reflectMethods(ctx context.Context, t *testing.T, conn *grpc.ClientConn, svc string) []string {
	t.Helper()
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.CloseSend()
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: svc}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, raw := range resp.GetFileDescriptorResponse().GetFileDescriptorProto() {
		fd := &descriptorpb.FileDescriptorProto{}
		if err := proto.Unmarshal(raw, fd); err != nil {
			t.Fatal(err)
		}
		for _, sd := range fd.GetService() {
			if fd.GetPackage()+"."+sd.GetName() != svc {
				continue
			}
			for _, m := range sd.GetMethod() {
				names = append(names, m.GetName())
			}
		}
	}
	if len(names) == 0 {
		t.Fatalf("reflection describes no methods of %s", svc)
	}
	return names
}

// victimResources makes one resource of every kind in the victim
// organization and returns their names.
func (s *suite) victimResources(ctx context.Context, o orgOwner) names {
	t := s.t
	t.Helper()
	dir := directoryv1.NewDirectoryServiceClient(s.dial("directory"))
	acc := accessv1.NewAccessServiceClient(s.dial("access"))
	owner := withBearer(ctx, o.token)
	n := names{org: o.org}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("victim setup: %s: %v", what, err)
		}
	}
	tenant, err := dir.CreateTenant(owner, &directoryv1.CreateTenantRequest{Parent: o.org, TenantId: "vtenant", Tenant: &directoryv1.Tenant{DisplayName: "Victim tenant"}})
	must("tenant", err)
	n.tenant = tenant.GetName()
	svc, err := dir.CreateService(owner, &directoryv1.CreateServiceRequest{Parent: n.tenant, ServiceId: "vservice",
		Service: &directoryv1.Service{DisplayName: "Victim service", Type: "orchestrator"}})
	must("service", err)
	n.service = svc.GetName()
	folder, err := dir.CreateFolder(owner, &directoryv1.CreateFolderRequest{Parent: n.service, FolderId: "vfolder", Folder: &directoryv1.Folder{DisplayName: "Victim folder"}})
	must("folder", err)
	n.folder = folder.GetName()
	project, err := dir.CreateProject(owner, &directoryv1.CreateProjectRequest{Parent: n.service, ProjectId: "vproject", Project: &directoryv1.Project{DisplayName: "Victim project"}})
	must("project", err)
	n.project = project.GetName()
	dept, err := dir.CreateDepartment(owner, &directoryv1.CreateDepartmentRequest{Parent: o.org, DepartmentId: "vdept", Department: &directoryv1.Department{DisplayName: "Victim department"}})
	must("department", err)
	n.department = dept.GetName()
	user, err := dir.CreateUser(owner, &directoryv1.CreateUserRequest{Parent: o.org, UserId: "vuser",
		User: &directoryv1.User{Nickname: "vuser", Email: "vuser@secvictim.example"}, InitialPassword: "vuser's long password"})
	must("user", err)
	n.user = user.GetName()
	group, err := dir.CreateGroup(owner, &directoryv1.CreateGroupRequest{Parent: o.org, GroupId: "vgroup", Group: &directoryv1.Group{DisplayName: "Victim group"}})
	must("group", err)
	n.group = group.GetName()
	_, err = dir.AddGroupMember(owner, &directoryv1.AddGroupMemberRequest{Group: n.group, Member: n.user})
	must("membership", err)
	robot, err := dir.CreateRobot(owner, &directoryv1.CreateRobotRequest{Parent: o.org, RobotId: "vrobot", Robot: &directoryv1.Robot{DisplayName: "Victim robot", MachineName: "vhost"}})
	must("robot", err)
	n.robot = robot.GetName()
	ra, err := dir.CreateRobotAccount(owner, &directoryv1.CreateRobotAccountRequest{Parent: o.org, RobotAccountId: "vaccount",
		RobotAccount: &directoryv1.RobotAccount{DisplayName: "Victim account"}})
	must("robot account", err)
	n.robotAccount = ra.GetName()
	app, err := dir.CreateExternalApp(owner, &directoryv1.CreateExternalAppRequest{Parent: o.org, ExternalAppId: "vapp", ExternalApp: &directoryv1.ExternalApp{DisplayName: "Victim app"}})
	must("external app", err)
	n.externalApp = app.GetName()
	key, err := dir.CreateApiKey(owner, &directoryv1.CreateApiKeyRequest{Parent: n.robotAccount, ApiKey: &directoryv1.ApiKey{DisplayName: "victim key"}})
	must("API key", err)
	n.apiKey = key.GetApiKey().GetName()
	role, err := acc.CreateRole(owner, &accessv1.CreateRoleRequest{Parent: o.org, RoleId: "vrole",
		Role: &accessv1.Role{DisplayName: "Victim role", Level: accessv1.Level_LEVEL_ORGANIZATION, Permissions: []string{"users.view"}}})
	must("role", err)
	n.role = role.GetName()
	as, err := acc.CreateRoleAssignment(owner, &accessv1.CreateRoleAssignmentRequest{Parent: o.org, Principal: n.group, Roles: []string{n.role}, Scope: o.org})
	must("role assignment", err)
	n.roleAssignment = as.GetRoleAssignments()[0].GetName()
	// Licensing: the trial pool sign-up gave, a seat of it (assigning waits
	// for licensing to know the user), a request for more, a lease and an
	// execution lock.
	lic := licensingv1.NewLicensingServiceClient(s.dial("licensing"))
	n.licensePool = o.org + "/licensePools/trial-robot"
	seat, err := lic.AssignLicense(owner, &licensingv1.AssignLicenseRequest{Parent: o.org,
		LicenseAssignment: &licensingv1.LicenseAssignment{Pool: n.licensePool, Member: n.user}})
	must("license assignment", err)
	n.licenseAssignment = seat.GetName()
	lr, err := lic.CreateLicenseRequest(owner, &licensingv1.CreateLicenseRequestRequest{Parent: o.org,
		LicenseRequest: &licensingv1.LicenseRequest{Kind: licensingv1.LicenseRequest_KIND_ADD_SEATS, Pool: n.licensePool, Quantity: 3}})
	must("license request", err)
	n.licenseRequest = lr.GetName()
	// A client signed in with that seat, and a job under the user's lock.
	lease, err := lic.AcquireLease(owner, &licensingv1.AcquireLeaseRequest{Parent: o.org, Principal: n.user,
		Client: licensingv1.Product_PRODUCT_ROBOT, Machine: "vhost"})
	must("lease", err)
	n.lease = lease.GetLease().GetName()
	exec, err := lic.AcquireExecution(owner, &licensingv1.AcquireExecutionRequest{Parent: o.org, User: n.user, Job: "victim job"})
	must("execution", err)
	n.execution = exec.GetName()
	// The organization's first audit event (its sign-up): audit records
	// it once it has caught up with the directory.
	n.auditEvent = o.org + "/auditEvents/0"
	return n
}

// revokedAPIKey makes an API key for the victim's robot account, uses it
// once at access (so any cache there knows it), revokes it and returns it.
func (s *suite) revokedAPIKey(ctx context.Context, o orgOwner, v names) string {
	s.t.Helper()
	dir := directoryv1.NewDirectoryServiceClient(s.dial("directory"))
	key, err := dir.CreateApiKey(withBearer(ctx, o.token), &directoryv1.CreateApiKeyRequest{Parent: v.robotAccount, ApiKey: &directoryv1.ApiKey{DisplayName: "revoked"}})
	if err != nil {
		s.t.Fatal(err)
	}
	s.warmUp(ctx, key.GetSecret())
	if _, err := dir.RevokeApiKey(withBearer(ctx, o.token), &directoryv1.RevokeApiKeyRequest{Name: key.GetApiKey().GetName()}); err != nil {
		s.t.Fatal(err)
	}
	return key.GetSecret()
}

// deletedUserToken makes a user in the victim organization, signs them in,
// uses the token once at access, deletes the user and returns the token.
func (s *suite) deletedUserToken(ctx context.Context, o orgOwner) string {
	s.t.Helper()
	dir := directoryv1.NewDirectoryServiceClient(s.dial("directory"))
	u, err := dir.CreateUser(withBearer(ctx, o.token), &directoryv1.CreateUserRequest{Parent: o.org, UserId: "vgone",
		User: &directoryv1.User{Nickname: "vgone", Email: "vgone@secvictim.example"}, InitialPassword: "vgone's long password"})
	if err != nil {
		s.t.Fatal(err)
	}
	s.awaitAllowed(ctx, u.GetName(), "users.view", o.org)
	tok := s.signIn(ctx, o.org, "vgone@secvictim.example", "vgone's long password")
	s.warmUp(ctx, tok)
	if _, err := dir.DeleteUser(withBearer(ctx, o.token), &directoryv1.DeleteUserRequest{Name: u.GetName()}); err != nil {
		s.t.Fatal(err)
	}
	return tok
}

// warmUp calls access and the directory once with bearer credential cred,
// which must authenticate: caches of verified credentials then hold it.
func (s *suite) warmUp(ctx context.Context, cred string) {
	s.t.Helper()
	_, err := accessv1.NewAccessServiceClient(s.dial("access")).ListPermissions(withBearer(ctx, cred), &accessv1.ListPermissionsRequest{})
	if status.Code(err) == codes.Unauthenticated {
		s.t.Fatalf("warming up a credential at access: %v", err)
	}
}

// tenantAdmin makes an external app of the victim organization that is
// Tenant Administrator of a second tenant, not of v.tenant, and returns an
// API key of it. An app is no member of Everyone, so it holds nothing at
// the organization (users are all members, and Everyone's User role lets
// them view every service).
func (s *suite) tenantAdmin(ctx context.Context, o orgOwner, v names) string {
	s.t.Helper()
	dir := directoryv1.NewDirectoryServiceClient(s.dial("directory"))
	acc := accessv1.NewAccessServiceClient(s.dial("access"))
	owner := withBearer(ctx, o.token)
	other, err := dir.CreateTenant(owner, &directoryv1.CreateTenantRequest{Parent: o.org, TenantId: "vother", Tenant: &directoryv1.Tenant{DisplayName: "Other tenant"}})
	if err != nil {
		s.t.Fatal(err)
	}
	app, err := dir.CreateExternalApp(owner, &directoryv1.CreateExternalAppRequest{Parent: o.org, ExternalAppId: "vtadmin",
		ExternalApp: &directoryv1.ExternalApp{DisplayName: "Other tenant's administrator"}})
	if err != nil {
		s.t.Fatal(err)
	}
	if _, err := acc.CreateRoleAssignment(owner, &accessv1.CreateRoleAssignmentRequest{Parent: o.org, Principal: app.GetName(),
		Roles: []string{"roles/tenant-administrator"}, Scope: other.GetName()}); err != nil {
		s.t.Fatalf("Tenant Administrator of %s: %v", other.GetName(), err)
	}
	key, err := dir.CreateApiKey(owner, &directoryv1.CreateApiKeyRequest{Parent: app.GetName(), ApiKey: &directoryv1.ApiKey{DisplayName: "tenant admin"}})
	if err != nil {
		s.t.Fatal(err)
	}
	s.awaitAllowed(ctx, app.GetName(), "orchestrator.folders.view", other.GetName())
	return key.GetSecret()
}

// heads returns the event-log head of every backend that keeps one, once
// access has applied the directory's log up to its head (access's own log
// moves in reaction to the directory's).
func (s *suite) heads(ctx context.Context) map[string]uint64 {
	s.t.Helper()
	svc := s.asService(ctx, "audit") // audit reads every event log and checks permissions
	head := func(b string) uint64 {
		resp, err := eventlogv1.NewEventLogServiceClient(s.dial(b)).ListEvents(svc, &eventlogv1.ListEventsRequest{PageSize: 1})
		if err != nil {
			s.t.Fatalf("%s ListEvents: %v", b, err)
		}
		return resp.GetHeadSequence()
	}
	dir := head("directory")
	if _, err := accessv1.NewAccessServiceClient(s.dial("access")).CheckPermission(svc, &accessv1.CheckPermissionRequest{
		Principal: "organizations/secvictim/users/vuser", Permission: "users.view", Scope: "organizations/secvictim", AtLeastDirectorySequence: dir,
	}); err != nil {
		s.t.Fatalf("waiting for access to apply directory sequence %d: %v", dir, err)
	}
	out := map[string]uint64{}
	for _, b := range withEventLog {
		out[b] = head(b)
	}
	return out
}

// changesSince returns, as "<backend>: <type> <resource>", the events of
// every backend that keeps an event log after its head in before (see
// heads), but the records of refused calls, "<backend>.call.refused"
// (R27), once access has applied the directory's log up to its head.
func (s *suite) changesSince(ctx context.Context, before map[string]uint64) []string {
	s.t.Helper()
	s.heads(ctx) // access has caught up with the directory
	svc := s.asService(ctx, "audit")
	var out []string
	for _, b := range withEventLog {
		logs := eventlogv1.NewEventLogServiceClient(s.dial(b))
		req := &eventlogv1.ListEventsRequest{AfterSequence: before[b], PageSize: 1000}
		for {
			resp, err := logs.ListEvents(svc, req)
			if err != nil {
				s.t.Fatalf("%s ListEvents: %v", b, err)
			}
			for _, ev := range resp.GetEvents() {
				if ev.GetType() != b+".call.refused" {
					out = append(out, b+": "+ev.GetType()+" "+ev.GetResource())
				}
			}
			if req.PageToken = resp.GetNextPageToken(); req.PageToken == "" {
				break
			}
		}
	}
	return out
}

// call invokes full method m on conn with req and returns the response
// (the first message of a streaming one) and the error.
func call(ctx context.Context, conn *grpc.ClientConn, m string, req proto.Message) (proto.Message, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	md := localMethod(m)
	if md == nil {
		return nil, fmt.Errorf("no local descriptor of %s", m)
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(md.Output().FullName())
	if err != nil {
		return nil, err
	}
	out := mt.New().Interface()
	if !md.IsStreamingClient() && !md.IsStreamingServer() {
		return out, conn.Invoke(ctx, m, req, out)
	}
	st, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: md.IsStreamingServer(), ClientStreams: md.IsStreamingClient()}, m)
	if err != nil {
		return nil, err
	}
	if err := st.SendMsg(req); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if err := st.CloseSend(); err != nil {
		return nil, err
	}
	err = st.RecvMsg(out)
	if errors.Is(err, io.EOF) {
		return out, nil // an empty stream is a success too
	}
	return out, err
}

// localMethod returns the descriptor of full method name m ("/pkg.Svc/M").
func localMethod(m string) protoreflect.MethodDescriptor {
	name := strings.Replace(strings.TrimPrefix(m, "/"), "/", ".", 1)
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
	if err != nil {
		return nil
	}
	md, _ := d.(protoreflect.MethodDescriptor)
	return md
}

// credentialAttack calls every non-public method of every backend with
// Authorization auth ("" for none): each must be refused as
// Unauthenticated (ResourceExhausted: throttled).
func (s *suite) credentialAttack(ctx context.Context, t *testing.T, methods map[string][]string, auth string, v names) {
	if auth != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", auth)
	}
	calls, successes := 0, 0
	var wrong []string
	for _, b := range backends {
		conn := s.dial(b)
		for _, m := range methods[b] {
			c, ok := rpcCases[m]
			if !ok || c.who == public {
				continue
			}
			calls++
			_, err := call(ctx, conn, m, c.req(v))
			switch status.Code(err) {
			case codes.Unauthenticated, codes.ResourceExhausted:
			case codes.OK:
				successes++
				wrong = append(wrong, fmt.Sprintf("%s %s: SUCCEEDED", b, m))
			default:
				wrong = append(wrong, fmt.Sprintf("%s %s: %v", b, m, err))
			}
		}
	}
	t.Logf("%d calls, %d successes, %d not refused as Unauthenticated", calls, successes, len(wrong))
	if len(wrong) > 0 {
		t.Errorf("%d of %d calls were not refused as Unauthenticated (%d succeeded):\n  %s", len(wrong), calls, successes, strings.Join(wrong, "\n  "))
	}
}

// nameMatrix calls, with bearer credential cred, every non-public method
// whose request holds a resource name, once per pair of names: the first
// existing, the second not. Both answers must be NotFound or
// PermissionDenied (InvalidArgument for selfOnly methods) and
// byte-identical once each name is replaced by its role. With sameOrg (the
// names are of the caller's organization), member methods may answer, as
// long as both answers are alike.
func (s *suite) nameMatrix(ctx context.Context, t *testing.T, methods map[string][]string, cred string, sameOrg bool, pairs [][2]names) {
	ctx = withBearer(ctx, cred)
	calls := 0
	var wrong []string
	for _, b := range backends {
		conn := s.dial(b)
		for _, m := range methods[b] {
			c, ok := rpcCases[m]
			if !ok || c.who == public {
				continue
			}
			for _, p := range pairs {
				real, absent := c.req(p[0]), c.req(p[1])
				if proto.Equal(real, absent) {
					continue // takes no name that differs
				}
				calls++
				respReal, errReal := call(ctx, conn, m, real)
				respAbsent, errAbsent := call(ctx, conn, m, absent)
				code := status.Code(errReal)
				switch {
				case code == codes.OK && c.member && sameOrg:
					if errAbsent != nil {
						wrong = append(wrong, fmt.Sprintf("%s answers existing names but not absent ones: %v", m, errAbsent))
					} else if a, b := canonicalMessage(respReal, p[0]), canonicalMessage(respAbsent, p[1]); a != b {
						wrong = append(wrong, fmt.Sprintf("%s: existing and absent names answer differently:\n      existing %s\n      absent   %s", m, a, b))
					}
					continue
				case code == codes.NotFound, code == codes.PermissionDenied, code == codes.InvalidArgument && c.selfOnly:
				default:
					wrong = append(wrong, fmt.Sprintf("%s with existing names: %v, want NotFound or PermissionDenied", m, errReal))
					continue
				}
				if a, b := canonicalStatus(errReal, p[0]), canonicalStatus(errAbsent, p[1]); a != b {
					wrong = append(wrong, fmt.Sprintf("%s: existing and absent names answer differently:\n      existing %s\n      absent   %s", m, a, b))
				}
			}
		}
	}
	t.Logf("%d name comparisons", calls)
	if len(wrong) > 0 {
		t.Errorf("%d of %d comparisons failed:\n  %s", len(wrong), calls, strings.Join(wrong, "\n  "))
	}
}

// canonicalStatus is the status of err (code, message, details) as JSON
// with sorted keys and every name of n replaced by its placeholder.
func canonicalStatus(err error, n names) string {
	return canonicalMessage(status.Convert(err).Proto(), n)
}

// canonicalMessage is m as JSON with sorted keys, without the event-log
// sequences a response reflects, and every name of n replaced by its
// placeholder.
func canonicalMessage(m proto.Message, n names) string {
	b, err := protojson.Marshal(m)
	if err != nil {
		return "unmarshalable: " + err.Error()
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return "bad JSON: " + err.Error()
	}
	dropSequences(v)
	b, _ = json.Marshal(v)
	out := string(b)
	for _, p := range n.all() {
		if p[0] != "" {
			out = strings.ReplaceAll(out, p[0], p[1])
		}
	}
	return out
}

// dropSequences deletes the sequence and directorySequence members of
// every object in v: they move with every change anywhere.
func dropSequences(v any) {
	switch x := v.(type) {
	case map[string]any:
		delete(x, "sequence")
		delete(x, "directorySequence")
		for _, e := range x {
			dropSequences(e)
		}
	case []any:
		for _, e := range x {
			dropSequences(e)
		}
	}
}

// gatewayServiceScheme sends every HTTP route of every non-public method
// through the gateway with "Authorization: Service <name>:<real secret>":
// none may succeed.
func (s *suite) gatewayServiceScheme(t *testing.T, methods map[string][]string, v names) {
	routes, successes := 0, 0
	var wrong []string
	for _, b := range backends {
		for _, m := range methods[b] {
			c, ok := rpcCases[m]
			if !ok || c.who == public {
				continue
			}
			md := localMethod(m)
			if md == nil {
				continue
			}
			rule, _ := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule)
			if rule == nil {
				continue // not reachable through the gateway
			}
			for _, r := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
				method, path, body := httpRequest(t, r, c.req(v))
				// Each service with its own real secret, and a made-up name
				// with the gateway's.
				secrets := map[string]string{"cli": s.serviceSecret("gateway"), "gateway": s.serviceSecret("gateway"), b: s.serviceSecret(b)}
				for _, name := range []string{"cli", "gateway", b} {
					secret := secrets[name]
					routes++
					res := s.httpCall(method, path, body, "Service "+name+":"+secret)
					if res.code >= 200 && res.code < 300 {
						successes++
					}
					if res.code != http.StatusUnauthorized && res.code != http.StatusForbidden {
						wrong = append(wrong, fmt.Sprintf("%s %s as Service %s: HTTP %d %.200s", method, path, name, res.code, res.body))
					}
				}
			}
		}
	}
	t.Logf("%d gateway calls with the Service scheme, %d successes", routes, successes)
	if len(wrong) > 0 {
		t.Errorf("%d of %d gateway calls with the Service scheme were not refused with 401/403 (%d succeeded):\n  %s",
			len(wrong), routes, successes, strings.Join(wrong, "\n  "))
	}
}

// pathVar matches a variable of an HTTP path template.
var pathVar = regexp.MustCompile(`\{([a-z_.]+)(=[^}]*)?\}`)

// httpRequest returns the HTTP method, path and JSON body (nil for none)
// that rule maps req to.
func httpRequest(t *testing.T, rule *annotations.HttpRule, req proto.Message) (method, path string, body any) {
	t.Helper()
	var tmpl string
	switch p := rule.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		method, tmpl = http.MethodGet, p.Get
	case *annotations.HttpRule_Post:
		method, tmpl = http.MethodPost, p.Post
	case *annotations.HttpRule_Put:
		method, tmpl = http.MethodPut, p.Put
	case *annotations.HttpRule_Patch:
		method, tmpl = http.MethodPatch, p.Patch
	case *annotations.HttpRule_Delete:
		method, tmpl = http.MethodDelete, p.Delete
	default:
		t.Fatalf("unsupported HTTP rule %v", rule)
	}
	path = pathVar.ReplaceAllStringFunc(tmpl, func(v string) string {
		field := pathVar.FindStringSubmatch(v)[1]
		if s := fieldString(req.ProtoReflect(), field); s != "" {
			return s
		}
		return "probe"
	})
	switch rule.GetBody() {
	case "":
	case "*":
		body = jsonOf(t, req)
	default:
		fd := req.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(rule.GetBody()))
		if fd != nil && fd.Message() != nil {
			body = jsonOf(t, req.ProtoReflect().Get(fd).Message().Interface())
		}
	}
	return method, path, body
}

// fieldString returns the string at dotted field path of m, "" if none.
func fieldString(m protoreflect.Message, path string) string {
	parts := strings.Split(path, ".")
	for i, p := range parts {
		fd := m.Descriptor().Fields().ByName(protoreflect.Name(p))
		if fd == nil {
			return ""
		}
		if i == len(parts)-1 {
			if fd.Kind() == protoreflect.StringKind && !fd.IsList() {
				return m.Get(fd).String()
			}
			return ""
		}
		if fd.Message() == nil {
			return ""
		}
		m = m.Get(fd).Message()
	}
	return ""
}

// jsonOf returns m in the gateway's JSON form, decoded for re-encoding.
func jsonOf(t *testing.T, m proto.Message) any {
	t.Helper()
	b, err := protojson.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// forge returns token tok's header and claims signed by a new Ed25519 key,
// with key ID kid ("" keeps tok's, the directory's own).
func forge(t *testing.T, tok, kid string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	if kid == "" {
		var header struct {
			Kid string `json:"kid"`
		}
		decodeSegment(t, parts[0], &header)
		kid = header.Kid
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: priv, KeyID: kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitExpired waits until token tok's exp claim has passed (the expiry gets
// no leeway): at most securityTokenTTL from when it was issued.
func waitExpired(t *testing.T, tok string) {
	t.Helper()
	parts := strings.Split(tok, ".")
	var claims struct {
		Exp int64 `json:"exp"`
	}
	decodeSegment(t, parts[1], &claims)
	exp := time.Unix(claims.Exp, 0)
	if exp.Sub(time.Now()) > securityTokenTTL {
		t.Fatalf("token expires at %v, later than the suite's token lifetime allows", exp)
	}
	if d := time.Until(exp); d > 0 {
		t.Logf("waiting %v for the token to expire", d.Round(time.Millisecond))
		time.Sleep(d + 10*time.Millisecond)
	}
}

func decodeSegment(t *testing.T, seg string, v any) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
