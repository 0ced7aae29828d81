package domain

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/pagetoken"
	"steward.dev/pkg/records"
	"steward.dev/pkg/store"
)

// The scope tree (R2): organization > tenants > services > folders
// (nestable, orchestrator services only) or projects. Every node is a record
// stored under its resource name, so a node's descendants are the records
// whose names start with its name and "/".

// serviceTypeOrchestrator is the only service type whose services hold
// folders.
const serviceTypeOrchestrator = "orchestrator"

// The default folder of every Orchestrator service (CATALOGUE.md "Default
// groups"; UiPath names it Shared): the directory creates it with the
// service, in the same transaction and with its own folder-created event,
// and access makes the default groups' folder roles there, not at the
// whole service.
const (
	// SharedFolderID is the folder's ID: "{service}/folders/shared".
	SharedFolderID = "shared"
	// SharedFolderDisplayName is its display name.
	SharedFolderDisplayName = "Shared"
)

// SharedFolderOf returns the name of the Shared folder of the service
// named service.
func SharedFolderOf(service string) string { return service + "/folders/" + SharedFolderID }

// scopeFields are the fields UpdateTenant, UpdateService, UpdateFolder and
// UpdateProject change.
var scopeFields = []string{"display_name", "description"}

// scopeChain returns the names of the nodes from the organization down to
// name, with their kinds, or false when name is not a scope-tree node name:
// "organizations/{o}[/tenants/{t}[/services/{s}[/projects/{p} | (/folders/{f})+]]]".
func scopeChain(name string) ([]string, []directoryv1.ScopeKind, bool) {
	segs := strings.Split(name, "/")
	if len(segs)%2 != 0 {
		return nil, nil, false
	}
	var names []string
	var kinds []directoryv1.ScopeKind
	for i := 0; i < len(segs); i += 2 {
		coll, id := segs[i], segs[i+1]
		if id == "" {
			return nil, nil, false
		}
		var want string
		var kind directoryv1.ScopeKind
		switch {
		case i == 0:
			want, kind = "organizations", directoryv1.ScopeKind_SCOPE_KIND_ORGANIZATION
		case i == 2:
			want, kind = "tenants", directoryv1.ScopeKind_SCOPE_KIND_TENANT
		case i == 4:
			want, kind = "services", directoryv1.ScopeKind_SCOPE_KIND_SERVICE
		case coll == "projects" && i == 6 && len(segs) == 8:
			want, kind = "projects", directoryv1.ScopeKind_SCOPE_KIND_PROJECT
		default:
			want, kind = "folders", directoryv1.ScopeKind_SCOPE_KIND_FOLDER
		}
		if coll != want {
			return nil, nil, false
		}
		names = append(names, strings.Join(segs[:i+2], "/"))
		kinds = append(kinds, kind)
	}
	return names, kinds, true
}

// scopeKindOf returns the kind of the scope-tree node named name, or
// SCOPE_KIND_UNSPECIFIED when name is no node name.
func scopeKindOf(name string) directoryv1.ScopeKind {
	_, kinds, ok := scopeChain(name)
	if !ok {
		return directoryv1.ScopeKind_SCOPE_KIND_UNSPECIFIED
	}
	return kinds[len(kinds)-1]
}

// scopeServiceOf returns the service a service, folder or project name lies
// in (the node itself for a service), or "" above services.
func scopeServiceOf(name string) string {
	segs := strings.SplitN(name, "/", 7)
	if len(segs) < 6 || segs[4] != "services" {
		return ""
	}
	return strings.Join(segs[:6], "/")
}

// scopeNode describes one kind of stored node: a new empty record, its
// event types and the word audit messages use.
type scopeNode struct {
	newRec                     func() proto.Message
	created, updated, deleted  string
	noun                       string
	requestField, childrenText string
}

var scopeNodes = map[directoryv1.ScopeKind]scopeNode{
	directoryv1.ScopeKind_SCOPE_KIND_TENANT: {
		newRec:  func() proto.Message { return &directoryv1.Tenant{} },
		created: TypeTenantCreated, updated: TypeTenantUpdated, deleted: TypeTenantDeleted,
		noun: "Tenant", requestField: "tenant", childrenText: "services",
	},
	directoryv1.ScopeKind_SCOPE_KIND_SERVICE: {
		newRec:  func() proto.Message { return &directoryv1.Service{} },
		created: TypeServiceCreated, updated: TypeServiceUpdated, deleted: TypeServiceDeleted,
		noun: "Service", requestField: "service", childrenText: "folders or projects",
	},
	directoryv1.ScopeKind_SCOPE_KIND_FOLDER: {
		newRec:  func() proto.Message { return &directoryv1.Folder{} },
		created: TypeFolderCreated, updated: TypeFolderUpdated, deleted: TypeFolderDeleted,
		noun: "Folder", requestField: "folder", childrenText: "subfolders",
	},
	directoryv1.ScopeKind_SCOPE_KIND_PROJECT: {
		newRec:  func() proto.Message { return &directoryv1.Project{} },
		created: TypeProjectCreated, updated: TypeProjectUpdated, deleted: TypeProjectDeleted,
		noun: "Project", requestField: "project", childrenText: "children",
	},
}

// scopeCreate creates a node of kind in collection (e.g. "/tenants/") under
// parent (createRecord); check, if not nil, may refuse it, build makes the
// new record, named name, and after, if not nil, creates the nodes it
// comes with in the same transaction.
func scopeCreate[T proto.Message](ctx context.Context, s *Service, actor Actor, req proto.Message, requestID, parent, collection, id string,
	kind directoryv1.ScopeKind, check func(t *txn) error, build func(t *txn, name string) T, after func(t *txn, rec T) error,
) (T, error) {
	node := scopeNodes[kind]
	return createRecord(ctx, s, actor, node.newRec().(T), recordCreate[T]{
		req: req, requestID: requestID,
		parent: parent, collection: collection, id: id,
		check: check, build: build, after: after,
		typ: node.created,
		message: func(rec T) string {
			return fmt.Sprintf("%s %s was created.", node.noun, getStringField(rec, "display_name"))
		},
	})
}

// scopeUpdate applies the update of rec (named by its name field) to the
// node of kind under the update mask paths, which may name display_name
// and description (updateRecord). check, if not nil, sees the current
// record and may refuse the update or narrow the paths, or tell not to
// apply the mask at all.
func scopeUpdate[T proto.Message](ctx context.Context, s *Service, actor Actor, rec T, paths []string, kind directoryv1.ScopeKind,
	check func(cur T, paths []string) ([]string, bool, error),
) (T, error) {
	node := scopeNodes[kind]
	return updateRecord(ctx, s, actor, node.newRec().(T), recordUpdate[T]{
		name: getStringField(rec, "name"), etag: getStringField(rec, "etag"),
		edit: func(_ *txn, cur, next T) error {
			mask, apply := paths, true
			if check != nil {
				var err error
				if mask, apply, err = check(cur, paths); err != nil {
					return err
				}
			}
			if apply {
				if err := applyMask(next, rec, mask, scopeFields...); err != nil {
					return err
				}
			}
			if getStringField(next, "display_name") == "" {
				return fieldError(node.requestField+".display_name", "must not be empty")
			}
			return nil
		},
		typ: node.updated,
		message: func(next T) string {
			return fmt.Sprintf("%s %s was updated.", node.noun, getStringField(next, "display_name"))
		},
	})
}

// deleteScopeNode deletes the node named name of kind. A node with children
// fails with ErrNodeHasChildren unless force is set (a service's Shared
// folder without subfolders does not count); every descendant goes first,
// deepest first, each with its deleted event.
func (s *Service) deleteScopeNode(ctx context.Context, actor Actor, name, etag string, force bool, kind directoryv1.ScopeKind) error {
	node := scopeNodes[kind]
	return deleteRecord(ctx, s, actor, name, etag, node.newRec(), func(t *txn, cur proto.Message) error {
		names, err := descendants(t, name)
		if err != nil {
			return err
		}
		// A service's Shared folder is part of the service: alone (without
		// subfolders) it does not count as a child.
		blocking := slices.DeleteFunc(slices.Clone(names), func(n string) bool {
			return kind == directoryv1.ScopeKind_SCOPE_KIND_SERVICE && n == SharedFolderOf(name)
		})
		if len(blocking) > 0 && !force {
			return errorf(ErrNodeHasChildren, "%s still has %s; delete them first or set force", name, node.childrenText)
		}
		display := getStringField(cur, "display_name")
		for _, n := range names {
			child, ok := scopeNodes[scopeKindOf(n)]
			if !ok {
				// Not a scope-tree node (nothing else is stored below
				// nodes today): removed with its node, without event.
				if err := t.del(n); err != nil {
					return err
				}
				continue
			}
			m := child.newRec()
			if err := get(t, n, m); err != nil {
				return err
			}
			msg := fmt.Sprintf("%s %s was deleted with %s %s.", child.noun, getStringField(m, "display_name"), strings.ToLower(node.noun), display)
			if err := t.remove(m, child.deleted, msg); err != nil {
				return err
			}
		}
		return t.remove(cur, node.deleted, fmt.Sprintf("%s %s was deleted.", node.noun, display))
	})
}

// scopeKeepAll is the keep function of unfiltered lists.
func scopeKeepAll[T any](T) (bool, error) { return true, nil }

// --- Tenants ---

// GetTenant reads a tenant.
func (s *Service) GetTenant(ctx context.Context, actor Actor, req *directoryv1.GetTenantRequest) (*directoryv1.Tenant, error) {
	return getRecord(ctx, s, actor, req.GetName(), &directoryv1.Tenant{})
}

// ListTenants lists an organization's tenants, ordered by name.
func (s *Service) ListTenants(ctx context.Context, actor Actor, req *directoryv1.ListTenantsRequest) (*directoryv1.ListTenantsResponse, error) {
	parent := req.GetParent()
	if err := actor.visible(parent); err != nil {
		return nil, err
	}
	resp := &directoryv1.ListTenantsResponse{}
	return listRecords(ctx, s, resp, func(tx store.ReadTx) error {
		if err := mustExist(tx, parent); err != nil {
			return err
		}
		var err error
		resp.Tenants, resp.NextPageToken, err = listPage(tx, parent+"/tenants/", req.GetPageToken(), req.GetPageSize(),
			pagetoken.Fingerprint("ListTenants", parent), func() *directoryv1.Tenant { return &directoryv1.Tenant{} }, scopeKeepAll)
		return err
	})
}

// CreateTenant creates a tenant in an organization (idempotent with
// request_id).
func (s *Service) CreateTenant(ctx context.Context, actor Actor, req *directoryv1.CreateTenantRequest) (*directoryv1.Tenant, error) {
	in := req.GetTenant()
	if in.GetDisplayName() == "" {
		return nil, fieldError("tenant.display_name", "is required")
	}
	return scopeCreate(ctx, s, actor, req, req.GetRequestId(), req.GetParent(), "/tenants/", req.GetTenantId(),
		directoryv1.ScopeKind_SCOPE_KIND_TENANT, nil, func(t *txn, name string) *directoryv1.Tenant {
			return &directoryv1.Tenant{
				Name:        name,
				DisplayName: in.GetDisplayName(),
				Description: in.GetDescription(),
				CreateTime:  t.Timestamp(),
				UpdateTime:  t.Timestamp(),
			}
		}, nil)
}

// UpdateTenant changes a tenant's display name and description (FieldMask,
// etag).
func (s *Service) UpdateTenant(ctx context.Context, actor Actor, req *directoryv1.UpdateTenantRequest) (*directoryv1.Tenant, error) {
	return scopeUpdate(ctx, s, actor, req.GetTenant(), req.GetUpdateMask().GetPaths(), directoryv1.ScopeKind_SCOPE_KIND_TENANT, nil)
}

// DeleteTenant deletes a tenant; with force also its services, folders and
// projects, else a tenant with services fails with ErrNodeHasChildren.
func (s *Service) DeleteTenant(ctx context.Context, actor Actor, req *directoryv1.DeleteTenantRequest) error {
	return s.deleteScopeNode(ctx, actor, req.GetName(), req.GetEtag(), req.GetForce(), directoryv1.ScopeKind_SCOPE_KIND_TENANT)
}

// --- Services ---

// GetService reads a service.
func (s *Service) GetService(ctx context.Context, actor Actor, req *directoryv1.GetServiceRequest) (*directoryv1.Service, error) {
	return getRecord(ctx, s, actor, req.GetName(), &directoryv1.Service{})
}

// ListServices lists a tenant's services, or with the tenant ID "-" those
// of every tenant of the organization (by tenant, then service), ordered by
// name and optionally only those of one type.
func (s *Service) ListServices(ctx context.Context, actor Actor, req *directoryv1.ListServicesRequest) (*directoryv1.ListServicesResponse, error) {
	parent := req.GetParent()
	if err := actor.visible(parent); err != nil {
		return nil, err
	}
	typ := req.GetType()
	keep := func(svc *directoryv1.Service) (bool, error) { return typ == "" || svc.GetType() == typ, nil }
	fp := pagetoken.Fingerprint("ListServices", parent, typ)
	resp := &directoryv1.ListServicesResponse{}
	return listRecords(ctx, s, resp, func(tx store.ReadTx) error {
		var err error
		if org, ok := strings.CutSuffix(parent, "/tenants/-"); ok {
			if err := mustExist(tx, org); err != nil {
				return err
			}
			resp.Services, resp.NextPageToken, err = scopeAllServicesPage(tx, org, req.GetPageToken(), req.GetPageSize(), fp, keep)
			return err
		}
		if err := mustExist(tx, parent); err != nil {
			return err
		}
		resp.Services, resp.NextPageToken, err = listPage(tx, parent+"/services/", req.GetPageToken(), req.GetPageSize(), fp,
			func() *directoryv1.Service { return &directoryv1.Service{} }, keep)
		return err
	})
}

// scopeScanChildren calls fn with the records that are direct children of the
// store-key prefix (which ends in "/"), in key order, starting at start
// (nil: from the first). Unlike a plain scan it skips each child's subtree
// with a new seek rather than walking it, so listing services does not read
// their folders and projects. It stops when fn returns false or an error.
func scopeScanChildren(tx store.ReadTx, prefix, start []byte, fn func(key, value []byte) (bool, error)) error {
	cursor := start
	for {
		var key, value []byte
		err := tx.Scan(prefix, cursor, func(k, v []byte) (bool, error) {
			key, value = bytes.Clone(k), bytes.Clone(v)
			return false, nil
		})
		if err != nil || key == nil {
			return err
		}
		rest := key[len(prefix):]
		if i := bytes.IndexByte(rest, '/'); i >= 0 {
			// A record below the child rest[:i]: skip its whole subtree. Every
			// key starting with rest[:i]+"/" sorts before rest[:i]+"0", as '0'
			// follows '/'.
			cursor = append(append(slices.Clip(prefix), rest[:i]...), '0')
			continue
		}
		more, err := fn(key, value)
		if err != nil || !more {
			return err
		}
		cursor = append(key, 0)
	}
}

// scopeAllServicesPage is ListServices over every tenant of org (AIP-159 "-"):
// services ordered by tenant ID (as ListTenants orders them), then service
// ID. Its page token is the store key of the last service returned.
func scopeAllServicesPage(tx store.ReadTx, org, pageToken string, pageSize int32, fingerprint uint64, keep func(*directoryv1.Service) (bool, error)) ([]*directoryv1.Service, string, error) {
	after, err := pagetoken.Decode(pageToken, fingerprint)
	if err != nil {
		return nil, "", records.InvalidPageToken()
	}
	size := records.PageSize(pageSize)
	tenantsPrefix := []byte(recordPrefix + org + "/tenants/")
	var out []*directoryv1.Service
	var next string
	var lastKey []byte
	// visit collects the services of the tenant whose store key is tenantKey,
	// from start on; it returns false when the page is complete.
	visit := func(tenantKey, start []byte) (bool, error) {
		full := false
		prefix := append(slices.Clip(tenantKey), "/services/"...)
		err := scopeScanChildren(tx, prefix, start, func(k, v []byte) (bool, error) {
			svc := &directoryv1.Service{}
			if err := proto.Unmarshal(v, svc); err != nil {
				return false, err
			}
			ok, err := keep(svc)
			if err != nil || !ok {
				return err == nil, err
			}
			if len(out) == size {
				next, full = pagetoken.Encode(lastKey, fingerprint), true
				return false, nil
			}
			out = append(out, svc)
			lastKey = k
			return true, nil
		})
		return !full, err
	}
	var tenantStart []byte
	if after != nil {
		// after is ".../tenants/{t}/services/{s}": finish tenant t, then go on
		// with the tenants after it.
		rest, ok := bytes.CutPrefix(after, tenantsPrefix)
		parts := bytes.Split(rest, []byte("/"))
		if !ok || len(parts) != 3 || string(parts[1]) != "services" || len(parts[0]) == 0 || len(parts[2]) == 0 {
			return nil, "", records.InvalidPageToken()
		}
		tenantKey := append(slices.Clip(tenantsPrefix), parts[0]...)
		more, err := visit(tenantKey, append(slices.Clip(after), 0))
		if err != nil || !more {
			return out, next, err
		}
		tenantStart = append(tenantKey, 0)
	}
	err = scopeScanChildren(tx, tenantsPrefix, tenantStart, func(k, _ []byte) (bool, error) {
		return visit(k, nil)
	})
	return out, next, err
}

// CreateService creates a service in a tenant (idempotent with request_id);
// its creator is the actor. An Orchestrator service comes with its Shared
// folder, created in the same transaction with its own event.
func (s *Service) CreateService(ctx context.Context, actor Actor, req *directoryv1.CreateServiceRequest) (*directoryv1.Service, error) {
	in := req.GetService()
	if in.GetDisplayName() == "" {
		return nil, fieldError("service.display_name", "is required")
	}
	if in.GetType() == "" {
		return nil, fieldError("service.type", "is required")
	}
	return scopeCreate(ctx, s, actor, req, req.GetRequestId(), req.GetParent(), "/services/", req.GetServiceId(),
		directoryv1.ScopeKind_SCOPE_KIND_SERVICE, nil, func(t *txn, name string) *directoryv1.Service {
			return &directoryv1.Service{
				Name:        name,
				DisplayName: in.GetDisplayName(),
				Description: in.GetDescription(),
				Type:        in.GetType(),
				Creator:     t.actor.Name,
				CreateTime:  t.Timestamp(),
				UpdateTime:  t.Timestamp(),
			}
		}, func(t *txn, svc *directoryv1.Service) error {
			if svc.GetType() != serviceTypeOrchestrator {
				return nil
			}
			return t.insertSharedFolder(svc, fmt.Sprintf("Folder %s was created with service %s.", SharedFolderDisplayName, svc.GetDisplayName()))
		})
}

// UpdateService changes a service's display name and description
// (FieldMask, etag). Its type is immutable: a mask naming "type" with
// another value fails on update_mask, and without a mask a different type
// fails on service.type.
func (s *Service) UpdateService(ctx context.Context, actor Actor, req *directoryv1.UpdateServiceRequest) (*directoryv1.Service, error) {
	in := req.GetService()
	return scopeUpdate(ctx, s, actor, in, req.GetUpdateMask().GetPaths(), directoryv1.ScopeKind_SCOPE_KIND_SERVICE,
		func(cur *directoryv1.Service, paths []string) ([]string, bool, error) {
			if len(paths) == 0 {
				if in.GetType() != "" && in.GetType() != cur.GetType() {
					return nil, false, fieldError("service.type", "is immutable: the service is of type %q", cur.GetType())
				}
				return paths, true, nil
			}
			if !slices.Contains(paths, "type") {
				return paths, true, nil
			}
			if in.GetType() != cur.GetType() {
				return nil, false, fieldError("update_mask", "type is immutable: the service is of type %q", cur.GetType())
			}
			rest := slices.DeleteFunc(slices.Clone(paths), func(p string) bool { return p == "type" })
			return rest, len(rest) > 0, nil
		})
}

// DeleteService deletes a service; with force also its folders and
// projects, else a service with children fails with ErrNodeHasChildren.
func (s *Service) DeleteService(ctx context.Context, actor Actor, req *directoryv1.DeleteServiceRequest) error {
	return s.deleteScopeNode(ctx, actor, req.GetName(), req.GetEtag(), req.GetForce(), directoryv1.ScopeKind_SCOPE_KIND_SERVICE)
}

// --- Folders ---

// GetFolder reads a folder.
func (s *Service) GetFolder(ctx context.Context, actor Actor, req *directoryv1.GetFolderRequest) (*directoryv1.Folder, error) {
	return getRecord(ctx, s, actor, req.GetName(), &directoryv1.Folder{})
}

// ListFolders lists the folders directly in a service or folder, or with
// recursive its whole subtree depth-first (parents before children,
// siblings by name).
func (s *Service) ListFolders(ctx context.Context, actor Actor, req *directoryv1.ListFoldersRequest) (*directoryv1.ListFoldersResponse, error) {
	parent := req.GetParent()
	if err := actor.visible(parent); err != nil {
		return nil, err
	}
	recursive := "direct"
	if req.GetRecursive() {
		recursive = "recursive"
	}
	fp := pagetoken.Fingerprint("ListFolders", parent, recursive)
	resp := &directoryv1.ListFoldersResponse{}
	return listRecords(ctx, s, resp, func(tx store.ReadTx) error {
		if err := mustExist(tx, parent); err != nil {
			return err
		}
		var err error
		if req.GetRecursive() {
			resp.Folders, resp.NextPageToken, err = scopeFolderTreePage(tx, parent, req.GetPageToken(), req.GetPageSize(), fp)
			return err
		}
		resp.Folders, resp.NextPageToken, err = listPage(tx, parent+"/folders/", req.GetPageToken(), req.GetPageSize(), fp,
			func() *directoryv1.Folder { return &directoryv1.Folder{} }, scopeKeepAll)
		return err
	})
}

// scopeFolderTreeKey orders folder names depth-first: with "/" replaced by a byte
// below every ID character, a folder sorts right after its parent and
// before its parent's next sibling (a plain byte order would put "f-x"
// between "f" and "f/folders/g").
func scopeFolderTreeKey(name string) string { return strings.ReplaceAll(name, "/", "\x00") }

// scopeFolderTreePage is a page of the folders below parent, depth-first. Its
// page token is the scopeFolderTreeKey of the last folder returned.
func scopeFolderTreePage(tx store.ReadTx, parent, pageToken string, pageSize int32, fingerprint uint64) ([]*directoryv1.Folder, string, error) {
	after, err := pagetoken.Decode(pageToken, fingerprint)
	if err != nil {
		return nil, "", records.InvalidPageToken()
	}
	prefix := recordPrefix + parent + "/folders/"
	var keys []string
	err = tx.Scan([]byte(prefix), nil, func(k, _ []byte) (bool, error) {
		name := string(k[len(recordPrefix):])
		if scopeKindOf(name) != directoryv1.ScopeKind_SCOPE_KIND_FOLDER {
			return true, nil
		}
		if key := scopeFolderTreeKey(name); after == nil || key > string(after) {
			keys = append(keys, key)
		}
		return true, nil
	})
	if err != nil {
		return nil, "", err
	}
	slices.Sort(keys)
	size := records.PageSize(pageSize)
	var next string
	if len(keys) > size {
		keys = keys[:size]
		next = pagetoken.Encode([]byte(keys[size-1]), fingerprint)
	}
	out := make([]*directoryv1.Folder, 0, len(keys))
	for _, k := range keys {
		f := &directoryv1.Folder{}
		if err := get(tx, strings.ReplaceAll(k, "\x00", "/"), f); err != nil {
			return nil, "", err
		}
		out = append(out, f)
	}
	return out, next, nil
}

// CreateFolder creates a folder in an orchestrator service or in a folder
// (idempotent with request_id); other service types fail with
// ErrServiceTypeMismatch.
func (s *Service) CreateFolder(ctx context.Context, actor Actor, req *directoryv1.CreateFolderRequest) (*directoryv1.Folder, error) {
	in := req.GetFolder()
	if in.GetDisplayName() == "" {
		return nil, fieldError("folder.display_name", "is required")
	}
	parent := req.GetParent()
	svcName := scopeServiceOf(parent)
	if svcName == "" {
		return nil, fieldError("parent", "must be a service or folder resource name")
	}
	check := func(t *txn) error {
		svc := &directoryv1.Service{}
		if err := get(t, svcName, svc); err != nil {
			return err
		}
		if svc.GetType() != serviceTypeOrchestrator {
			return errorf(ErrServiceTypeMismatch, "%s is a %s service; only %s services hold folders", svcName, svc.GetType(), serviceTypeOrchestrator)
		}
		return nil
	}
	return scopeCreate(ctx, s, actor, req, req.GetRequestId(), parent, "/folders/", req.GetFolderId(),
		directoryv1.ScopeKind_SCOPE_KIND_FOLDER, check, func(t *txn, name string) *directoryv1.Folder {
			return &directoryv1.Folder{
				Name:        name,
				DisplayName: in.GetDisplayName(),
				Description: in.GetDescription(),
				CreateTime:  t.Timestamp(),
				UpdateTime:  t.Timestamp(),
			}
		}, nil)
}

// UpdateFolder changes a folder's display name and description (FieldMask,
// etag).
func (s *Service) UpdateFolder(ctx context.Context, actor Actor, req *directoryv1.UpdateFolderRequest) (*directoryv1.Folder, error) {
	return scopeUpdate(ctx, s, actor, req.GetFolder(), req.GetUpdateMask().GetPaths(), directoryv1.ScopeKind_SCOPE_KIND_FOLDER, nil)
}

// DeleteFolder deletes a folder; with force also its subfolders, else a
// folder with subfolders fails with ErrNodeHasChildren.
func (s *Service) DeleteFolder(ctx context.Context, actor Actor, req *directoryv1.DeleteFolderRequest) error {
	return s.deleteScopeNode(ctx, actor, req.GetName(), req.GetEtag(), req.GetForce(), directoryv1.ScopeKind_SCOPE_KIND_FOLDER)
}

// --- Projects ---

// GetProject reads a project.
func (s *Service) GetProject(ctx context.Context, actor Actor, req *directoryv1.GetProjectRequest) (*directoryv1.Project, error) {
	return getRecord(ctx, s, actor, req.GetName(), &directoryv1.Project{})
}

// ListProjects lists a service's projects, ordered by name.
func (s *Service) ListProjects(ctx context.Context, actor Actor, req *directoryv1.ListProjectsRequest) (*directoryv1.ListProjectsResponse, error) {
	parent := req.GetParent()
	if err := actor.visible(parent); err != nil {
		return nil, err
	}
	resp := &directoryv1.ListProjectsResponse{}
	return listRecords(ctx, s, resp, func(tx store.ReadTx) error {
		if err := mustExist(tx, parent); err != nil {
			return err
		}
		var err error
		resp.Projects, resp.NextPageToken, err = listPage(tx, parent+"/projects/", req.GetPageToken(), req.GetPageSize(),
			pagetoken.Fingerprint("ListProjects", parent), func() *directoryv1.Project { return &directoryv1.Project{} }, scopeKeepAll)
		return err
	})
}

// CreateProject creates a project in a service of any type (idempotent with
// request_id).
func (s *Service) CreateProject(ctx context.Context, actor Actor, req *directoryv1.CreateProjectRequest) (*directoryv1.Project, error) {
	in := req.GetProject()
	if in.GetDisplayName() == "" {
		return nil, fieldError("project.display_name", "is required")
	}
	return scopeCreate(ctx, s, actor, req, req.GetRequestId(), req.GetParent(), "/projects/", req.GetProjectId(),
		directoryv1.ScopeKind_SCOPE_KIND_PROJECT, nil, func(t *txn, name string) *directoryv1.Project {
			return &directoryv1.Project{
				Name:        name,
				DisplayName: in.GetDisplayName(),
				Description: in.GetDescription(),
				CreateTime:  t.Timestamp(),
				UpdateTime:  t.Timestamp(),
			}
		}, nil)
}

// UpdateProject changes a project's display name and description
// (FieldMask, etag).
func (s *Service) UpdateProject(ctx context.Context, actor Actor, req *directoryv1.UpdateProjectRequest) (*directoryv1.Project, error) {
	return scopeUpdate(ctx, s, actor, req.GetProject(), req.GetUpdateMask().GetPaths(), directoryv1.ScopeKind_SCOPE_KIND_PROJECT, nil)
}

// DeleteProject deletes a project (projects have no children).
func (s *Service) DeleteProject(ctx context.Context, actor Actor, req *directoryv1.DeleteProjectRequest) error {
	return s.deleteScopeNode(ctx, actor, req.GetName(), req.GetEtag(), false, directoryv1.ScopeKind_SCOPE_KIND_PROJECT)
}

// --- Ancestors ---

// ListScopeAncestors returns the chain of nodes from the organization down
// to the node named in req, with display names and, from the service down,
// the service's type. Any missing node of the chain is ErrNotFound.
func (s *Service) ListScopeAncestors(ctx context.Context, actor Actor, req *directoryv1.ListScopeAncestorsRequest) (*directoryv1.ListScopeAncestorsResponse, error) {
	name := req.GetName()
	if err := actor.visible(name); err != nil {
		return nil, err
	}
	names, kinds, ok := scopeChain(name)
	if !ok {
		return nil, fieldError("name", "must be a scope-tree node name")
	}
	resp := &directoryv1.ListScopeAncestorsResponse{}
	return listRecords(ctx, s, resp, func(tx store.ReadTx) error {
		serviceType := ""
		for i, n := range names {
			var rec proto.Message
			if kinds[i] == directoryv1.ScopeKind_SCOPE_KIND_ORGANIZATION {
				rec = &directoryv1.Organization{}
			} else {
				rec = scopeNodes[kinds[i]].newRec()
			}
			if err := get(tx, n, rec); err != nil {
				return err
			}
			if svc, ok := rec.(*directoryv1.Service); ok {
				serviceType = svc.GetType()
			}
			resp.Nodes = append(resp.Nodes, &directoryv1.ScopeNode{
				Name:        n,
				Kind:        kinds[i],
				DisplayName: getStringField(rec, "display_name"),
				ServiceType: serviceType,
			})
		}
		return nil
	})
}

// --- The Shared folder ---

// insertSharedFolder stores the Shared folder of svc with its created event
// (message is its audit text).
func (t *txn) insertSharedFolder(svc *directoryv1.Service, message string) error {
	f := &directoryv1.Folder{
		Name:        SharedFolderOf(svc.GetName()),
		DisplayName: SharedFolderDisplayName,
		Description: "The default folder of " + svc.GetDisplayName() + ".",
		CreateTime:  t.Timestamp(),
		UpdateTime:  t.Timestamp(),
	}
	return t.insert(f, TypeFolderCreated, message)
}

// migrationActor is who the directory's own data migrations are attributed
// to.
var migrationActor = Actor{Name: "services/directory", DisplayName: "directory"}

// MigrateSharedFolders gives every Orchestrator service created before
// services came with a Shared folder its Shared folder, each with its
// folder-created event, so access moves the default groups' folder roles
// there (issue 9 item 6). It runs once per store: a marker records that it
// ran, so a Shared folder deleted later is not re-created at the next start.
// A service that already holds a folder with the ID "shared" keeps it as
// its Shared folder, with a folder-updated event saying so.
func (s *Service) MigrateSharedFolders(ctx context.Context) error {
	_, err := s.update(ctx, migrationActor, func(t *txn) error {
		if _, err := t.Get([]byte(sharedFoldersMigrated)); !errors.Is(err, store.ErrNotFound) {
			return err // nil: it ran before
		}
		services, err := allServices(t)
		if err != nil {
			return err
		}
		for _, svc := range services {
			if svc.GetType() != serviceTypeOrchestrator {
				continue
			}
			f := &directoryv1.Folder{}
			err := get(t, SharedFolderOf(svc.GetName()), f)
			if err == nil {
				// A folder of that ID was made by hand: it becomes the
				// Shared folder, and its event says so.
				msg := fmt.Sprintf("Folder %s is the default folder of service %s from now on.", f.GetDisplayName(), svc.GetDisplayName())
				if err := t.updated(TypeFolderUpdated, f, msg); err != nil {
					return err
				}
				continue
			}
			if !errors.Is(err, ErrNotFound) {
				return err
			}
			msg := fmt.Sprintf("Folder %s was created in service %s, which had no default folder.", SharedFolderDisplayName, svc.GetDisplayName())
			if err := t.insertSharedFolder(svc, msg); err != nil {
				return err
			}
		}
		return t.Put([]byte(sharedFoldersMigrated), nil)
	})
	return err
}

// sharedFoldersMigrated is the store key of MigrateSharedFolders' marker.
const sharedFoldersMigrated = migrationPrefix + "shared-folders"

// allServices returns every service of every organization, by name.
func allServices(tx store.ReadTx) ([]*directoryv1.Service, error) {
	var out []*directoryv1.Service
	orgs := []byte(recordPrefix + "organizations/")
	err := scopeScanChildren(tx, orgs, nil, func(org, _ []byte) (bool, error) {
		tenants := append(slices.Clip(org), "/tenants/"...)
		return true, scopeScanChildren(tx, tenants, nil, func(tenant, _ []byte) (bool, error) {
			services := append(slices.Clip(tenant), "/services/"...)
			return true, scopeScanChildren(tx, services, nil, func(_, v []byte) (bool, error) {
				svc := &directoryv1.Service{}
				if err := proto.Unmarshal(v, svc); err != nil {
					return false, err
				}
				out = append(out, svc)
				return true, nil
			})
		})
	})
	return out, err
}
