package domain

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/pagetoken"
	"steward.dev/pkg/resourcename"
	"steward.dev/pkg/store"
)

// departmentMaskFields are the Department fields UpdateDepartment may
// change (AIP-134).
var departmentMaskFields = []string{"display_name", "parent_department"}

// orgDepartments returns every department of org by name.
func orgDepartments(tx store.ReadTx, org string) (map[string]*directoryv1.Department, error) {
	prefix := recordPrefix + org + "/departments/"
	out := map[string]*directoryv1.Department{}
	err := tx.Scan([]byte(prefix), nil, func(k, v []byte) (bool, error) {
		if strings.Contains(string(k[len(prefix):]), "/") {
			return true, nil
		}
		d := &directoryv1.Department{}
		if err := proto.Unmarshal(v, d); err != nil {
			return false, fmt.Errorf("domain: department %s: %w", k, err)
		}
		out[d.GetName()] = d
		return true, nil
	})
	return out, err
}

// departmentSubtree returns root and every department below it (R7).
func departmentSubtree(depts map[string]*directoryv1.Department, root string) map[string]bool {
	children := map[string][]string{}
	for name, d := range depts {
		if p := d.GetParentDepartment(); p != "" {
			children[p] = append(children[p], name)
		}
	}
	in := map[string]bool{root: true}
	queue := []string{root}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, c := range children[n] {
			if !in[c] {
				in[c] = true
				queue = append(queue, c)
			}
		}
	}
	return in
}

// GetDepartment reads a department (R7).
func (s *Service) GetDepartment(ctx context.Context, actor Actor, req *directoryv1.GetDepartmentRequest) (*directoryv1.Department, error) {
	return getRecord(ctx, s, actor, req.GetName(), &directoryv1.Department{})
}

// ListDepartments lists an organization's departments ordered by name: the
// whole tree, or the direct children of parent_department.
func (s *Service) ListDepartments(ctx context.Context, actor Actor, req *directoryv1.ListDepartmentsRequest) (*directoryv1.ListDepartmentsResponse, error) {
	org, parent := req.GetParent(), req.GetParentDepartment()
	if err := actor.visible(org); err != nil {
		return nil, err
	}
	if parent != "" {
		if err := actor.visible(parent); err != nil {
			return nil, err
		}
		if err := sameOrg(org, parent); err != nil {
			return nil, err
		}
	}
	fp := pagetoken.Fingerprint("ListDepartments", org, parent)
	resp := &directoryv1.ListDepartmentsResponse{}
	return listRecords(ctx, s, resp, func(tx store.ReadTx) error {
		if err := get(tx, org, &directoryv1.Organization{}); err != nil {
			return err
		}
		if parent != "" {
			if err := get(tx, parent, &directoryv1.Department{}); err != nil {
				return err
			}
		}
		depts, next, err := listPage(tx, org+"/departments/", req.GetPageToken(), req.GetPageSize(), fp,
			func() *directoryv1.Department { return &directoryv1.Department{} },
			func(d *directoryv1.Department) (bool, error) {
				return parent == "" || d.GetParentDepartment() == parent, nil
			})
		resp.Departments, resp.NextPageToken = depts, next
		return err
	})
}

// CreateDepartment creates a department under parent_department, or under
// the root department when that is empty (R7).
func (s *Service) CreateDepartment(ctx context.Context, actor Actor, req *directoryv1.CreateDepartmentRequest) (*directoryv1.Department, error) {
	org, in := req.GetParent(), req.GetDepartment()
	if in.GetDisplayName() == "" {
		return nil, fieldError("department.display_name", "display_name is required")
	}
	var parent string
	return createRecord(ctx, s, actor, &directoryv1.Department{}, recordCreate[*directoryv1.Department]{
		req: req, requestID: req.GetRequestId(),
		parent: org, collection: "/departments/", id: req.GetDepartmentId(),
		check: func(t *txn) (err error) {
			parent, err = departmentOrRoot(t, actor, org, in.GetParentDepartment())
			return err
		},
		build: func(t *txn, name string) *directoryv1.Department {
			return &directoryv1.Department{
				Name:             name,
				DisplayName:      in.GetDisplayName(),
				ParentDepartment: parent,
				CreateTime:       t.Timestamp(),
				UpdateTime:       t.Timestamp(),
			}
		},
		typ: TypeDepartmentCreated,
		message: func(d *directoryv1.Department) string {
			return fmt.Sprintf("Department %s was created.", d.GetDisplayName())
		},
	})
}

// UpdateDepartment renames a department or moves it, with its subtree,
// under another parent (R7). The root cannot be given a parent; a
// department cannot move under itself or a descendant.
func (s *Service) UpdateDepartment(ctx context.Context, actor Actor, req *directoryv1.UpdateDepartmentRequest) (*directoryv1.Department, error) {
	in := req.GetDepartment()
	name := in.GetName()
	org := resourcename.OrganizationOf(name)
	paths := req.GetUpdateMask().GetPaths()
	return updateRecord(ctx, s, actor, &directoryv1.Department{}, recordUpdate[*directoryv1.Department]{
		name: name, etag: in.GetEtag(),
		edit: func(t *txn, cur, next *directoryv1.Department) error {
			if err := applyMask(next, in, paths, departmentMaskFields...); err != nil {
				return err
			}
			if next.GetDisplayName() == "" {
				return fieldError("department.display_name", "display_name is required")
			}
			if !maskHas(paths, "parent_department") {
				return nil
			}
			if cur.GetRoot() {
				if next.GetParentDepartment() != "" {
					return errorf(ErrRootDepartmentImmutable, "the root department %s cannot be given a parent", name)
				}
				return nil
			}
			parent, err := departmentOrRoot(t, actor, org, next.GetParentDepartment())
			if err != nil {
				return err
			}
			next.ParentDepartment = parent
			if parent != cur.GetParentDepartment() {
				return checkDepartmentCycle(t, org, name, parent)
			}
			return nil
		},
		typ: TypeDepartmentUpdated,
		message: func(d *directoryv1.Department) string {
			return fmt.Sprintf("Department %s was updated.", d.GetDisplayName())
		},
	})
}

// checkDepartmentCycle fails with ErrCycle when parent is name or lies
// below it.
func checkDepartmentCycle(tx store.ReadTx, org, name, parent string) error {
	depts, err := orgDepartments(tx, org)
	if err != nil {
		return err
	}
	for p, hops := parent, 0; p != "" && hops <= len(depts); hops++ {
		if p == name {
			return errorf(ErrCycle, "cannot move department %s under itself or one of its descendants (%s)", name, parent)
		}
		d := depts[p]
		if d == nil {
			break
		}
		p = d.GetParentDepartment()
	}
	return nil
}

// DeleteDepartment deletes an empty department (R7): one without users or
// child departments, and not the root.
func (s *Service) DeleteDepartment(ctx context.Context, actor Actor, req *directoryv1.DeleteDepartmentRequest) error {
	name := req.GetName()
	return deleteRecord(ctx, s, actor, name, req.GetEtag(), &directoryv1.Department{}, func(t *txn, d *directoryv1.Department) error {
		if d.GetRoot() {
			return errorf(ErrRootDepartmentImmutable, "the root department %s cannot be deleted", name)
		}
		hasUsers, err := anyKeyUnder(t, departmentIndex+name+"/")
		if err != nil {
			return err
		}
		if hasUsers {
			return errorf(ErrDepartmentNotEmpty, "department %s still has users; move them first", d.GetDisplayName())
		}
		depts, err := orgDepartments(t, resourcename.OrganizationOf(name))
		if err != nil {
			return err
		}
		for _, c := range depts {
			if c.GetParentDepartment() == name {
				return errorf(ErrDepartmentNotEmpty, "department %s still has child departments", d.GetDisplayName())
			}
		}
		return t.remove(d, TypeDepartmentDeleted, fmt.Sprintf("Department %s was deleted.", d.GetDisplayName()))
	})
}
