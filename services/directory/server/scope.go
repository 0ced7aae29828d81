package server

import (
	"context"

	"google.golang.org/protobuf/types/known/emptypb"

	directoryv1 "steward.dev/gen/steward/directory/v1"
)

// GetTenant reads a tenant (R2).
func (s *directoryServer) GetTenant(ctx context.Context, req *directoryv1.GetTenantRequest) (*directoryv1.Tenant, error) {
	return reply(s.d.GetTenant(ctx, actorOf(ctx), req))
}

// ListTenants lists an organization's tenants (R2).
func (s *directoryServer) ListTenants(ctx context.Context, req *directoryv1.ListTenantsRequest) (*directoryv1.ListTenantsResponse, error) {
	return reply(s.d.ListTenants(ctx, actorOf(ctx), req))
}

// CreateTenant creates a tenant (R2).
func (s *directoryServer) CreateTenant(ctx context.Context, req *directoryv1.CreateTenantRequest) (*directoryv1.Tenant, error) {
	return reply(s.d.CreateTenant(ctx, actorOf(ctx), req))
}

// UpdateTenant changes a tenant (R2).
func (s *directoryServer) UpdateTenant(ctx context.Context, req *directoryv1.UpdateTenantRequest) (*directoryv1.Tenant, error) {
	return reply(s.d.UpdateTenant(ctx, actorOf(ctx), req))
}

// DeleteTenant deletes a tenant, with force its subtree (R2).
func (s *directoryServer) DeleteTenant(ctx context.Context, req *directoryv1.DeleteTenantRequest) (*emptypb.Empty, error) {
	return empty(s.d.DeleteTenant(ctx, actorOf(ctx), req))
}

// GetService reads a service (R2).
func (s *directoryServer) GetService(ctx context.Context, req *directoryv1.GetServiceRequest) (*directoryv1.Service, error) {
	return reply(s.d.GetService(ctx, actorOf(ctx), req))
}

// ListServices lists a tenant's services, or every tenant's with "-" (R2).
func (s *directoryServer) ListServices(ctx context.Context, req *directoryv1.ListServicesRequest) (*directoryv1.ListServicesResponse, error) {
	return reply(s.d.ListServices(ctx, actorOf(ctx), req))
}

// CreateService creates a typed service (R2).
func (s *directoryServer) CreateService(ctx context.Context, req *directoryv1.CreateServiceRequest) (*directoryv1.Service, error) {
	return reply(s.d.CreateService(ctx, actorOf(ctx), req))
}

// UpdateService changes a service; its type is immutable (R2).
func (s *directoryServer) UpdateService(ctx context.Context, req *directoryv1.UpdateServiceRequest) (*directoryv1.Service, error) {
	return reply(s.d.UpdateService(ctx, actorOf(ctx), req))
}

// DeleteService deletes a service, with force its subtree (R2).
func (s *directoryServer) DeleteService(ctx context.Context, req *directoryv1.DeleteServiceRequest) (*emptypb.Empty, error) {
	return empty(s.d.DeleteService(ctx, actorOf(ctx), req))
}

// GetFolder reads a folder (R2).
func (s *directoryServer) GetFolder(ctx context.Context, req *directoryv1.GetFolderRequest) (*directoryv1.Folder, error) {
	return reply(s.d.GetFolder(ctx, actorOf(ctx), req))
}

// ListFolders lists folders of a service or folder (R2).
func (s *directoryServer) ListFolders(ctx context.Context, req *directoryv1.ListFoldersRequest) (*directoryv1.ListFoldersResponse, error) {
	return reply(s.d.ListFolders(ctx, actorOf(ctx), req))
}

// CreateFolder creates a folder in an orchestrator service or folder (R2).
func (s *directoryServer) CreateFolder(ctx context.Context, req *directoryv1.CreateFolderRequest) (*directoryv1.Folder, error) {
	return reply(s.d.CreateFolder(ctx, actorOf(ctx), req))
}

// UpdateFolder changes a folder (R2).
func (s *directoryServer) UpdateFolder(ctx context.Context, req *directoryv1.UpdateFolderRequest) (*directoryv1.Folder, error) {
	return reply(s.d.UpdateFolder(ctx, actorOf(ctx), req))
}

// DeleteFolder deletes a folder, with force its subfolders (R2).
func (s *directoryServer) DeleteFolder(ctx context.Context, req *directoryv1.DeleteFolderRequest) (*emptypb.Empty, error) {
	return empty(s.d.DeleteFolder(ctx, actorOf(ctx), req))
}

// GetProject reads a project (R2).
func (s *directoryServer) GetProject(ctx context.Context, req *directoryv1.GetProjectRequest) (*directoryv1.Project, error) {
	return reply(s.d.GetProject(ctx, actorOf(ctx), req))
}

// ListProjects lists a service's projects (R2).
func (s *directoryServer) ListProjects(ctx context.Context, req *directoryv1.ListProjectsRequest) (*directoryv1.ListProjectsResponse, error) {
	return reply(s.d.ListProjects(ctx, actorOf(ctx), req))
}

// CreateProject creates a project in a service (R2).
func (s *directoryServer) CreateProject(ctx context.Context, req *directoryv1.CreateProjectRequest) (*directoryv1.Project, error) {
	return reply(s.d.CreateProject(ctx, actorOf(ctx), req))
}

// UpdateProject changes a project (R2).
func (s *directoryServer) UpdateProject(ctx context.Context, req *directoryv1.UpdateProjectRequest) (*directoryv1.Project, error) {
	return reply(s.d.UpdateProject(ctx, actorOf(ctx), req))
}

// DeleteProject deletes a project (R2).
func (s *directoryServer) DeleteProject(ctx context.Context, req *directoryv1.DeleteProjectRequest) (*emptypb.Empty, error) {
	return empty(s.d.DeleteProject(ctx, actorOf(ctx), req))
}

// ListScopeAncestors returns a node's chain from the organization down (R2).
func (s *directoryServer) ListScopeAncestors(ctx context.Context, req *directoryv1.ListScopeAncestorsRequest) (*directoryv1.ListScopeAncestorsResponse, error) {
	return reply(s.d.ListScopeAncestors(ctx, actorOf(ctx), req))
}
