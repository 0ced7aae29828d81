//go:build e2e

package e2e_test

// The security suite's table: every RPC of every backend, how to build a
// realistic request for it from a set of resource names, and who may call
// it. TestSecurity fails for any method a backend serves (found through
// reflection) that has no row here, so a new RPC cannot slip past the suite.

import (
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	accessv1 "steward.dev/gen/steward/access/v1"
	auditv1 "steward.dev/gen/steward/audit/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	licensingv1 "steward.dev/gen/steward/licensing/v1"
)

// Who may call a method.
const (
	// authenticated methods need a principal, and most a permission.
	authenticated = iota
	// public methods need no credential (sign-up, sign-in, the JWKS,
	// health, reflection); the credential attacks skip them.
	public
	// internal methods are for Steward services only.
	internal
)

// names are the resource names a request is built from: those of the victim
// organization, or names of the same shape that do not exist.
type names struct {
	org, tenant, service, folder, project, department, user, group, robot,
	robotAccount, externalApp, apiKey, role, roleAssignment string
	// Licensing's: a pool, a license request, a license assignment, a
	// lease and an execution.
	licensePool, licenseRequest, licenseAssignment, lease, execution string
	// Audit's: an event of the organization's audit log.
	auditEvent string
}

// all returns the names with placeholders for comparing answers: each
// name's field, longest names first (they nest).
func (n names) all() [][2]string {
	out := [][2]string{
		{n.apiKey, "<apiKey>"}, {n.folder, "<folder>"}, {n.project, "<project>"}, {n.service, "<service>"},
		{n.tenant, "<tenant>"}, {n.department, "<department>"}, {n.user, "<user>"}, {n.group, "<group>"},
		{n.robotAccount, "<robotAccount>"}, {n.robot, "<robot>"}, {n.externalApp, "<externalApp>"},
		{n.role, "<role>"}, {n.roleAssignment, "<roleAssignment>"}, {n.licensePool, "<licensePool>"},
		{n.licenseRequest, "<licenseRequest>"}, {n.licenseAssignment, "<licenseAssignment>"}, {n.lease, "<lease>"},
		{n.execution, "<execution>"}, {n.auditEvent, "<auditEvent>"}, {n.org, "<org>"},
	}
	// Longest first, so that a name is replaced before its parent.
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if len(out[j][0]) > len(out[i][0]) {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// withOrg returns n moved to organization org (names of an organization
// that does not exist, when org does not).
func (n names) withOrg(org string) names {
	r := strings.NewReplacer(n.org+"/", org+"/")
	m := names{org: org}
	m.tenant, m.service, m.folder, m.project = r.Replace(n.tenant), r.Replace(n.service), r.Replace(n.folder), r.Replace(n.project)
	m.department, m.user, m.group, m.robot = r.Replace(n.department), r.Replace(n.user), r.Replace(n.group), r.Replace(n.robot)
	m.robotAccount, m.externalApp, m.apiKey = r.Replace(n.robotAccount), r.Replace(n.externalApp), r.Replace(n.apiKey)
	m.role, m.roleAssignment = r.Replace(n.role), r.Replace(n.roleAssignment)
	m.licensePool, m.licenseRequest, m.licenseAssignment = r.Replace(n.licensePool), r.Replace(n.licenseRequest), r.Replace(n.licenseAssignment)
	m.lease, m.execution = r.Replace(n.lease), r.Replace(n.execution)
	m.auditEvent = r.Replace(n.auditEvent)
	return m
}

// absentIn returns names of the same shape as n in n's organization, none
// of which exists.
func (n names) absentIn() names {
	o := n.org
	t := o + "/tenants/absent-tenant"
	s := t + "/services/absent-service"
	ra := o + "/robotAccounts/absent-account"
	return names{
		org: o, tenant: t, service: s, folder: s + "/folders/absent-folder", project: s + "/projects/absent-project",
		department: o + "/departments/absent-dept", user: o + "/users/absent-user", group: o + "/groups/absent-group",
		robot: o + "/robots/absent-robot", robotAccount: ra, externalApp: o + "/externalApps/absent-app",
		apiKey: ra + "/apiKeys/absent-key", role: o + "/roles/absent-role", roleAssignment: o + "/roleAssignments/absent-assignment",
		licensePool: o + "/licensePools/absent-pool", licenseRequest: o + "/licenseRequests/absent-request",
		licenseAssignment: o + "/licenseAssignments/absent-assignment", lease: o + "/leases/absent-lease", execution: o + "/executions/absent-execution",
		auditEvent: o + "/auditEvents/9999999999",
	}
}

// absentTenant returns n with the tenant subtree (tenant, service, folder,
// project) replaced by names that do not exist under n's tenant.
func (n names) absentTenant() names {
	m := n
	m.service = n.tenant + "/services/absent-service"
	m.folder, m.project = m.service+"/folders/absent-folder", m.service+"/projects/absent-project"
	return m
}

// rpcCase is how the suite calls one method.
type rpcCase struct {
	who int
	// selfOnly methods take the caller's own name and refuse any other
	// with InvalidArgument, whether it exists or not; the name matrices
	// accept that answer (it must still be identical).
	selfOnly bool
	// member methods answer any principal of the organization (a
	// permission check is a question, not an access): for names of its
	// own organization the name matrices ask only that existing and absent
	// names get the same answer.
	member bool
	// req builds the request from names; nil for public methods, which
	// the suite does not call.
	req func(n names) proto.Message
}

func mask(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }

// rpcCases holds one row per method, by full method name.
var rpcCases = map[string]rpcCase{
	// Standard services every backend serves.
	"/grpc.health.v1.Health/Check":                                   {who: public},
	"/grpc.health.v1.Health/Watch":                                   {who: public},
	"/grpc.health.v1.Health/List":                                    {who: public},
	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      {who: public},
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": {who: public},

	// The event log (directory, access, licensing).
	"/steward.eventlog.v1.EventLogService/Watch": {who: internal, req: func(names) proto.Message { return &eventlogv1.WatchRequest{} }},
	"/steward.eventlog.v1.EventLogService/ListEvents": {who: internal, req: func(names) proto.Message {
		return &eventlogv1.ListEventsRequest{PageSize: 10}
	}},
	"/steward.eventlog.v1.EventLogService/AcknowledgeEvents": {who: internal, req: func(names) proto.Message {
		return &eventlogv1.AcknowledgeEventsRequest{Consumer: "audit-directory", LogId: "0123456789abcdef", Sequence: 1}
	}},

	// The directory.
	"/steward.directory.v1.DirectoryService/SignUp":           {who: public},
	"/steward.directory.v1.DirectoryService/SignIn":           {who: public},
	"/steward.directory.v1.DirectoryService/GetJwks":          {who: public},
	"/steward.directory.v1.DirectoryService/GetSignInOptions": {who: public},
	"/steward.directory.v1.DirectoryService/ExportSnapshot": {who: internal, req: func(names) proto.Message {
		return &directoryv1.ExportSnapshotRequest{}
	}},
	"/steward.directory.v1.DirectoryService/RotateSigningKeys": {who: internal, req: func(names) proto.Message {
		return &directoryv1.RotateSigningKeysRequest{}
	}},
	"/steward.directory.v1.DirectoryService/VerifyCredential": {who: internal, req: func(names) proto.Message {
		return &directoryv1.VerifyCredentialRequest{Credential: &directoryv1.VerifyCredentialRequest_AccessToken{AccessToken: "a.b.c"}}
	}},
	"/steward.directory.v1.DirectoryService/GetOrganization": {req: func(n names) proto.Message { return &directoryv1.GetOrganizationRequest{Name: n.org} }},
	"/steward.directory.v1.DirectoryService/GetAccountSystem": {req: func(n names) proto.Message {
		return &directoryv1.GetAccountSystemRequest{Name: n.org + "/accountSystem"}
	}},
	"/steward.directory.v1.DirectoryService/SwitchAccountSystem": {req: func(n names) proto.Message {
		return &directoryv1.SwitchAccountSystemRequest{Name: n.org + "/accountSystem", Confirm: true, Etag: "probe-etag",
			AccountSystem: &directoryv1.AccountSystem{Kind: directoryv1.AccountSystem_KIND_OIDC,
				Oidc: &directoryv1.OidcConfig{Issuer: "https://idp.invalid", ClientId: "steward"}}}
	}},
	"/steward.directory.v1.DirectoryService/GetTenant": {req: func(n names) proto.Message { return &directoryv1.GetTenantRequest{Name: n.tenant} }},
	"/steward.directory.v1.DirectoryService/UpdateTenant": {req: func(n names) proto.Message {
		return &directoryv1.UpdateTenantRequest{Tenant: &directoryv1.Tenant{Name: n.tenant, DisplayName: "Probed"}, UpdateMask: mask("display_name")}
	}},
	"/steward.directory.v1.DirectoryService/DeleteTenant": {req: func(n names) proto.Message {
		return &directoryv1.DeleteTenantRequest{Name: n.tenant, Force: true}
	}},
	"/steward.directory.v1.DirectoryService/ListTenants": {req: func(n names) proto.Message { return &directoryv1.ListTenantsRequest{Parent: n.org} }},
	"/steward.directory.v1.DirectoryService/CreateTenant": {req: func(n names) proto.Message {
		return &directoryv1.CreateTenantRequest{Parent: n.org, TenantId: "probe", Tenant: &directoryv1.Tenant{DisplayName: "Probe"}}
	}},
	"/steward.directory.v1.DirectoryService/GetService": {req: func(n names) proto.Message { return &directoryv1.GetServiceRequest{Name: n.service} }},
	"/steward.directory.v1.DirectoryService/UpdateService": {req: func(n names) proto.Message {
		return &directoryv1.UpdateServiceRequest{Service: &directoryv1.Service{Name: n.service, DisplayName: "Probed"}, UpdateMask: mask("display_name")}
	}},
	"/steward.directory.v1.DirectoryService/DeleteService": {req: func(n names) proto.Message {
		return &directoryv1.DeleteServiceRequest{Name: n.service, Force: true}
	}},
	"/steward.directory.v1.DirectoryService/ListServices": {req: func(n names) proto.Message { return &directoryv1.ListServicesRequest{Parent: n.tenant} }},
	"/steward.directory.v1.DirectoryService/CreateService": {req: func(n names) proto.Message {
		return &directoryv1.CreateServiceRequest{Parent: n.tenant, ServiceId: "probe", Service: &directoryv1.Service{DisplayName: "Probe", Type: "orchestrator"}}
	}},
	"/steward.directory.v1.DirectoryService/GetFolder": {req: func(n names) proto.Message { return &directoryv1.GetFolderRequest{Name: n.folder} }},
	"/steward.directory.v1.DirectoryService/UpdateFolder": {req: func(n names) proto.Message {
		return &directoryv1.UpdateFolderRequest{Folder: &directoryv1.Folder{Name: n.folder, DisplayName: "Probed"}, UpdateMask: mask("display_name")}
	}},
	"/steward.directory.v1.DirectoryService/DeleteFolder": {req: func(n names) proto.Message {
		return &directoryv1.DeleteFolderRequest{Name: n.folder, Force: true}
	}},
	"/steward.directory.v1.DirectoryService/ListFolders": {req: func(n names) proto.Message { return &directoryv1.ListFoldersRequest{Parent: n.service} }},
	"/steward.directory.v1.DirectoryService/CreateFolder": {req: func(n names) proto.Message {
		return &directoryv1.CreateFolderRequest{Parent: n.service, FolderId: "probe", Folder: &directoryv1.Folder{DisplayName: "Probe"}}
	}},
	"/steward.directory.v1.DirectoryService/GetProject": {req: func(n names) proto.Message { return &directoryv1.GetProjectRequest{Name: n.project} }},
	"/steward.directory.v1.DirectoryService/UpdateProject": {req: func(n names) proto.Message {
		return &directoryv1.UpdateProjectRequest{Project: &directoryv1.Project{Name: n.project, DisplayName: "Probed"}, UpdateMask: mask("display_name")}
	}},
	"/steward.directory.v1.DirectoryService/DeleteProject": {req: func(n names) proto.Message { return &directoryv1.DeleteProjectRequest{Name: n.project} }},
	"/steward.directory.v1.DirectoryService/ListProjects":  {req: func(n names) proto.Message { return &directoryv1.ListProjectsRequest{Parent: n.service} }},
	"/steward.directory.v1.DirectoryService/CreateProject": {req: func(n names) proto.Message {
		return &directoryv1.CreateProjectRequest{Parent: n.service, ProjectId: "probe", Project: &directoryv1.Project{DisplayName: "Probe"}}
	}},
	"/steward.directory.v1.DirectoryService/GetDepartment": {req: func(n names) proto.Message { return &directoryv1.GetDepartmentRequest{Name: n.department} }},
	"/steward.directory.v1.DirectoryService/UpdateDepartment": {req: func(n names) proto.Message {
		return &directoryv1.UpdateDepartmentRequest{Department: &directoryv1.Department{Name: n.department, DisplayName: "Probed"}, UpdateMask: mask("display_name")}
	}},
	"/steward.directory.v1.DirectoryService/DeleteDepartment": {req: func(n names) proto.Message {
		return &directoryv1.DeleteDepartmentRequest{Name: n.department}
	}},
	"/steward.directory.v1.DirectoryService/ListDepartments": {req: func(n names) proto.Message { return &directoryv1.ListDepartmentsRequest{Parent: n.org} }},
	"/steward.directory.v1.DirectoryService/CreateDepartment": {req: func(n names) proto.Message {
		return &directoryv1.CreateDepartmentRequest{Parent: n.org, DepartmentId: "probe", Department: &directoryv1.Department{DisplayName: "Probe"}}
	}},
	"/steward.directory.v1.DirectoryService/GetUser": {req: func(n names) proto.Message { return &directoryv1.GetUserRequest{Name: n.user} }},
	"/steward.directory.v1.DirectoryService/UpdateUser": {req: func(n names) proto.Message {
		return &directoryv1.UpdateUserRequest{User: &directoryv1.User{Name: n.user, DisplayName: "Probed"}, UpdateMask: mask("display_name")}
	}},
	"/steward.directory.v1.DirectoryService/DeleteUser": {req: func(n names) proto.Message { return &directoryv1.DeleteUserRequest{Name: n.user} }},
	"/steward.directory.v1.DirectoryService/ListUsers":  {req: func(n names) proto.Message { return &directoryv1.ListUsersRequest{Parent: n.org} }},
	"/steward.directory.v1.DirectoryService/CreateUser": {req: func(n names) proto.Message {
		return &directoryv1.CreateUserRequest{Parent: n.org, UserId: "probe", User: &directoryv1.User{Nickname: "probe", Email: "probe@probe.example"}}
	}},
	"/steward.directory.v1.DirectoryService/ActivateUser":   {req: func(n names) proto.Message { return &directoryv1.ActivateUserRequest{Name: n.user} }},
	"/steward.directory.v1.DirectoryService/DeactivateUser": {req: func(n names) proto.Message { return &directoryv1.DeactivateUserRequest{Name: n.user} }},
	"/steward.directory.v1.DirectoryService/MoveUser": {req: func(n names) proto.Message {
		return &directoryv1.MoveUserRequest{Name: n.user, Department: n.department}
	}},
	"/steward.directory.v1.DirectoryService/GetGroup": {req: func(n names) proto.Message { return &directoryv1.GetGroupRequest{Name: n.group} }},
	"/steward.directory.v1.DirectoryService/UpdateGroup": {req: func(n names) proto.Message {
		return &directoryv1.UpdateGroupRequest{Group: &directoryv1.Group{Name: n.group, DisplayName: "Probed"}, UpdateMask: mask("display_name")}
	}},
	"/steward.directory.v1.DirectoryService/DeleteGroup": {req: func(n names) proto.Message { return &directoryv1.DeleteGroupRequest{Name: n.group} }},
	"/steward.directory.v1.DirectoryService/ListGroups":  {req: func(n names) proto.Message { return &directoryv1.ListGroupsRequest{Parent: n.org} }},
	"/steward.directory.v1.DirectoryService/CreateGroup": {req: func(n names) proto.Message {
		return &directoryv1.CreateGroupRequest{Parent: n.org, GroupId: "probe", Group: &directoryv1.Group{DisplayName: "Probe"}}
	}},
	"/steward.directory.v1.DirectoryService/AddGroupMember": {req: func(n names) proto.Message {
		return &directoryv1.AddGroupMemberRequest{Group: n.group, Member: n.user}
	}},
	"/steward.directory.v1.DirectoryService/RemoveGroupMember": {req: func(n names) proto.Message {
		return &directoryv1.RemoveGroupMemberRequest{Group: n.group, Member: n.user}
	}},
	"/steward.directory.v1.DirectoryService/BatchAddGroupMembers": {req: func(n names) proto.Message {
		return &directoryv1.BatchAddGroupMembersRequest{Parent: n.org, Requests: []*directoryv1.AddGroupMemberRequest{{Group: n.group, Member: n.user}}}
	}},
	"/steward.directory.v1.DirectoryService/BatchRemoveGroupMembers": {req: func(n names) proto.Message {
		return &directoryv1.BatchRemoveGroupMembersRequest{Parent: n.org, Requests: []*directoryv1.RemoveGroupMemberRequest{{Group: n.group, Member: n.user}}}
	}},
	"/steward.directory.v1.DirectoryService/ListGroupMembers": {req: func(n names) proto.Message {
		return &directoryv1.ListGroupMembersRequest{Group: n.group}
	}},
	"/steward.directory.v1.DirectoryService/ListUserGroups": {req: func(n names) proto.Message {
		return &directoryv1.ListUserGroupsRequest{User: n.user}
	}},
	"/steward.directory.v1.DirectoryService/GetRobot": {req: func(n names) proto.Message { return &directoryv1.GetRobotRequest{Name: n.robot} }},
	"/steward.directory.v1.DirectoryService/UpdateRobot": {req: func(n names) proto.Message {
		return &directoryv1.UpdateRobotRequest{Robot: &directoryv1.Robot{Name: n.robot, DisplayName: "Probed"}, UpdateMask: mask("display_name")}
	}},
	"/steward.directory.v1.DirectoryService/DeleteRobot": {req: func(n names) proto.Message { return &directoryv1.DeleteRobotRequest{Name: n.robot} }},
	"/steward.directory.v1.DirectoryService/ListRobots":  {req: func(n names) proto.Message { return &directoryv1.ListRobotsRequest{Parent: n.org} }},
	"/steward.directory.v1.DirectoryService/CreateRobot": {req: func(n names) proto.Message {
		return &directoryv1.CreateRobotRequest{Parent: n.org, RobotId: "probe", Robot: &directoryv1.Robot{DisplayName: "Probe", MachineName: "probe"}}
	}},
	"/steward.directory.v1.DirectoryService/GetRobotAccount": {req: func(n names) proto.Message {
		return &directoryv1.GetRobotAccountRequest{Name: n.robotAccount}
	}},
	"/steward.directory.v1.DirectoryService/UpdateRobotAccount": {req: func(n names) proto.Message {
		return &directoryv1.UpdateRobotAccountRequest{RobotAccount: &directoryv1.RobotAccount{Name: n.robotAccount, DisplayName: "Probed"}, UpdateMask: mask("display_name")}
	}},
	"/steward.directory.v1.DirectoryService/DeleteRobotAccount": {req: func(n names) proto.Message {
		return &directoryv1.DeleteRobotAccountRequest{Name: n.robotAccount}
	}},
	"/steward.directory.v1.DirectoryService/ListRobotAccounts": {req: func(n names) proto.Message {
		return &directoryv1.ListRobotAccountsRequest{Parent: n.org}
	}},
	"/steward.directory.v1.DirectoryService/CreateRobotAccount": {req: func(n names) proto.Message {
		return &directoryv1.CreateRobotAccountRequest{Parent: n.org, RobotAccountId: "probe", RobotAccount: &directoryv1.RobotAccount{DisplayName: "Probe"}}
	}},
	"/steward.directory.v1.DirectoryService/GetExternalApp": {req: func(n names) proto.Message {
		return &directoryv1.GetExternalAppRequest{Name: n.externalApp}
	}},
	"/steward.directory.v1.DirectoryService/UpdateExternalApp": {req: func(n names) proto.Message {
		return &directoryv1.UpdateExternalAppRequest{ExternalApp: &directoryv1.ExternalApp{Name: n.externalApp, DisplayName: "Probed"}, UpdateMask: mask("display_name")}
	}},
	"/steward.directory.v1.DirectoryService/DeleteExternalApp": {req: func(n names) proto.Message {
		return &directoryv1.DeleteExternalAppRequest{Name: n.externalApp}
	}},
	"/steward.directory.v1.DirectoryService/ListExternalApps": {req: func(n names) proto.Message {
		return &directoryv1.ListExternalAppsRequest{Parent: n.org}
	}},
	"/steward.directory.v1.DirectoryService/CreateExternalApp": {req: func(n names) proto.Message {
		return &directoryv1.CreateExternalAppRequest{Parent: n.org, ExternalAppId: "probe", ExternalApp: &directoryv1.ExternalApp{DisplayName: "Probe"}}
	}},
	"/steward.directory.v1.DirectoryService/CreateApiKey": {req: func(n names) proto.Message {
		return &directoryv1.CreateApiKeyRequest{Parent: n.robotAccount, ApiKey: &directoryv1.ApiKey{DisplayName: "probe"}}
	}},
	"/steward.directory.v1.DirectoryService/ListApiKeys": {req: func(n names) proto.Message {
		return &directoryv1.ListApiKeysRequest{Parent: n.robotAccount, ShowRevoked: true}
	}},
	"/steward.directory.v1.DirectoryService/RevokeApiKey": {req: func(n names) proto.Message { return &directoryv1.RevokeApiKeyRequest{Name: n.apiKey} }},
	"/steward.directory.v1.DirectoryService/EnrollTotp":   {selfOnly: true, req: func(n names) proto.Message { return &directoryv1.EnrollTotpRequest{Name: n.user} }},
	"/steward.directory.v1.DirectoryService/ConfirmTotp": {selfOnly: true, req: func(n names) proto.Message {
		return &directoryv1.ConfirmTotpRequest{Name: n.user, Code: "123456"}
	}},
	"/steward.directory.v1.DirectoryService/ListScopeAncestors": {req: func(n names) proto.Message {
		return &directoryv1.ListScopeAncestorsRequest{Name: n.folder}
	}},

	// Access management.
	"/steward.access.v1.AccessService/ListPermissions": {req: func(names) proto.Message { return &accessv1.ListPermissionsRequest{} }},
	"/steward.access.v1.AccessService/GetRole":         {req: func(n names) proto.Message { return &accessv1.GetRoleRequest{Name: n.role} }},
	"/steward.access.v1.AccessService/ListRoles":       {req: func(n names) proto.Message { return &accessv1.ListRolesRequest{Parent: n.org} }},
	"/steward.access.v1.AccessService/CreateRole": {req: func(n names) proto.Message {
		return &accessv1.CreateRoleRequest{Parent: n.org, RoleId: "probe", Role: &accessv1.Role{DisplayName: "Probe",
			Level: accessv1.Level_LEVEL_ORGANIZATION, Permissions: []string{"users.view"}}}
	}},
	"/steward.access.v1.AccessService/UpdateRole": {req: func(n names) proto.Message {
		return &accessv1.UpdateRoleRequest{Role: &accessv1.Role{Name: n.role, DisplayName: "Probed"}, UpdateMask: mask("display_name")}
	}},
	"/steward.access.v1.AccessService/DeleteRole": {req: func(n names) proto.Message { return &accessv1.DeleteRoleRequest{Name: n.role} }},
	"/steward.access.v1.AccessService/CreateRoleAssignment": {req: func(n names) proto.Message {
		return &accessv1.CreateRoleAssignmentRequest{Parent: n.org, Principal: n.user, Roles: []string{n.role}, Scope: n.org}
	}},
	"/steward.access.v1.AccessService/BatchCreateRoleAssignments": {req: func(n names) proto.Message {
		return &accessv1.BatchCreateRoleAssignmentsRequest{Parent: n.org, Requests: []*accessv1.CreateRoleAssignmentRequest{
			{Parent: n.org, Principal: n.user, Roles: []string{n.role}, Scope: n.org},
		}}
	}},
	"/steward.access.v1.AccessService/ListRoleAssignments": {req: func(n names) proto.Message {
		return &accessv1.ListRoleAssignmentsRequest{Parent: n.org}
	}},
	"/steward.access.v1.AccessService/DeleteRoleAssignment": {req: func(n names) proto.Message {
		return &accessv1.DeleteRoleAssignmentRequest{Name: n.roleAssignment}
	}},
	"/steward.access.v1.AccessService/ListPrincipalRoles": {req: func(n names) proto.Message {
		return &accessv1.ListPrincipalRolesRequest{Principal: n.user}
	}},
	"/steward.access.v1.AccessService/ExplainPermissions": {req: func(n names) proto.Message {
		return &accessv1.ExplainPermissionsRequest{Principal: n.user, Scope: n.folder}
	}},
	"/steward.access.v1.AccessService/CheckPermission": {member: true, req: func(n names) proto.Message {
		return &accessv1.CheckPermissionRequest{Principal: n.user, Permission: "users.view", Scope: n.folder}
	}},
	"/steward.access.v1.AccessService/BatchCheckPermission": {member: true, req: func(n names) proto.Message {
		return &accessv1.BatchCheckPermissionRequest{Items: []*accessv1.CheckPermissionRequest{
			{Principal: n.user, Permission: "users.view", Scope: n.folder}}}
	}},
	"/steward.access.v1.AccessService/ExportRoleAssignments": {req: func(n names) proto.Message {
		return &accessv1.ExportRoleAssignmentsRequest{Parent: n.org}
	}},
	"/steward.access.v1.AccessService/ListPermissionHolders": {req: func(n names) proto.Message {
		return &accessv1.ListPermissionHoldersRequest{Scope: n.folder, Permission: "users.view"}
	}},
	"/steward.access.v1.AccessService/ExportPermissionHolders": {req: func(n names) proto.Message {
		return &accessv1.ExportPermissionHoldersRequest{Scope: n.folder, Permission: "users.view"}
	}},
	"/steward.access.v1.AccessService/ListPermittedScopes": {req: func(n names) proto.Message {
		return &accessv1.ListPermittedScopesRequest{Principal: n.user, Permission: "users.view", Scope: n.tenant}
	}},
	"/steward.access.v1.AccessService/SetRobotUsageScope": {req: func(n names) proto.Message {
		return &accessv1.SetRobotUsageScopeRequest{RobotUsageScope: &accessv1.RobotUsageScope{Name: n.robotAccount + "/robotUsageScope",
			Mode: accessv1.RobotUsageScope_MODE_SPECIFIED, Robots: []string{n.robot}}}
	}},
	"/steward.access.v1.AccessService/GetRobotUsageScope": {req: func(n names) proto.Message {
		return &accessv1.GetRobotUsageScopeRequest{Name: n.robotAccount + "/robotUsageScope"}
	}},
	"/steward.access.v1.AccessService/CheckRobotUse": {req: func(n names) proto.Message {
		return &accessv1.CheckRobotUseRequest{Account: n.robotAccount, Robot: n.robot, Mode: accessv1.CheckRobotUseRequest_MODE_REMOTE}
	}},
	"/steward.access.v1.AccessService/CheckMembershipChange": {who: internal, req: func(n names) proto.Message {
		return &accessv1.CheckMembershipChangeRequest{Group: n.group, Add: true}
	}},
	"/steward.access.v1.AccessService/BatchCheckMembershipChange": {who: internal, req: func(n names) proto.Message {
		return &accessv1.BatchCheckMembershipChangeRequest{Items: []*accessv1.CheckMembershipChangeRequest{{Group: n.group, Add: true}}}
	}},
	"/steward.access.v1.AccessService/ListUsableRobots": {req: func(n names) proto.Message {
		return &accessv1.ListUsableRobotsRequest{Account: n.robotAccount}
	}},

	// Licensing.
	"/steward.licensing.v1.LicensingService/GetLicensingJwks": {who: public},
	"/steward.licensing.v1.LicensingService/GetLicensePool": {req: func(n names) proto.Message {
		return &licensingv1.GetLicensePoolRequest{Name: n.licensePool}
	}},
	"/steward.licensing.v1.LicensingService/ListLicensePools": {req: func(n names) proto.Message {
		return &licensingv1.ListLicensePoolsRequest{Parent: n.org}
	}},
	"/steward.licensing.v1.LicensingService/CreateLicensePool": {who: internal, req: func(n names) proto.Message {
		return &licensingv1.CreateLicensePoolRequest{Parent: n.org, LicensePool: &licensingv1.LicensePool{Product: licensingv1.Product_PRODUCT_ROBOT,
			Edition: "professional", Model: licensingv1.LicenseModel_LICENSE_MODEL_NAMED, Quantity: 1, ValidUntil: probeTime}}
	}},
	"/steward.licensing.v1.LicensingService/UpdateLicensePool": {who: internal, req: func(n names) proto.Message {
		return &licensingv1.UpdateLicensePoolRequest{LicensePool: &licensingv1.LicensePool{Name: n.licensePool, Quantity: 100}, UpdateMask: mask("quantity")}
	}},
	"/steward.licensing.v1.LicensingService/CreateLicenseRequest": {req: func(n names) proto.Message {
		return &licensingv1.CreateLicenseRequestRequest{Parent: n.org, LicenseRequest: &licensingv1.LicenseRequest{
			Kind: licensingv1.LicenseRequest_KIND_ADD_SEATS, Pool: n.licensePool, Quantity: 1}}
	}},
	"/steward.licensing.v1.LicensingService/ListLicenseRequests": {req: func(n names) proto.Message {
		return &licensingv1.ListLicenseRequestsRequest{Parent: n.org}
	}},
	"/steward.licensing.v1.LicensingService/FulfillLicenseRequest": {who: internal, req: func(n names) proto.Message {
		return &licensingv1.FulfillLicenseRequestRequest{Name: n.licenseRequest}
	}},
	"/steward.licensing.v1.LicensingService/RejectLicenseRequest": {who: internal, req: func(n names) proto.Message {
		return &licensingv1.RejectLicenseRequestRequest{Name: n.licenseRequest, DecisionNote: "probe"}
	}},
	"/steward.licensing.v1.LicensingService/AssignLicense": {req: func(n names) proto.Message {
		return &licensingv1.AssignLicenseRequest{Parent: n.org, LicenseAssignment: &licensingv1.LicenseAssignment{Pool: n.licensePool, Member: n.robotAccount}}
	}},
	"/steward.licensing.v1.LicensingService/UnassignLicense": {req: func(n names) proto.Message {
		return &licensingv1.UnassignLicenseRequest{Name: n.licenseAssignment}
	}},
	"/steward.licensing.v1.LicensingService/UpdateLicenseAssignment": {req: func(n names) proto.Message {
		return &licensingv1.UpdateLicenseAssignmentRequest{LicenseAssignment: &licensingv1.LicenseAssignment{Name: n.licenseAssignment,
			ConcurrentExecutionDisabled: true}, UpdateMask: mask("concurrent_execution_disabled")}
	}},
	"/steward.licensing.v1.LicensingService/BatchAssignLicenses": {req: func(n names) proto.Message {
		return &licensingv1.BatchAssignLicensesRequest{Parent: n.org, Pool: n.licensePool, Members: []string{n.robotAccount}}
	}},
	"/steward.licensing.v1.LicensingService/ListLicenseAssignments": {req: func(n names) proto.Message {
		return &licensingv1.ListLicenseAssignmentsRequest{Parent: n.org, Pool: n.licensePool}
	}},
	"/steward.licensing.v1.LicensingService/AcquireLease": {req: func(n names) proto.Message {
		return &licensingv1.AcquireLeaseRequest{Parent: n.org, Principal: n.user, Client: licensingv1.Product_PRODUCT_ROBOT, Machine: "probe", Service: n.service}
	}},
	"/steward.licensing.v1.LicensingService/RenewLease":   {req: func(n names) proto.Message { return &licensingv1.RenewLeaseRequest{Name: n.lease} }},
	"/steward.licensing.v1.LicensingService/ReleaseLease": {req: func(n names) proto.Message { return &licensingv1.ReleaseLeaseRequest{Name: n.lease} }},
	"/steward.licensing.v1.LicensingService/ForceReleaseLease": {req: func(n names) proto.Message {
		return &licensingv1.ForceReleaseLeaseRequest{Name: n.lease}
	}},
	"/steward.licensing.v1.LicensingService/ListLeases": {req: func(n names) proto.Message {
		return &licensingv1.ListLeasesRequest{Parent: n.org, Principal: n.user}
	}},
	"/steward.licensing.v1.LicensingService/AcquireExecution": {req: func(n names) proto.Message {
		return &licensingv1.AcquireExecutionRequest{Parent: n.org, User: n.user, Job: "probe"}
	}},
	"/steward.licensing.v1.LicensingService/ReleaseExecution": {req: func(n names) proto.Message {
		return &licensingv1.ReleaseExecutionRequest{Name: n.execution}
	}},
	"/steward.licensing.v1.LicensingService/GetLicenseUsage": {req: func(n names) proto.Message {
		return &licensingv1.GetLicenseUsageRequest{Name: n.org + "/licenseUsage", Service: n.service}
	}},
	"/steward.licensing.v1.LicensingService/GetUsageTrend": {req: func(n names) proto.Message {
		return &licensingv1.GetUsageTrendRequest{Name: n.org + "/usageTrend", Service: n.service, StartTime: probeTime}
	}},

	// Audit.
	"/steward.audit.v1.AuditService/GetAuditPublicKey": {who: public},
	"/steward.audit.v1.AuditService/GetIngestionStatus": {who: internal, req: func(names) proto.Message {
		return &auditv1.GetIngestionStatusRequest{}
	}},
	"/steward.audit.v1.AuditService/ListAuditEvents": {req: func(n names) proto.Message {
		return &auditv1.ListAuditEventsRequest{Parent: n.org, Filter: `actor = "` + n.user + `"`}
	}},
	"/steward.audit.v1.AuditService/GetAuditEvent": {req: func(n names) proto.Message {
		return &auditv1.GetAuditEventRequest{Name: n.auditEvent}
	}},
	"/steward.audit.v1.AuditService/ExportAuditEvents": {req: func(n names) proto.Message {
		return &auditv1.ExportAuditEventsRequest{Parent: n.org, Format: auditv1.ExportAuditEventsRequest_FORMAT_JSONL}
	}},
	"/steward.audit.v1.AuditService/GetAuditCheckpoint": {req: func(n names) proto.Message {
		return &auditv1.GetAuditCheckpointRequest{Name: n.org + "/auditCheckpoint"}
	}},
	"/steward.audit.v1.AuditService/GetInclusionProof": {req: func(n names) proto.Message {
		return &auditv1.GetInclusionProofRequest{Name: n.auditEvent}
	}},
	"/steward.audit.v1.AuditService/GetConsistencyProof": {req: func(n names) proto.Message {
		return &auditv1.GetConsistencyProofRequest{Parent: n.org, FirstTreeSize: 1}
	}},
	"/steward.audit.v1.AuditService/VerifyAuditLog": {req: func(n names) proto.Message {
		return &auditv1.VerifyAuditLogRequest{Parent: n.org}
	}},
	"/steward.audit.v1.AuditService/ExportLeafHashes": {req: func(n names) proto.Message {
		return &auditv1.ExportLeafHashesRequest{Parent: n.org}
	}},
	"/steward.audit.v1.AuditService/GetAuditSettings": {req: func(n names) proto.Message {
		return &auditv1.GetAuditSettingsRequest{Name: n.org + "/auditSettings"}
	}},
	"/steward.audit.v1.AuditService/UpdateAuditSettings": {req: func(n names) proto.Message {
		return &auditv1.UpdateAuditSettingsRequest{AuditSettings: &auditv1.AuditSettings{Name: n.org + "/auditSettings", Retention: durationpb.New(400 * 24 * time.Hour)}}
	}},
}

// probeTime is a fixed time for requests that need one.
var probeTime = timestamppb.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
