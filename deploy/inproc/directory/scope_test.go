package directory_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
)

// scopeReason returns the gRPC code and ErrorInfo reason of err.
func scopeReason(err error) (codes.Code, string) {
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return st.Code(), info.GetReason()
		}
	}
	return st.Code(), ""
}

// scopeFieldViolations returns the fields of err's BadRequest detail.
func scopeFieldViolations(err error) []string {
	st, _ := status.FromError(err)
	var fields []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	return fields
}

// scopeWant fails t unless err has code and, when reason is set, reason.
func scopeWant(t *testing.T, what string, err error, code codes.Code, reason string) {
	t.Helper()
	gotCode, gotReason := scopeReason(err)
	if gotCode != code || (reason != "" && gotReason != reason) {
		t.Errorf("%s: got %v / %q (%v), want %v / %q", what, gotCode, gotReason, err, code, reason)
	}
}

// scopeTree is a small tree built for a test.
type scopeTree struct {
	e   *env
	su  *directoryv1.SignUpResponse
	ctx context.Context
	org string
}

func newScopeTree(t *testing.T) *scopeTree {
	e := newEnv(t)
	su := e.signUp()
	return &scopeTree{e: e, su: su, ctx: e.asOwner(su), org: su.GetOrganization().GetName()}
}

func (s *scopeTree) tenant(t *testing.T, id string) *directoryv1.Tenant {
	t.Helper()
	tn, err := s.e.c.CreateTenant(s.ctx, &directoryv1.CreateTenantRequest{
		Parent: s.org, TenantId: id, Tenant: &directoryv1.Tenant{DisplayName: "Tenant " + id},
	}, s.e.svc)
	if err != nil {
		t.Fatalf("CreateTenant %s: %v", id, err)
	}
	return tn
}

func (s *scopeTree) service(t *testing.T, tenant, id, typ string) *directoryv1.Service {
	t.Helper()
	svc, err := s.e.c.CreateService(s.ctx, &directoryv1.CreateServiceRequest{
		Parent: tenant, ServiceId: id, Service: &directoryv1.Service{DisplayName: "Service " + id, Type: typ},
	}, s.e.svc)
	if err != nil {
		t.Fatalf("CreateService %s: %v", id, err)
	}
	return svc
}

func (s *scopeTree) folder(t *testing.T, parent, id string) *directoryv1.Folder {
	t.Helper()
	f, err := s.e.c.CreateFolder(s.ctx, &directoryv1.CreateFolderRequest{
		Parent: parent, FolderId: id, Folder: &directoryv1.Folder{DisplayName: "Folder " + id},
	}, s.e.svc)
	if err != nil {
		t.Fatalf("CreateFolder %s/%s: %v", parent, id, err)
	}
	return f
}

func (s *scopeTree) project(t *testing.T, parent, id string) *directoryv1.Project {
	t.Helper()
	p, err := s.e.c.CreateProject(s.ctx, &directoryv1.CreateProjectRequest{
		Parent: parent, ProjectId: id, Project: &directoryv1.Project{DisplayName: "Project " + id},
	}, s.e.svc)
	if err != nil {
		t.Fatalf("CreateProject %s/%s: %v", parent, id, err)
	}
	return p
}

// head returns the current event-log sequence (via ListTenants).
func (s *scopeTree) head(t *testing.T) uint64 {
	t.Helper()
	resp, err := s.e.c.ListTenants(s.ctx, &directoryv1.ListTenantsRequest{Parent: s.org}, s.e.svc)
	if err != nil {
		t.Fatalf("ListTenants: %v", err)
	}
	return resp.GetSequence()
}

// scopeEventList renders events as "type resource" lines.
func scopeEventList(evs []*eventlogv1.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.GetType()+" "+ev.GetResource())
	}
	return out
}

func scopeEqual(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n got  %q\n want %q", what, got, want)
	}
}

// R2: tenants are created, read, listed (with sign-up's default tenant),
// updated and deleted, with one event per change.
func TestScopeTenantLifecycle(t *testing.T) {
	s := newScopeTree(t)
	e := s.e
	start := s.head(t)

	tn, err := e.c.CreateTenant(s.ctx, &directoryv1.CreateTenantRequest{
		Parent: s.org, TenantId: "finance",
		Tenant: &directoryv1.Tenant{
			Name: "organizations/other/tenants/x", DisplayName: "Finance", Description: "money",
			DefaultTenant: true, Etag: "ignored",
		},
	}, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	if tn.GetName() != s.org+"/tenants/finance" || tn.GetDefaultTenant() || tn.GetEtag() == "" || tn.GetEtag() == "ignored" ||
		tn.GetCreateTime() == nil || tn.GetDescription() != "money" {
		t.Errorf("created tenant = %v", tn)
	}
	auto, err := e.c.CreateTenant(s.ctx, &directoryv1.CreateTenantRequest{Parent: s.org, Tenant: &directoryv1.Tenant{DisplayName: "Auto"}}, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(auto.GetName(), s.org+"/tenants/") || len(auto.GetName()) <= len(s.org+"/tenants/") {
		t.Errorf("server-chosen name = %q", auto.GetName())
	}

	got, err := e.c.GetTenant(s.ctx, &directoryv1.GetTenantRequest{Name: tn.GetName()}, e.svc)
	if err != nil || got.GetEtag() != tn.GetEtag() || got.GetDisplayName() != "Finance" {
		t.Fatalf("GetTenant = %v, %v", got, err)
	}

	list, err := e.c.ListTenants(s.ctx, &directoryv1.ListTenantsRequest{Parent: s.org}, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, x := range list.GetTenants() {
		names = append(names, x.GetName())
	}
	want := []string{auto.GetName(), s.org + "/tenants/default", tn.GetName()}
	slices.Sort(want)
	scopeEqual(t, "ListTenants", names, want)
	if list.GetSequence() <= start || list.GetNextPageToken() != "" {
		t.Errorf("ListTenants sequence %d (start %d), token %q", list.GetSequence(), start, list.GetNextPageToken())
	}

	up, err := e.c.UpdateTenant(s.ctx, &directoryv1.UpdateTenantRequest{
		Tenant:     &directoryv1.Tenant{Name: tn.GetName(), DisplayName: "Finance & Co", Description: "not applied", Etag: tn.GetEtag()},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
	}, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	if up.GetDisplayName() != "Finance & Co" || up.GetDescription() != "money" || up.GetEtag() == tn.GetEtag() ||
		up.GetUpdateTime() == nil || up.GetUpdateTime().AsTime().Before(tn.GetCreateTime().AsTime()) {
		t.Errorf("updated tenant = %v", up)
	}

	// An unknown mask path and clearing the display name are invalid.
	_, err = e.c.UpdateTenant(s.ctx, &directoryv1.UpdateTenantRequest{
		Tenant: &directoryv1.Tenant{Name: tn.GetName()}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"default_tenant"}},
	}, e.svc)
	scopeWant(t, "mask default_tenant", err, codes.InvalidArgument, "")
	_, err = e.c.UpdateTenant(s.ctx, &directoryv1.UpdateTenantRequest{Tenant: &directoryv1.Tenant{Name: tn.GetName(), Description: "d"}}, e.svc)
	scopeWant(t, "empty mask without display_name", err, codes.InvalidArgument, "")

	// An update that changes nothing emits nothing.
	same, err := e.c.UpdateTenant(s.ctx, &directoryv1.UpdateTenantRequest{
		Tenant:     &directoryv1.Tenant{Name: tn.GetName(), DisplayName: "Finance & Co"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
	}, e.svc)
	if err != nil || same.GetEtag() != up.GetEtag() {
		t.Errorf("no-op update = %v, %v", same, err)
	}

	if _, err := e.c.DeleteTenant(s.ctx, &directoryv1.DeleteTenantRequest{Name: tn.GetName(), Etag: up.GetEtag()}, e.svc); err != nil {
		t.Fatal(err)
	}
	_, err = e.c.GetTenant(s.ctx, &directoryv1.GetTenantRequest{Name: tn.GetName()}, e.svc)
	scopeWant(t, "GetTenant after delete", err, codes.NotFound, "NOT_FOUND")

	evs := e.eventsAfter(start)
	scopeEqual(t, "events", scopeEventList(evs), []string{
		"directory.tenant.created " + tn.GetName(),
		"directory.tenant.created " + auto.GetName(),
		"directory.tenant.updated " + tn.GetName(),
		"directory.tenant.deleted " + tn.GetName(),
	})
	for _, ev := range evs {
		if ev.GetOrganization() != s.org || ev.GetAudit().GetActor() != s.su.GetOwner().GetName() || ev.GetAudit().GetMessage() == "" {
			t.Errorf("event %v: organization/actor/message", ev)
		}
	}
}

// R2: services are typed; the type is required and immutable, the creator
// is recorded, and creating under a missing parent is NotFound.
func TestScopeServiceRules(t *testing.T) {
	s := newScopeTree(t)
	e := s.e
	tenant := s.org + "/tenants/default"
	svc := s.service(t, tenant, "orch", "orchestrator")
	if svc.GetCreator() != s.su.GetOwner().GetName() || svc.GetType() != "orchestrator" {
		t.Errorf("service = %v", svc)
	}

	tests := []struct {
		name   string
		req    *directoryv1.CreateServiceRequest
		code   codes.Code
		reason string
		in     string // expected in the message
	}{
		{"R2: missing type", &directoryv1.CreateServiceRequest{Parent: tenant, Service: &directoryv1.Service{DisplayName: "x"}}, codes.InvalidArgument, "", ""},
		{"R2: unknown type", &directoryv1.CreateServiceRequest{Parent: tenant, Service: &directoryv1.Service{DisplayName: "x", Type: "mailer"}}, codes.InvalidArgument, "", ""},
		{"missing display name", &directoryv1.CreateServiceRequest{Parent: tenant, Service: &directoryv1.Service{Type: "insights"}}, codes.InvalidArgument, "", ""},
		{"missing tenant", &directoryv1.CreateServiceRequest{Parent: s.org + "/tenants/nope", Service: &directoryv1.Service{DisplayName: "x", Type: "insights"}}, codes.NotFound, "NOT_FOUND", s.org + "/tenants/nope"},
		{"taken ID", &directoryv1.CreateServiceRequest{Parent: tenant, ServiceId: "orch", Service: &directoryv1.Service{DisplayName: "x", Type: "insights"}}, codes.AlreadyExists, "ALREADY_EXISTS", ""},
	}
	for _, tc := range tests {
		_, err := e.c.CreateService(s.ctx, tc.req, e.svc)
		scopeWant(t, tc.name, err, tc.code, tc.reason)
		if tc.in != "" && !strings.Contains(status.Convert(err).Message(), tc.in) {
			t.Errorf("%s: message %q does not name %s", tc.name, status.Convert(err).Message(), tc.in)
		}
	}

	// R2: type is immutable.
	_, err := e.c.UpdateService(s.ctx, &directoryv1.UpdateServiceRequest{
		Service:    &directoryv1.Service{Name: svc.GetName(), DisplayName: "x", Type: "insights"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name", "type"}},
	}, e.svc)
	scopeWant(t, "change type", err, codes.InvalidArgument, "")
	if f := scopeFieldViolations(err); len(f) != 1 || f[0] != "update_mask" {
		t.Errorf("change type: field violations %v, want update_mask", f)
	}
	_, err = e.c.UpdateService(s.ctx, &directoryv1.UpdateServiceRequest{
		Service: &directoryv1.Service{Name: svc.GetName(), DisplayName: "x", Type: "insights"},
	}, e.svc)
	scopeWant(t, "change type without mask", err, codes.InvalidArgument, "")

	up, err := e.c.UpdateService(s.ctx, &directoryv1.UpdateServiceRequest{
		Service:    &directoryv1.Service{Name: svc.GetName(), DisplayName: "Orchestrator", Type: "orchestrator", Creator: "organizations/x/users/y"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name", "type"}},
	}, e.svc)
	if err != nil || up.GetDisplayName() != "Orchestrator" || up.GetType() != "orchestrator" || up.GetCreator() != svc.GetCreator() {
		t.Errorf("update with same type = %v, %v", up, err)
	}
	_, err = e.c.UpdateService(s.ctx, &directoryv1.UpdateServiceRequest{
		Service:    &directoryv1.Service{Name: svc.GetName(), DisplayName: "x"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"creator"}},
	}, e.svc)
	scopeWant(t, "mask creator", err, codes.InvalidArgument, "")
}

// R2: folders only in orchestrator services, nestable; projects in any
// service; missing parents are NotFound naming the parent.
func TestScopeFoldersAndProjects(t *testing.T) {
	s := newScopeTree(t)
	e := s.e
	tenant := s.org + "/tenants/default"
	orch := s.service(t, tenant, "orch", "orchestrator").GetName()
	hub := s.service(t, tenant, "hub", "automation-hub").GetName()

	f := s.folder(t, orch, "f1")
	g := s.folder(t, f.GetName(), "g1")
	if g.GetName() != orch+"/folders/f1/folders/g1" {
		t.Errorf("nested folder name = %q", g.GetName())
	}
	s.project(t, orch, "p1")
	s.project(t, hub, "p1")

	tests := []struct {
		name   string
		req    *directoryv1.CreateFolderRequest
		code   codes.Code
		reason string
		in     string
	}{
		{"R2: folder in automation-hub service", &directoryv1.CreateFolderRequest{Parent: hub, Folder: &directoryv1.Folder{DisplayName: "x"}}, codes.FailedPrecondition, "SERVICE_TYPE_MISMATCH", ""},
		{"missing parent folder", &directoryv1.CreateFolderRequest{Parent: orch + "/folders/nope", Folder: &directoryv1.Folder{DisplayName: "x"}}, codes.NotFound, "NOT_FOUND", orch + "/folders/nope"},
		{"missing service", &directoryv1.CreateFolderRequest{Parent: tenant + "/services/nope", Folder: &directoryv1.Folder{DisplayName: "x"}}, codes.NotFound, "NOT_FOUND", tenant + "/services/nope"},
		{"reserved ID", &directoryv1.CreateFolderRequest{Parent: orch, FolderId: "folders", Folder: &directoryv1.Folder{DisplayName: "x"}}, codes.InvalidArgument, "", ""},
		{"taken ID", &directoryv1.CreateFolderRequest{Parent: orch, FolderId: "f1", Folder: &directoryv1.Folder{DisplayName: "x"}}, codes.AlreadyExists, "ALREADY_EXISTS", ""},
		{"missing display name", &directoryv1.CreateFolderRequest{Parent: orch, Folder: &directoryv1.Folder{}}, codes.InvalidArgument, "", ""},
	}
	for _, tc := range tests {
		_, err := e.c.CreateFolder(s.ctx, tc.req, e.svc)
		scopeWant(t, tc.name, err, tc.code, tc.reason)
		if tc.in != "" && !strings.Contains(status.Convert(err).Message(), tc.in) {
			t.Errorf("%s: message %q does not name %s", tc.name, status.Convert(err).Message(), tc.in)
		}
	}
	_, err := e.c.CreateProject(s.ctx, &directoryv1.CreateProjectRequest{Parent: tenant + "/services/nope", Project: &directoryv1.Project{DisplayName: "x"}}, e.svc)
	scopeWant(t, "project in missing service", err, codes.NotFound, "NOT_FOUND")

	got, err := e.c.GetFolder(s.ctx, &directoryv1.GetFolderRequest{Name: g.GetName()}, e.svc)
	if err != nil || got.GetDisplayName() != "Folder g1" {
		t.Errorf("GetFolder = %v, %v", got, err)
	}
	p, err := e.c.GetProject(s.ctx, &directoryv1.GetProjectRequest{Name: hub + "/projects/p1"}, e.svc)
	if err != nil || p.GetDisplayName() != "Project p1" {
		t.Errorf("GetProject = %v, %v", p, err)
	}
	uf, err := e.c.UpdateFolder(s.ctx, &directoryv1.UpdateFolderRequest{Folder: &directoryv1.Folder{Name: g.GetName(), DisplayName: "G", Description: "d"}}, e.svc)
	if err != nil || uf.GetDisplayName() != "G" || uf.GetDescription() != "d" {
		t.Errorf("UpdateFolder = %v, %v", uf, err)
	}
	up, err := e.c.UpdateProject(s.ctx, &directoryv1.UpdateProjectRequest{
		Project: &directoryv1.Project{Name: p.GetName(), Description: "d"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"description"}},
	}, e.svc)
	if err != nil || up.GetDisplayName() != "Project p1" || up.GetDescription() != "d" {
		t.Errorf("UpdateProject = %v, %v", up, err)
	}

	// ListFolders on a non-orchestrator service is empty.
	lf, err := e.c.ListFolders(s.ctx, &directoryv1.ListFoldersRequest{Parent: hub}, e.svc)
	if err != nil || len(lf.GetFolders()) != 0 {
		t.Errorf("ListFolders(hub) = %v, %v", lf, err)
	}
}

// R2: a node with children is deleted only with force, which removes the
// whole subtree deepest first with one event per node.
func TestScopeDeleteCascade(t *testing.T) {
	s := newScopeTree(t)
	e := s.e
	tn := s.tenant(t, "t1").GetName()
	orch := s.service(t, tn, "orch", "orchestrator").GetName()
	hub := s.service(t, tn, "hub", "automation-hub").GetName()
	f1 := s.folder(t, orch, "f1").GetName()
	f1a := s.folder(t, orch, "f1-a").GetName()
	g := s.folder(t, f1, "g").GetName()
	h := s.folder(t, g, "h").GetName()
	p := s.project(t, orch, "p").GetName()
	hp := s.project(t, hub, "hp").GetName()

	refusals := []struct {
		name string
		call func() error
	}{
		{"R2: tenant with services", func() error {
			_, err := e.c.DeleteTenant(s.ctx, &directoryv1.DeleteTenantRequest{Name: tn}, e.svc)
			return err
		}},
		{"R2: service with folders and projects", func() error {
			_, err := e.c.DeleteService(s.ctx, &directoryv1.DeleteServiceRequest{Name: orch}, e.svc)
			return err
		}},
		{"R2: service with projects only", func() error {
			_, err := e.c.DeleteService(s.ctx, &directoryv1.DeleteServiceRequest{Name: hub}, e.svc)
			return err
		}},
		{"R2: folder with subfolders", func() error {
			_, err := e.c.DeleteFolder(s.ctx, &directoryv1.DeleteFolderRequest{Name: f1}, e.svc)
			return err
		}},
	}
	for _, tc := range refusals {
		scopeWant(t, tc.name, tc.call(), codes.FailedPrecondition, "NODE_HAS_CHILDREN")
	}

	// A leaf folder and a project go without force.
	start := s.head(t)
	if _, err := e.c.DeleteFolder(s.ctx, &directoryv1.DeleteFolderRequest{Name: f1a}, e.svc); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.DeleteProject(s.ctx, &directoryv1.DeleteProjectRequest{Name: hp}, e.svc); err != nil {
		t.Fatal(err)
	}
	// A folder with force takes its subfolders.
	if _, err := e.c.DeleteFolder(s.ctx, &directoryv1.DeleteFolderRequest{Name: g, Force: true}, e.svc); err != nil {
		t.Fatal(err)
	}
	scopeEqual(t, "events of leaf deletes", scopeEventList(e.eventsAfter(start)), []string{
		"directory.folder.deleted " + f1a,
		"directory.project.deleted " + hp,
		"directory.folder.deleted " + h,
		"directory.folder.deleted " + g,
	})

	// Rebuild a deeper subtree and delete the tenant with force.
	g = s.folder(t, f1, "g").GetName()
	h = s.folder(t, g, "h").GetName()
	start = s.head(t)
	if _, err := e.c.DeleteTenant(s.ctx, &directoryv1.DeleteTenantRequest{Name: tn, Force: true}, e.svc); err != nil {
		t.Fatal(err)
	}
	evs := e.eventsAfter(start)
	scopeEqual(t, "R2: cascade events, deepest first", scopeEventList(evs), []string{
		"directory.project.deleted " + p,
		"directory.folder.deleted " + orch + "/folders/shared",
		"directory.folder.deleted " + h,
		"directory.folder.deleted " + g,
		"directory.folder.deleted " + f1,
		"directory.service.deleted " + orch,
		"directory.service.deleted " + hub,
		"directory.tenant.deleted " + tn,
	})
	for _, ev := range evs {
		if ev.GetOperation() != eventlogv1.Operation_OPERATION_DELETE || ev.GetData() == nil {
			t.Errorf("event %s: operation %v, data %v", ev.GetResource(), ev.GetOperation(), ev.GetData())
		}
	}
	for _, n := range []string{tn, orch, hub, f1, g, h, p} {
		_, err := e.c.ListScopeAncestors(s.ctx, &directoryv1.ListScopeAncestorsRequest{Name: n}, e.svc)
		scopeWant(t, "after cascade "+n, err, codes.NotFound, "NOT_FOUND")
	}
	// The other tenant is untouched.
	if _, err := e.c.GetTenant(s.ctx, &directoryv1.GetTenantRequest{Name: s.org + "/tenants/default"}, e.svc); err != nil {
		t.Errorf("default tenant: %v", err)
	}
}

// R10: another organization's nodes are NotFound, never PermissionDenied.
func TestScopeCrossOrganization(t *testing.T) {
	s := newScopeTree(t)
	e := s.e
	tn := s.org + "/tenants/default"
	orch := s.service(t, tn, "orch", "orchestrator").GetName()
	f := s.folder(t, orch, "f").GetName()
	p := s.project(t, orch, "p").GetName()

	other := e.signUp()
	octx := e.asOwner(other)
	calls := map[string]func() error{
		"GetTenant": func() error {
			_, err := e.c.GetTenant(octx, &directoryv1.GetTenantRequest{Name: tn}, e.svc)
			return err
		},
		"ListTenants": func() error {
			_, err := e.c.ListTenants(octx, &directoryv1.ListTenantsRequest{Parent: s.org}, e.svc)
			return err
		},
		"CreateTenant": func() error {
			_, err := e.c.CreateTenant(octx, &directoryv1.CreateTenantRequest{Parent: s.org, Tenant: &directoryv1.Tenant{DisplayName: "x"}}, e.svc)
			return err
		},
		"UpdateTenant": func() error {
			_, err := e.c.UpdateTenant(octx, &directoryv1.UpdateTenantRequest{Tenant: &directoryv1.Tenant{Name: tn, DisplayName: "x"}}, e.svc)
			return err
		},
		"DeleteTenant": func() error {
			_, err := e.c.DeleteTenant(octx, &directoryv1.DeleteTenantRequest{Name: tn, Force: true}, e.svc)
			return err
		},
		"GetService": func() error {
			_, err := e.c.GetService(octx, &directoryv1.GetServiceRequest{Name: orch}, e.svc)
			return err
		},
		"ListServices": func() error {
			_, err := e.c.ListServices(octx, &directoryv1.ListServicesRequest{Parent: tn}, e.svc)
			return err
		},
		"ListServices-": func() error {
			_, err := e.c.ListServices(octx, &directoryv1.ListServicesRequest{Parent: s.org + "/tenants/-"}, e.svc)
			return err
		},
		"CreateService": func() error {
			_, err := e.c.CreateService(octx, &directoryv1.CreateServiceRequest{Parent: tn, Service: &directoryv1.Service{DisplayName: "x", Type: "insights"}}, e.svc)
			return err
		},
		"UpdateService": func() error {
			_, err := e.c.UpdateService(octx, &directoryv1.UpdateServiceRequest{Service: &directoryv1.Service{Name: orch, DisplayName: "x"}}, e.svc)
			return err
		},
		"DeleteService": func() error {
			_, err := e.c.DeleteService(octx, &directoryv1.DeleteServiceRequest{Name: orch, Force: true}, e.svc)
			return err
		},
		"GetFolder": func() error { _, err := e.c.GetFolder(octx, &directoryv1.GetFolderRequest{Name: f}, e.svc); return err },
		"ListFolders": func() error {
			_, err := e.c.ListFolders(octx, &directoryv1.ListFoldersRequest{Parent: orch, Recursive: true}, e.svc)
			return err
		},
		"CreateFolder": func() error {
			_, err := e.c.CreateFolder(octx, &directoryv1.CreateFolderRequest{Parent: orch, Folder: &directoryv1.Folder{DisplayName: "x"}}, e.svc)
			return err
		},
		"UpdateFolder": func() error {
			_, err := e.c.UpdateFolder(octx, &directoryv1.UpdateFolderRequest{Folder: &directoryv1.Folder{Name: f, DisplayName: "x"}}, e.svc)
			return err
		},
		"DeleteFolder": func() error {
			_, err := e.c.DeleteFolder(octx, &directoryv1.DeleteFolderRequest{Name: f}, e.svc)
			return err
		},
		"GetProject": func() error {
			_, err := e.c.GetProject(octx, &directoryv1.GetProjectRequest{Name: p}, e.svc)
			return err
		},
		"ListProjects": func() error {
			_, err := e.c.ListProjects(octx, &directoryv1.ListProjectsRequest{Parent: orch}, e.svc)
			return err
		},
		"CreateProject": func() error {
			_, err := e.c.CreateProject(octx, &directoryv1.CreateProjectRequest{Parent: orch, Project: &directoryv1.Project{DisplayName: "x"}}, e.svc)
			return err
		},
		"UpdateProject": func() error {
			_, err := e.c.UpdateProject(octx, &directoryv1.UpdateProjectRequest{Project: &directoryv1.Project{Name: p, DisplayName: "x"}}, e.svc)
			return err
		},
		"DeleteProject": func() error {
			_, err := e.c.DeleteProject(octx, &directoryv1.DeleteProjectRequest{Name: p}, e.svc)
			return err
		},
		"ListScopeAncestors": func() error {
			_, err := e.c.ListScopeAncestors(octx, &directoryv1.ListScopeAncestorsRequest{Name: f}, e.svc)
			return err
		},
		"ListScopeAncestors org": func() error {
			_, err := e.c.ListScopeAncestors(octx, &directoryv1.ListScopeAncestorsRequest{Name: s.org}, e.svc)
			return err
		},
	}
	for name, call := range calls {
		err := call()
		scopeWant(t, "R10: "+name, err, codes.NotFound, "NOT_FOUND")
		if strings.Contains(status.Convert(err).Message(), "Service orch") {
			t.Errorf("%s leaks: %v", name, err)
		}
	}
	// Nothing changed.
	if _, err := e.c.GetFolder(s.ctx, &directoryv1.GetFolderRequest{Name: f}, e.svc); err != nil {
		t.Errorf("folder after foreign calls: %v", err)
	}
	if _, err := e.c.GetProject(s.ctx, &directoryv1.GetProjectRequest{Name: p}, e.svc); err != nil {
		t.Errorf("project after foreign calls: %v", err)
	}
}

// AIP-154: a stale etag fails updates and deletes; of concurrent updates
// carrying the same etag exactly one wins.
func TestScopeEtags(t *testing.T) {
	s := newScopeTree(t)
	e := s.e
	tn := s.tenant(t, "t1")
	svc := s.service(t, tn.GetName(), "s1", "orchestrator")
	f := s.folder(t, svc.GetName(), "f")
	p := s.project(t, svc.GetName(), "p")

	if _, err := e.c.UpdateTenant(s.ctx, &directoryv1.UpdateTenantRequest{Tenant: &directoryv1.Tenant{Name: tn.GetName(), DisplayName: "New", Etag: tn.GetEtag()}}, e.svc); err != nil {
		t.Fatal(err)
	}
	stale := []struct {
		name string
		call func() error
	}{
		{"UpdateTenant", func() error {
			_, err := e.c.UpdateTenant(s.ctx, &directoryv1.UpdateTenantRequest{Tenant: &directoryv1.Tenant{Name: tn.GetName(), DisplayName: "Other", Etag: tn.GetEtag()}}, e.svc)
			return err
		}},
		{"DeleteTenant", func() error {
			_, err := e.c.DeleteTenant(s.ctx, &directoryv1.DeleteTenantRequest{Name: tn.GetName(), Etag: tn.GetEtag(), Force: true}, e.svc)
			return err
		}},
		{"UpdateService", func() error {
			_, err := e.c.UpdateService(s.ctx, &directoryv1.UpdateServiceRequest{Service: &directoryv1.Service{Name: svc.GetName(), DisplayName: "x", Etag: "bogus"}}, e.svc)
			return err
		}},
		{"DeleteService", func() error {
			_, err := e.c.DeleteService(s.ctx, &directoryv1.DeleteServiceRequest{Name: svc.GetName(), Etag: "bogus", Force: true}, e.svc)
			return err
		}},
		{"UpdateFolder", func() error {
			_, err := e.c.UpdateFolder(s.ctx, &directoryv1.UpdateFolderRequest{Folder: &directoryv1.Folder{Name: f.GetName(), DisplayName: "x", Etag: "bogus"}}, e.svc)
			return err
		}},
		{"DeleteFolder", func() error {
			_, err := e.c.DeleteFolder(s.ctx, &directoryv1.DeleteFolderRequest{Name: f.GetName(), Etag: "bogus"}, e.svc)
			return err
		}},
		{"UpdateProject", func() error {
			_, err := e.c.UpdateProject(s.ctx, &directoryv1.UpdateProjectRequest{Project: &directoryv1.Project{Name: p.GetName(), DisplayName: "x", Etag: "bogus"}}, e.svc)
			return err
		}},
		{"DeleteProject", func() error {
			_, err := e.c.DeleteProject(s.ctx, &directoryv1.DeleteProjectRequest{Name: p.GetName(), Etag: "bogus"}, e.svc)
			return err
		}},
	}
	for _, tc := range stale {
		scopeWant(t, "stale etag "+tc.name, tc.call(), codes.Aborted, "ETAG_MISMATCH")
	}
	if _, err := e.c.DeleteProject(s.ctx, &directoryv1.DeleteProjectRequest{Name: p.GetName(), Etag: p.GetEtag()}, e.svc); err != nil {
		t.Errorf("DeleteProject with current etag: %v", err)
	}

	// Concurrent updates with the same etag: exactly one wins.
	const n = 8
	start := s.head(t)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.c.UpdateFolder(s.ctx, &directoryv1.UpdateFolderRequest{
				Folder:     &directoryv1.Folder{Name: f.GetName(), DisplayName: fmt.Sprintf("Writer %d", i), Etag: f.GetEtag()},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
			}, e.svc)
		}()
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
			continue
		}
		scopeWant(t, "concurrent loser", err, codes.Aborted, "ETAG_MISMATCH")
	}
	if wins != 1 {
		t.Errorf("concurrent updates with one etag: %d won, want exactly 1", wins)
	}
	if evs := e.eventsAfter(start); len(evs) != 1 || evs[0].GetType() != "directory.folder.updated" {
		t.Errorf("events of the race = %q", scopeEventList(evs))
	}
}

// AIP-155: a create with a request_id is replayed, once, and a request_id
// reused for another request is refused.
func TestScopeIdempotentCreate(t *testing.T) {
	s := newScopeTree(t)
	e := s.e
	tenant := s.org + "/tenants/default"
	const rid = "4f1c2b7e-8a3d-4c2e-9b1a-2d3e4f5a6b7c"
	req := &directoryv1.CreateServiceRequest{Parent: tenant, Service: &directoryv1.Service{DisplayName: "Hub", Type: "automation-hub"}, RequestId: rid}
	start := s.head(t)
	first, err := e.c.CreateService(s.ctx, req, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.c.CreateService(s.ctx, req, e.svc)
	if err != nil || again.GetName() != first.GetName() || again.GetEtag() != first.GetEtag() {
		t.Errorf("replay = %v, %v; want %v", again, err, first)
	}
	if evs := e.eventsAfter(start); len(evs) != 1 || evs[0].GetType() != "directory.service.created" || evs[0].GetResource() != first.GetName() {
		t.Errorf("events = %q, want one service.created", scopeEventList(evs))
	}
	other := &directoryv1.CreateServiceRequest{Parent: tenant, Service: &directoryv1.Service{DisplayName: "Other", Type: "automation-hub"}, RequestId: rid}
	_, err = e.c.CreateService(s.ctx, other, e.svc)
	scopeWant(t, "request_id reused", err, codes.Aborted, "REQUEST_ID_REUSED")

	// The same for the other kinds.
	orch := s.service(t, tenant, "orch", "orchestrator").GetName()
	for name, call := range map[string]func() (string, error){
		"tenant": func() (string, error) {
			r, err := e.c.CreateTenant(s.ctx, &directoryv1.CreateTenantRequest{Parent: s.org, Tenant: &directoryv1.Tenant{DisplayName: "T"}, RequestId: "11111111-1111-4111-8111-111111111111"}, e.svc)
			return r.GetName(), err
		},
		"folder": func() (string, error) {
			r, err := e.c.CreateFolder(s.ctx, &directoryv1.CreateFolderRequest{Parent: orch, Folder: &directoryv1.Folder{DisplayName: "F"}, RequestId: "22222222-2222-4222-8222-222222222222"}, e.svc)
			return r.GetName(), err
		},
		"project": func() (string, error) {
			r, err := e.c.CreateProject(s.ctx, &directoryv1.CreateProjectRequest{Parent: orch, Project: &directoryv1.Project{DisplayName: "P"}, RequestId: "33333333-3333-4333-8333-333333333333"}, e.svc)
			return r.GetName(), err
		},
	} {
		a, err1 := call()
		b, err2 := call()
		if err1 != nil || err2 != nil || a != b || a == "" {
			t.Errorf("%s replay: %q %v / %q %v", name, a, err1, b, err2)
		}
	}
}

// AIP-158: lists page in name order; tokens are bound to their request.
func TestScopePaging(t *testing.T) {
	s := newScopeTree(t)
	e := s.e
	for _, id := range []string{"t3", "t1", "t2", "t1-b"} {
		s.tenant(t, id)
	}
	var tenants []string
	token := ""
	for range 10 {
		resp, err := e.c.ListTenants(s.ctx, &directoryv1.ListTenantsRequest{Parent: s.org, PageSize: 2, PageToken: token}, e.svc)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetTenants()) > 2 {
			t.Fatalf("page of %d", len(resp.GetTenants()))
		}
		for _, x := range resp.GetTenants() {
			tenants = append(tenants, strings.TrimPrefix(x.GetName(), s.org+"/tenants/"))
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	scopeEqual(t, "paged tenants", tenants, []string{"default", "t1", "t1-b", "t2", "t3"})

	// Services of every tenant ("-"), with their folders and projects in
	// between in the key space, and a type filter.
	s.service(t, s.org+"/tenants/t1", "a", "orchestrator")
	s.service(t, s.org+"/tenants/t1", "b", "insights")
	s.service(t, s.org+"/tenants/t1-b", "a", "orchestrator")
	s.service(t, s.org+"/tenants/t3", "z", "orchestrator")
	s.service(t, s.org+"/tenants/default", "m", "test-manager")
	s.folder(t, s.org+"/tenants/t1/services/a", "f")
	s.folder(t, s.org+"/tenants/t1/services/a/folders/f", "g")
	s.project(t, s.org+"/tenants/t1/services/a", "p")
	s.project(t, s.org+"/tenants/t1/services/b", "p")

	listAll := func(parent, typ string, size int32) []string {
		t.Helper()
		var out []string
		token := ""
		for range 20 {
			resp, err := e.c.ListServices(s.ctx, &directoryv1.ListServicesRequest{Parent: parent, Type: typ, PageSize: size, PageToken: token}, e.svc)
			if err != nil {
				t.Fatalf("ListServices(%s, %q, %d): %v", parent, typ, size, err)
			}
			if len(resp.GetServices()) > int(size) && size > 0 {
				t.Fatalf("page of %d > %d", len(resp.GetServices()), size)
			}
			for _, x := range resp.GetServices() {
				out = append(out, strings.TrimPrefix(x.GetName(), s.org+"/tenants/"))
			}
			if token = resp.GetNextPageToken(); token == "" {
				return out
			}
		}
		t.Fatal("too many pages")
		return nil
	}
	// Ordered by tenant, then service (as ListTenants orders tenants: "t1"
	// before "t1-b", although "t1-b/…" < "t1/…" as plain strings).
	all := []string{"default/services/m", "t1/services/a", "t1/services/b", "t1-b/services/a", "t3/services/z"}
	for _, size := range []int32{0, 1, 2, 3} {
		scopeEqual(t, fmt.Sprintf("ListServices - size %d", size), listAll(s.org+"/tenants/-", "", size), all)
	}
	scopeEqual(t, "ListServices - orchestrator", listAll(s.org+"/tenants/-", "orchestrator", 1),
		[]string{"t1/services/a", "t1-b/services/a", "t3/services/z"})
	scopeEqual(t, "ListServices t1", listAll(s.org+"/tenants/t1", "", 1), []string{"t1/services/a", "t1/services/b"})
	_, err := e.c.ListServices(s.ctx, &directoryv1.ListServicesRequest{Parent: s.org + "/tenants/nope"}, e.svc)
	scopeWant(t, "ListServices of a missing tenant", err, codes.NotFound, "NOT_FOUND")

	// A token is bound to its request.
	first, err := e.c.ListServices(s.ctx, &directoryv1.ListServicesRequest{Parent: s.org + "/tenants/-", PageSize: 1}, e.svc)
	if err != nil || first.GetNextPageToken() == "" {
		t.Fatalf("first page: %v, %v", first, err)
	}
	for name, req := range map[string]*directoryv1.ListServicesRequest{
		"other type":   {Parent: s.org + "/tenants/-", Type: "insights", PageToken: first.GetNextPageToken()},
		"other parent": {Parent: s.org + "/tenants/t1", PageToken: first.GetNextPageToken()},
		"garbage":      {Parent: s.org + "/tenants/-", PageToken: "garbage"},
	} {
		_, err := e.c.ListServices(s.ctx, req, e.svc)
		scopeWant(t, "token "+name, err, codes.InvalidArgument, "")
	}

	// Projects.
	orch := s.org + "/tenants/t3/services/z"
	for _, id := range []string{"p3", "p1", "p2"} {
		s.project(t, orch, id)
	}
	var projects []string
	token = ""
	for range 10 {
		resp, err := e.c.ListProjects(s.ctx, &directoryv1.ListProjectsRequest{Parent: orch, PageSize: 2, PageToken: token}, e.svc)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range resp.GetProjects() {
			projects = append(projects, strings.TrimPrefix(x.GetName(), orch+"/"))
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	scopeEqual(t, "paged projects", projects, []string{"projects/p1", "projects/p2", "projects/p3"})
}

// R2: ListFolders lists direct children, or with recursive the subtree
// depth-first, parents before children, paging either way.
func TestScopeListFolders(t *testing.T) {
	s := newScopeTree(t)
	e := s.e
	orch := s.service(t, s.org+"/tenants/default", "orch", "orchestrator").GetName()
	s.project(t, orch, "p")
	for _, parent := range []string{"", "a", "a/folders/x", "a-b", "b"} {
		base := orch
		if parent != "" {
			base = orch + "/folders/" + parent
		}
		switch parent {
		case "":
			s.folder(t, orch, "a")
			s.folder(t, orch, "a-b")
			s.folder(t, orch, "b")
		case "a":
			s.folder(t, base, "x")
			s.folder(t, base, "y")
		case "a/folders/x":
			s.folder(t, base, "deep")
		case "a-b":
			s.folder(t, base, "z")
		}
	}
	list := func(parent string, recursive bool, size int32) []string {
		t.Helper()
		var out []string
		token := ""
		for range 20 {
			resp, err := e.c.ListFolders(s.ctx, &directoryv1.ListFoldersRequest{Parent: parent, Recursive: recursive, PageSize: size, PageToken: token}, e.svc)
			if err != nil {
				t.Fatalf("ListFolders: %v", err)
			}
			if resp.GetSequence() == 0 {
				t.Error("ListFolders without sequence")
			}
			for _, f := range resp.GetFolders() {
				out = append(out, strings.TrimPrefix(f.GetName(), orch+"/"))
			}
			if token = resp.GetNextPageToken(); token == "" {
				return out
			}
		}
		t.Fatal("too many pages")
		return nil
	}
	for _, size := range []int32{0, 1, 2} {
		scopeEqual(t, "direct", list(orch, false, size), []string{"folders/a", "folders/a-b", "folders/b", "folders/shared"})
		scopeEqual(t, "recursive", list(orch, true, size), []string{
			"folders/a",
			"folders/a/folders/x",
			"folders/a/folders/x/folders/deep",
			"folders/a/folders/y",
			"folders/a-b",
			"folders/a-b/folders/z",
			"folders/b",
			"folders/shared",
		})
		scopeEqual(t, "recursive under a", list(orch+"/folders/a", true, size), []string{
			"folders/a/folders/x",
			"folders/a/folders/x/folders/deep",
			"folders/a/folders/y",
		})
	}
	// A recursive token does not continue a direct listing.
	resp, err := e.c.ListFolders(s.ctx, &directoryv1.ListFoldersRequest{Parent: orch, Recursive: true, PageSize: 1}, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.c.ListFolders(s.ctx, &directoryv1.ListFoldersRequest{Parent: orch, PageSize: 1, PageToken: resp.GetNextPageToken()}, e.svc)
	scopeWant(t, "recursive token on direct list", err, codes.InvalidArgument, "")
	_, err = e.c.ListFolders(s.ctx, &directoryv1.ListFoldersRequest{Parent: orch + "/folders/nope"}, e.svc)
	scopeWant(t, "missing parent", err, codes.NotFound, "NOT_FOUND")
}

// R2: ListScopeAncestors returns the chain from the organization down, with
// display names and the service type from the service down.
func TestScopeAncestors(t *testing.T) {
	s := newScopeTree(t)
	e := s.e
	tn := s.tenant(t, "t1").GetName()
	orch := s.service(t, tn, "orch", "orchestrator").GetName()
	f := s.folder(t, orch, "f").GetName()
	g := s.folder(t, f, "g").GetName()
	hub := s.service(t, tn, "hub", "automation-hub").GetName()
	p := s.project(t, hub, "p").GetName()

	org := s.su.GetOrganization()
	render := func(name string) []string {
		t.Helper()
		resp, err := e.c.ListScopeAncestors(s.ctx, &directoryv1.ListScopeAncestorsRequest{Name: name}, e.svc)
		if err != nil {
			t.Fatalf("ListScopeAncestors(%s): %v", name, err)
		}
		if resp.GetSequence() == 0 {
			t.Errorf("ListScopeAncestors(%s): no sequence", name)
		}
		var out []string
		for _, n := range resp.GetNodes() {
			out = append(out, fmt.Sprintf("%s|%s|%s|%s", n.GetName(), n.GetKind(), n.GetDisplayName(), n.GetServiceType()))
		}
		return out
	}
	orgLine := org.GetName() + "|SCOPE_KIND_ORGANIZATION|" + org.GetDisplayName() + "|"
	tenantLine := tn + "|SCOPE_KIND_TENANT|Tenant t1|"
	scopeEqual(t, "organization", render(org.GetName()), []string{orgLine})
	scopeEqual(t, "tenant", render(tn), []string{orgLine, tenantLine})
	scopeEqual(t, "nested folder", render(g), []string{
		orgLine, tenantLine,
		orch + "|SCOPE_KIND_SERVICE|Service orch|orchestrator",
		f + "|SCOPE_KIND_FOLDER|Folder f|orchestrator",
		g + "|SCOPE_KIND_FOLDER|Folder g|orchestrator",
	})
	scopeEqual(t, "project", render(p), []string{
		orgLine, tenantLine,
		hub + "|SCOPE_KIND_SERVICE|Service hub|automation-hub",
		p + "|SCOPE_KIND_PROJECT|Project p|automation-hub",
	})
	for _, missing := range []string{f + "/folders/nope", orch + "/projects/nope", s.org + "/tenants/nope/services/x", "organizations/nope"} {
		_, err := e.c.ListScopeAncestors(s.ctx, &directoryv1.ListScopeAncestorsRequest{Name: missing}, e.svc)
		scopeWant(t, "missing "+missing, err, codes.NotFound, "NOT_FOUND")
	}
	_, err := e.c.ListScopeAncestors(s.ctx, &directoryv1.ListScopeAncestorsRequest{Name: orch + "/projects/p/folders/f"}, e.svc)
	scopeWant(t, "malformed name", err, codes.InvalidArgument, "")
}

// R2: created and updated events carry the record, the organization and a
// human message; errors emit nothing.
func TestScopeEvents(t *testing.T) {
	s := newScopeTree(t)
	e := s.e
	start := s.head(t)
	tn := s.tenant(t, "t1").GetName()
	svc := s.service(t, tn, "orch", "orchestrator")
	f := s.folder(t, svc.GetName(), "f").GetName()
	p := s.project(t, svc.GetName(), "p").GetName()
	if _, err := e.c.UpdateService(s.ctx, &directoryv1.UpdateServiceRequest{
		Service: &directoryv1.Service{Name: svc.GetName(), Description: "d"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"description"}},
	}, e.svc); err != nil {
		t.Fatal(err)
	}
	// Refused calls change nothing and emit nothing.
	_, err := e.c.DeleteService(s.ctx, &directoryv1.DeleteServiceRequest{Name: svc.GetName()}, e.svc)
	scopeWant(t, "DeleteService with children", err, codes.FailedPrecondition, "NODE_HAS_CHILDREN")
	_, err = e.c.CreateFolder(s.ctx, &directoryv1.CreateFolderRequest{Parent: f, FolderId: "f", Folder: &directoryv1.Folder{DisplayName: "x"}}, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.c.CreateFolder(s.ctx, &directoryv1.CreateFolderRequest{Parent: f, FolderId: "f", Folder: &directoryv1.Folder{DisplayName: "x"}}, e.svc)
	scopeWant(t, "CreateFolder taken", err, codes.AlreadyExists, "ALREADY_EXISTS")
	evs := e.eventsAfter(start)
	scopeEqual(t, "events", scopeEventList(evs), []string{
		"directory.tenant.created " + tn,
		"directory.service.created " + svc.GetName(),
		"directory.folder.created " + svc.GetName() + "/folders/shared",
		"directory.folder.created " + f,
		"directory.project.created " + p,
		"directory.service.updated " + svc.GetName(),
		"directory.folder.created " + f + "/folders/f",
	})
	for _, ev := range evs {
		if ev.GetOrganization() != s.org || ev.GetData() == nil || ev.GetAudit().GetMessage() == "" {
			t.Errorf("event %v lacks organization, data or message", ev)
		}
		wantOp := eventlogv1.Operation_OPERATION_CREATE
		if strings.HasSuffix(ev.GetType(), ".updated") {
			wantOp = eventlogv1.Operation_OPERATION_UPDATE
		}
		if ev.GetOperation() != wantOp {
			t.Errorf("event %s: operation %v", ev.GetType(), ev.GetOperation())
		}
	}
	data := &directoryv1.Service{}
	if err := evs[5].GetData().UnmarshalTo(data); err != nil || data.GetDescription() != "d" || data.GetType() != "orchestrator" {
		t.Errorf("service.updated data = %v, %v", data, err)
	}
	if got := evs[1].GetAudit().GetMessage(); got != "Service Service orch was created." {
		t.Errorf("message = %q", got)
	}
}
