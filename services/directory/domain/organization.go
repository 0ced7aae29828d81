package domain

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"

	"google.golang.org/protobuf/proto"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/change"
	"steward.dev/pkg/resourcename"
	"steward.dev/pkg/store"
)

// SignUp creates an organization with its owner, the four default groups
// (the owner in Administrators), the root department, a default tenant and
// the local account system (R1). It is rate limited per source address.
func (s *Service) SignUp(ctx context.Context, actor Actor, req *directoryv1.SignUpRequest) (*directoryv1.SignUpResponse, error) {
	if err := s.limits.allowSignUp(actor.SourceAddress, s.clock()); err != nil {
		return nil, err
	}
	hash, err := s.hashPassword(ctx, actor.SourceAddress, req.GetPassword())
	if err != nil {
		return nil, err
	}
	// The request_id record keeps a fast hash of the request: of a copy
	// without the password, which only the memory-hard KDF may see (R10).
	hashed := proto.Clone(req).(*directoryv1.SignUpRequest)
	hashed.Password = ""
	resp := &directoryv1.SignUpResponse{}
	_, err = s.update(ctx, actor, func(t *txn) error {
		_, err := t.idempotent(req.GetRequestId(), hashed, resp, func() error {
			return t.signUp(req, hash, resp)
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

func (t *txn) signUp(req *directoryv1.SignUpRequest, passwordHash string, resp *directoryv1.SignUpResponse) error {
	org := "organizations/" + idOrNew(req.GetOrganizationId())
	if err := mustNotExist(t, org); err != nil {
		return err
	}
	ownerName := org + "/users/" + change.NewID()
	// The organization is created by its future owner: audit says so.
	founder := t.actor
	founder.Name, founder.Organization = ownerName, org
	if founder.DisplayName == "" {
		founder.DisplayName = req.GetNickname()
	}
	t.setActor(founder)

	o := &directoryv1.Organization{
		Name:              org,
		DisplayName:       req.GetOrganizationDisplayName(),
		Owner:             ownerName,
		AccountSystemKind: directoryv1.AccountSystem_KIND_LOCAL,
		CreateTime:        t.Timestamp(),
		UpdateTime:        t.Timestamp(),
	}
	if err := t.put(o); err != nil {
		return err
	}
	if err := t.created(TypeOrganizationCreated, o, fmt.Sprintf("Organization %s was created.", o.GetDisplayName())); err != nil {
		return err
	}
	as := &directoryv1.AccountSystem{Name: org + "/accountSystem", Kind: directoryv1.AccountSystem_KIND_LOCAL, UpdateTime: t.Timestamp()}
	if err := t.put(as); err != nil {
		return err
	}

	root := &directoryv1.Department{Name: org + "/departments/" + RootDepartment, DisplayName: o.GetDisplayName(), Root: true, CreateTime: t.Timestamp(), UpdateTime: t.Timestamp()}
	if err := t.put(root); err != nil {
		return err
	}
	if err := t.created(TypeDepartmentCreated, root, "The root department was created."); err != nil {
		return err
	}

	tenant := &directoryv1.Tenant{Name: org + "/tenants/" + DefaultTenant, DisplayName: "Default", DefaultTenant: true, CreateTime: t.Timestamp(), UpdateTime: t.Timestamp()}
	if err := t.put(tenant); err != nil {
		return err
	}
	if err := t.created(TypeTenantCreated, tenant, "Tenant Default was created."); err != nil {
		return err
	}

	var groups []*directoryv1.Group
	for _, g := range defaultGroups {
		group := &directoryv1.Group{
			Name:         org + "/groups/" + g.id,
			DisplayName:  g.displayName,
			Kind:         directoryv1.Group_KIND_DEFAULT,
			DefaultGroup: g.which,
			CreateTime:   t.Timestamp(),
			UpdateTime:   t.Timestamp(),
		}
		if err := t.put(group); err != nil {
			return err
		}
		if err := t.created(TypeGroupCreated, group, fmt.Sprintf("Group %s was created.", g.displayName)); err != nil {
			return err
		}
		groups = append(groups, group)
	}

	displayName := req.GetDisplayName()
	if displayName == "" {
		displayName = req.GetNickname()
	}
	owner := &directoryv1.User{
		Name:         ownerName,
		Nickname:     req.GetNickname(),
		Email:        req.GetEmail(),
		DisplayName:  displayName,
		Department:   root.GetName(),
		State:        directoryv1.User_STATE_ACTIVE,
		Provisioning: directoryv1.User_PROVISIONING_MANUAL,
		Owner:        true,
		CreateTime:   t.Timestamp(),
		UpdateTime:   t.Timestamp(),
	}
	if err := t.insertUser(owner, userSecrets{PasswordHash: passwordHash}); err != nil {
		return err
	}
	if err := t.created(TypeUserCreated, owner, fmt.Sprintf("User %s was created as the owner of organization %s.", owner.GetNickname(), o.GetDisplayName())); err != nil {
		return err
	}
	if _, err := t.addMember(org+"/groups/"+GroupAdministrators, ownerName); err != nil {
		return err
	}

	resp.Organization = withEtag(o, as)
	resp.Owner = owner
	resp.DefaultTenant = tenant
	resp.RootDepartment = root
	resp.DefaultGroups = groups
	return nil
}

// withEtag sets o's etag to one covering its account system as well, so
// that SwitchAccountSystem can be guarded by the organization's etag (R8),
// and returns o.
func withEtag(o *directoryv1.Organization, as *directoryv1.AccountSystem) *directoryv1.Organization {
	sum := sha256.Sum256([]byte(etagOf(o) + "/" + etagOf(as)))
	o.Etag = base64.RawURLEncoding.EncodeToString(sum[:12])
	return o
}

// organizationEtag is the etag of org's organization and account system.
func organizationEtag(tx store.ReadTx, org string) (*directoryv1.Organization, *directoryv1.AccountSystem, error) {
	o := &directoryv1.Organization{}
	if err := get(tx, org, o); err != nil {
		return nil, nil, err
	}
	as := &directoryv1.AccountSystem{}
	if err := get(tx, org+"/accountSystem", as); err != nil {
		return nil, nil, err
	}
	withEtag(o, as)
	as.Etag = o.GetEtag()
	return o, as, nil
}

// GetOrganization reads an organization.
func (s *Service) GetOrganization(ctx context.Context, actor Actor, name string) (*directoryv1.Organization, error) {
	if err := actor.visible(name); err != nil {
		return nil, err
	}
	var o *directoryv1.Organization
	_, err := s.view(ctx, func(tx store.ReadTx) error {
		var err error
		o, _, err = organizationEtag(tx, name)
		return err
	})
	return o, err
}

// GetAccountSystem reads an organization's account system (R8).
func (s *Service) GetAccountSystem(ctx context.Context, actor Actor, name string) (*directoryv1.AccountSystem, error) {
	if err := actor.visible(name); err != nil {
		return nil, err
	}
	var as *directoryv1.AccountSystem
	_, err := s.view(ctx, func(tx store.ReadTx) error {
		var err error
		_, as, err = organizationEtag(tx, resourcename.OrganizationOf(name))
		return err
	})
	return as, err
}
